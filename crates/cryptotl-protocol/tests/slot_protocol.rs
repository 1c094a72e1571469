//! Slot packing through the facade, in process: client → bytes → server
//! session → bytes → client, exact against the quantized model; hostile key
//! sets and requests are errors while the session keeps working.

use std::sync::OnceLock;

use cryptotl_graph::QuantizedModel;
use cryptotl_he::wire::split_messages;
use cryptotl_he::Preset;
use cryptotl_protocol::synthetic;
use cryptotl_protocol::{classify_slot_messages, SlotLowerClient, SlotServer, MAX_SLOT_SAMPLES};

const D: usize = 24;

fn fixture() -> &'static (QuantizedModel, SlotServer) {
    static S: OnceLock<(QuantizedModel, SlotServer)> = OnceLock::new();
    S.get_or_init(|| {
        let train = synthetic::unit_vectors(300, D, 21);
        let (_, model, _) = synthetic::lower_model(D, &train, Preset::N8192, 21).unwrap();
        let server = SlotServer::plan(&model.graph).unwrap();
        (model, server)
    })
}

fn client() -> SlotLowerClient {
    let (model, server) = fixture();
    SlotLowerClient::new(
        server.card(),
        model.graph.input_dim(),
        model.graph.output_dim(),
    )
    .unwrap()
}

fn messages(bytes: &[u8]) -> Vec<&[u8]> {
    split_messages(bytes)
        .unwrap()
        .into_iter()
        .map(|(_, _, b)| b)
        .collect()
}

#[test]
fn slot_requests_round_trip_exactly() {
    let (model, server) = fixture();
    let client = client();
    let keys = client.key_bytes().unwrap();
    let (is_slot, parts) = classify_slot_messages(&keys, Some(server.fingerprint())).unwrap();
    assert!(is_slot, "slot keys start with the rotation keys");
    let session = server.open_session(&parts).unwrap();
    let xs = synthetic::unit_vectors(3, D, 22);
    let qx: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| model.graph.quantize_input(x).unwrap())
        .collect();
    // One sample per ciphertext, and two side by side (3 samples in 2).
    assert!(server.card().plan.paired.is_some());
    for lanes in [1, 2] {
        let request = client.encrypt(&qx, lanes).unwrap();
        let (is_slot, parts) =
            classify_slot_messages(&request, Some(server.fingerprint())).unwrap();
        assert!(is_slot);
        let response = session.evaluate(&parts).unwrap();
        assert_eq!(
            client.decrypt(&response).unwrap(),
            model.graph.evaluate_integer_batch(&qx).unwrap(),
            "{lanes} lane(s)"
        );
    }
    // The card lists exactly the rotations the layouts use.
    assert_eq!(server.card().rotations, server.card().plan.rotations());
    // A card whose two-lane layout is not the one the dimensions imply (or
    // is a second one-lane layout) is refused.
    let (d, o) = (model.graph.input_dim(), model.graph.output_dim());
    for tamper in [
        |l: &mut cryptotl_graph::SlotLayout| l.first_diagonals += 1,
        |l: &mut cryptotl_graph::SlotLayout| l.lanes = 1,
    ] {
        let mut card = server.card().clone();
        tamper(card.plan.paired.as_mut().unwrap());
        assert!(SlotLowerClient::new(&card, d, o).is_err());
    }
}

