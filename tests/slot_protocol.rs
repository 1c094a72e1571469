//! Slot packing through the facade, in process: client → bytes → server
//! session → bytes → client, exact against the quantized model; hostile key
//! sets and requests are errors while the session keeps working.

use std::sync::OnceLock;

use cryptotl::graph::QuantizedModel;
use cryptotl::he::wire::split_messages;
use cryptotl::he::Preset;
use cryptotl::slots::{classify, SlotLowerClient, SlotServer, MAX_SLOT_SAMPLES};
use cryptotl::synthetic;

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
    let (is_slot, parts) = classify(&keys, Some(server.card())).unwrap();
    assert!(is_slot, "slot keys start with the rotation keys");
    let session = server.open_session(&parts).unwrap();
    let xs = synthetic::unit_vectors(3, D, 22);
    let qx: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| model.graph.quantize_input(x).unwrap())
        .collect();
    let request = client.encrypt(&qx).unwrap();
    let (is_slot, parts) = classify(&request, Some(server.card())).unwrap();
    assert!(is_slot);
    let response = session.evaluate(&parts).unwrap();
    assert_eq!(
        client.decrypt(&response).unwrap(),
        model.graph.evaluate_integer_batch(&qx).unwrap()
    );
    // The card lists exactly the rotations the layout uses.
    assert_eq!(
        server.card().rotations,
        server.card().plan.layout.rotations()
    );
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
    let request = client.encrypt(std::slice::from_ref(&x)).unwrap();
    let req = messages(&request);
    // Too few batches, a truncated batch, garbage.
    assert!(session.evaluate(&req[..1]).is_err());
    let mut bad = req.clone();
    let short = &req[1][..req[1].len() - 3];
    bad[1] = short;
    assert!(session.evaluate(&bad).is_err());
    assert!(classify(b"not a message", Some(server.card())).is_err());
    // Too many samples is refused by the client before anything is sent.
    assert!(client
        .encrypt(&vec![x.clone(); MAX_SLOT_SAMPLES + 1])
        .is_err());
    // The session still works.
    let response = session.evaluate(&req).unwrap();
    assert_eq!(
        client.decrypt(&response).unwrap()[0],
        model.graph.evaluate_integer(&x).unwrap()
    );
}