#[test]
fn hostile_slot_keys_and_requests_are_refused() {
    let (model, server) = fixture();
    let client = client();
    let keys = client.key_bytes().unwrap();
    let parts = messages(&keys);
    // Missing a pipeline's relinearization key, or an extra message.
    assert!(server.open_session(&parts[..parts.len() - 1]).is_err());
    let mut extra = parts.clone();
    extra.push(parts[1]);
    assert!(server.open_session(&extra).is_err());
    // Keys of another client's parameters in the wrong order.
    let mut swapped = parts.clone();
    swapped.swap(1, 2);
    assert!(server.open_session(&swapped).is_err());
    // Truncated rotation keys.
    let truncated = &parts[0][..parts[0].len() / 2];
    let mut cut = parts.clone();
    cut[0] = truncated;
    assert!(server.open_session(&cut).is_err());

    let session = server.open_session(&parts).unwrap();
    let x = model
        .graph
        .quantize_input(&synthetic::unit_vectors(1, D, 23)[0])
        .unwrap();
    let request = client.encrypt(std::slice::from_ref(&x), 1).unwrap();
    let req = messages(&request);
    // Too few batches, a truncated batch, garbage.
    assert!(session.evaluate(&req[..1]).is_err());
    let mut bad = req.clone();
    let short = &req[1][..req[1].len() - 3];
    bad[1] = short;
    assert!(session.evaluate(&bad).is_err());
    assert!(classify_slot_messages(b"not a message", Some(server.fingerprint())).is_err());
    // Too many samples is refused by the client before anything is sent.
    assert!(client
        .encrypt(&vec![x.clone(); MAX_SLOT_SAMPLES + 1], 2)
        .is_err());
    // The session still works.
    let response = session.evaluate(&req).unwrap();
    assert_eq!(
        client.decrypt(&response).unwrap()[0],
        model.graph.evaluate_integer(&x).unwrap()
    );
}

/// The full client path: a server offering both packings, a client with
/// `auto` — one sample goes slot-packed, many go batch-packed; both exact.
#[test]
fn auto_packing_picks_slots_for_one_sample_and_batches_for_many() {
    use cryptotl_graph::{Packing, PackingChoice};
    use cryptotl_protocol::{encrypted_features, LowerClient, LowerServer};
    let (model, _) = fixture();
    let server = LowerServer::new(model.clone())
        .unwrap()
        .with_slot_packing()
        .unwrap();
    assert!(server.card().slots.is_some());
    let client = LowerClient::new(server.card())
        .unwrap()
        .with_packing(PackingChoice::Auto)
        .unwrap();
    let session = server
        .open_session(&client.evaluation_key_bytes().unwrap())
        .unwrap();
    assert!(session.has_slot_keys());
    // (At this small d the two-lane layout is the cheaper one even for a
    // single sample: it skips the row swaps and has as few diagonals.)
    for (n, expected, lanes) in [
        (1, Packing::Slots, Some(2)),
        (3, Packing::Slots, Some(2)),
        (300, Packing::Batch, None),
    ] {
        let xs = synthetic::unit_vectors(n, D, 30 + n as u64);
        let (features, stats) = encrypted_features(&client, &session, &xs, &mut |_, _| {}).unwrap();
        let decision = stats.packing.unwrap();
        let used_lanes = (decision.packing == Packing::Slots).then_some(decision.slot_lanes);
        assert_eq!(
            (decision.packing, used_lanes),
            (expected, lanes),
            "{n} samples"
        );
        let qx: Vec<Vec<i64>> = xs
            .iter()
            .map(|x| model.graph.quantize_input(x).unwrap())
            .collect();
        assert_eq!(features, model.graph.evaluate_integer_batch(&qx).unwrap());
    }
    // A batch-only client in the same server still works, and cannot send
    // slot requests to a session without slot keys.
    let batch_client = LowerClient::new(server.card()).unwrap();
    let batch_session = server
        .open_session(&batch_client.evaluation_key_bytes().unwrap())
        .unwrap();
    assert!(!batch_session.has_slot_keys());
    let slot_request = client
        .slot_client()
        .unwrap()
        .encrypt(
            &[model
                .graph
                .quantize_input(&synthetic::unit_vectors(1, D, 5)[0])
                .unwrap()],
            1,
        )
        .unwrap();
    assert!(batch_session.evaluate(&slot_request).is_err());
    // Slot keys for a server without slot packing are refused.
    let plain = LowerServer::new(model.clone()).unwrap();
    assert!(plain
        .open_session(&client.evaluation_key_bytes().unwrap())
        .is_err());
    // `slots` against a card without slot packing is a clear error.
    assert!(LowerClient::new(plain.card())
        .unwrap()
        .with_packing(PackingChoice::Fixed(Packing::Slots))
        .is_err());
}
