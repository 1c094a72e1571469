//! Versioned binary format for ciphertext batches and evaluation keys.
//!
//! Every message starts with a fixed 32-byte header:
//!
//! | bytes  | field                                               |
//! |--------|-----------------------------------------------------|
//! | 0..4   | magic `CTHE`                                        |
//! | 4..6   | format version, u16 little-endian (currently 1)     |
//! | 6      | kind: 1 = ciphertext batch, 2 = evaluation keys, 3 = public key, 4 = rotation keys |
//! | 7      | reserved, 0                                         |
//! | 8..24  | parameter fingerprint ([`crate::Fingerprint`]) |
//! | 24..32 | body length in bytes, u64 little-endian             |
//!
//! A **ciphertext batch** body is `samples: u32, count: u32, level: u8,
//! 3 reserved bytes`, then `count` ciphertexts. Each ciphertext is a tag byte
//! (0 = both parts stored, 1 = seeded: part 1 is regenerated from a 32-byte
//! seed, as in fresh secret-key encryptions, halving uploads), the seed if
//! any, then the stored parts. A part is, for each modulus `q_m` of the level,
//! `N` NTT-domain coefficients packed little-endian on `bitlen(q_m)` bits.
//!
//! **Evaluation keys** carry fhe.rs's relinearization-key encoding as the
//! body; it is structurally validated (levels, counts, degrees, lengths,
//! representations and every coefficient `< q`) before fhe.rs parses it.
//! When the client attached its public key
//! ([`EvaluationKeys::with_public_key`]), the evaluation-keys message is
//! followed by a **public key** message (kind 3) in the same byte string;
//! its body is fhe.rs's public-key encoding (a level-0 ciphertext, seeded or
//! not), validated the same way. Readers that expect no public key see the
//! same first message as before.
//!
//! **Rotation keys** (kind 4) are `count: u32`, then per key a rotation tag
//! (`kind: u8` — 1 = column rotation, 2 = row swap — and `step: u32`), the
//! length `u32` of fhe.rs's Galois-key encoding and that encoding (one seeded
//! key-switching component per modulus); each is validated like the
//! evaluation keys, and its Galois exponent must match the announced
//! rotation.
//!
//! Decoding never panics: truncated, oversized, garbled or foreign-parameter
//! input gives a [`HeError`]. Integrity against tampering is the transport's
//! job (TLS); a well-formed but altered ciphertext decrypts to garbage.

use fhe::bfv::{Ciphertext, RelinearizationKey};
use fhe_math::rq::{traits::TryConvertFrom, Poly, Representation};
use fhe_traits::{DeserializeParametrized, Serialize as FheSerialize};
use ndarray::Array2;
use prost::Message;
use rayon::prelude::*;

use crate::batch::EncryptedBatch;
use crate::error::{HeError, Result};
use crate::keys::{EvaluationKeys, PublicKey};
use crate::params::{bit_length, Fingerprint, HeParameters};
use crate::slots::{Rotation, RotationKeys, MAX_ROTATION_KEYS};

/// Magic bytes at the start of every message.
pub const MAGIC: [u8; 4] = *b"CTHE";
/// Current format version.
pub const VERSION: u16 = 1;
/// Header size in bytes.
pub const HEADER_LEN: usize = 32;
const SEED_LEN: usize = 32;
/// Fixed prefix of a ciphertext batch body: `samples: u32, count: u32,
/// level: u8`, 3 reserved bytes.
const BATCH_PREFIX_LEN: usize = 12;

/// What a message holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An [`EncryptedBatch`].
    CiphertextBatch = 1,
    /// [`EvaluationKeys`].
    EvaluationKeys = 2,
    /// A [`PublicKey`].
    PublicKey = 3,
    /// [`RotationKeys`] (Galois keys for slot packing).
    RotationKeys = 4,
}

/// Reads the header of a message: checks magic, version, kind, fingerprint
/// and that the body length matches exactly. Returns the body.
pub fn read_header<'a>(bytes: &'a [u8], params: &HeParameters, kind: Kind) -> Result<&'a [u8]> {
    if bytes.len() < HEADER_LEN {
        return Err(HeError::Malformed(format!(
            "{} bytes is shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        )));
    }
    if bytes[0..4] != MAGIC {
        return Err(HeError::Malformed(
            "not a cryptotl HE message (bad magic)".into(),
        ));
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(HeError::Malformed(format!(
            "format version {version} is not supported (expected {VERSION})"
        )));
    }
    if bytes[6] != kind as u8 {
        return Err(HeError::Malformed(format!(
            "message kind {} where {:?} ({}) was expected",
            bytes[6], kind, kind as u8
        )));
    }
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&bytes[8..24]);
    let found = Fingerprint(fp);
    if found != params.fingerprint() {
        return Err(HeError::ForeignParameters {
            found: found.to_string(),
            expected: params.fingerprint().to_string(),
        });
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[24..32]);
    let body_len = u64::from_le_bytes(len);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if body_len != actual {
        return Err(HeError::Malformed(format!(
            "header announces {body_len} body bytes but {actual} are present"
        )));
    }
    Ok(&bytes[HEADER_LEN..])
}

/// The kind, parameter fingerprint and total length (header + body) of the
/// first message in `bytes`, without checking it against any parameters:
/// for routing a byte string that holds several messages. The message itself
/// must still be parsed with its `from_bytes`.
///
/// # Errors
/// [`HeError::Malformed`] for a short or foreign header, an unknown kind, or
/// a body length beyond the bytes present.
pub fn peek_header(bytes: &[u8]) -> Result<(Kind, Fingerprint, usize)> {
    if bytes.len() < HEADER_LEN || bytes[0..4] != MAGIC {
        return Err(HeError::Malformed(
            "not a cryptotl HE message (short or bad magic)".into(),
        ));
    }
    let kind = match bytes[6] {
        1 => Kind::CiphertextBatch,
        2 => Kind::EvaluationKeys,
        3 => Kind::PublicKey,
        4 => Kind::RotationKeys,
        k => return Err(HeError::Malformed(format!("unknown message kind {k}"))),
    };
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&bytes[8..24]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[24..32]);
    let total = usize::try_from(u64::from_le_bytes(len))
        .ok()
        .and_then(|b| b.checked_add(HEADER_LEN))
        .filter(|t| *t <= bytes.len())
        .ok_or_else(|| HeError::Malformed("message body runs past the end".into()))?;
    Ok((kind, Fingerprint(fp), total))
}

/// Splits a byte string holding several messages back to back.
///
/// # Errors
/// As [`peek_header`], for any of the messages.
pub fn split_messages(mut bytes: &[u8]) -> Result<Vec<(Kind, Fingerprint, &[u8])>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let (kind, fp, total) = peek_header(bytes)?;
        let (head, tail) = bytes.split_at(total);
        out.push((kind, fp, head));
        bytes = tail;
    }
    Ok(out)
}

fn write_header(out: &mut Vec<u8>, params: &HeParameters, kind: Kind, body_len: usize) {
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.push(kind as u8);
    out.push(0);
    out.extend_from_slice(&params.fingerprint().0);
    out.extend_from_slice(&(body_len as u64).to_le_bytes());
}

/// Packs values of at most `bits` bits, little-endian, least significant bit first.
fn pack_into(values: &[u64], bits: u32, out: &mut Vec<u8>) {
    let mut acc: u128 = 0;
    let mut filled: u32 = 0;
    for &v in values {
        acc |= (v as u128) << filled;
        filled += bits;
        while filled >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            filled -= 8;
        }
    }
    if filled > 0 {
        out.push(acc as u8);
    }
}

/// Number of bytes `count` values of `bits` bits pack into.
fn packed_len(count: usize, bits: u32) -> usize {
    (count * bits as usize).div_ceil(8)
}

/// Unpacks `count` values of `bits` bits and checks each is `< modulus`.
fn unpack_checked(bytes: &[u8], bits: u32, count: usize, modulus: u64) -> Result<Vec<u64>> {
    if bytes.len() != packed_len(count, bits) {
        return Err(HeError::Malformed(
            "coefficient block has the wrong length".into(),
        ));
    }
    let mask: u128 = (1u128 << bits) - 1;
    let mut out = Vec::with_capacity(count);
    let mut acc: u128 = 0;
    let mut filled: u32 = 0;
    let mut it = bytes.iter();
    for _ in 0..count {
        while filled < bits {
            let b = it
                .next()
                .ok_or_else(|| HeError::Malformed("coefficient block is truncated".into()))?;
            acc |= (*b as u128) << filled;
            filled += 8;
        }
        let v = (acc & mask) as u64;
        acc >>= bits;
        filled -= bits;
        if v >= modulus {
            return Err(HeError::Malformed(
                "coefficient out of range for its modulus".into(),
            ));
        }
        out.push(v);
    }
    Ok(out)
}

/// A little cursor over a byte slice whose reads fail instead of panicking.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(HeError::Malformed(format!(
                "message truncated: needed {n} more bytes, {} left",
                self.bytes.len()
            )));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl EncryptedBatch {
    /// Serializes the batch (header + body). Fresh encryptions are written
    /// seeded (half size). Equals [`EncryptedBatch::serialized_prefix`]
    /// followed by [`EncryptedBatch::serialized_ciphertext`] of every
    /// ciphertext in order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let encoded: Vec<Vec<u8>> = (0..self.ciphertexts.len())
            .into_par_iter()
            .map(|i| self.encode_ciphertext(i))
            .collect();
        let mut out = self.serialized_prefix();
        out.reserve_exact(encoded.iter().map(Vec::len).sum());
        for e in encoded {
            out.extend_from_slice(&e);
        }
        out
    }

    /// Length in bytes of [`EncryptedBatch::to_bytes`], computed without
    /// serializing.
    pub fn serialized_len(&self) -> usize {
        HEADER_LEN + BATCH_PREFIX_LEN + self.ciphertexts.len() * self.encoded_ciphertext_len()
    }

    /// The first bytes of [`EncryptedBatch::to_bytes`]: the wire header
    /// (which announces the whole body's length) and the batch prefix
    /// (`samples`, `count`, `level`, reserved). For writing a batch
    /// incrementally, one ciphertext at a time, without holding the whole
    /// serialization in memory.
    pub fn serialized_prefix(&self) -> Vec<u8> {
        let body_len = self.serialized_len() - HEADER_LEN;
        let mut out = Vec::with_capacity(HEADER_LEN + BATCH_PREFIX_LEN);
        write_header(&mut out, &self.params, Kind::CiphertextBatch, body_len);
        out.extend_from_slice(&(self.samples as u32).to_le_bytes());
        out.extend_from_slice(&(self.ciphertexts.len() as u32).to_le_bytes());
        out.push(self.level as u8);
        out.extend_from_slice(&[0, 0, 0]);
        out
    }

    /// The bytes of ciphertext `index` exactly as they follow the prefix in
    /// [`EncryptedBatch::to_bytes`]; `None` past the last ciphertext.
    pub fn serialized_ciphertext(&self, index: usize) -> Option<Vec<u8>> {
        (index < self.ciphertexts.len()).then(|| self.encode_ciphertext(index))
    }

    /// Encoded size of one ciphertext of this batch (all have the same).
    fn encoded_ciphertext_len(&self) -> usize {
        let n = self.params.degree();
        let part_len: usize = self
            .level_moduli()
            .iter()
            .map(|q| packed_len(n, bit_length(*q)))
            .sum();
        match &self.seeds {
            Some(_) => 1 + SEED_LEN + part_len,
            None => 1 + 2 * part_len,
        }
    }

    /// The moduli of the batch's level.
    fn level_moduli(&self) -> &[u64] {
        let moduli = self.params.moduli();
        &moduli[..moduli.len() - self.level]
    }

    /// Encodes ciphertext `i` (which must exist).
    fn encode_ciphertext(&self, i: usize) -> Vec<u8> {
        let moduli = self.level_moduli();
        let seed = self.seeds.as_ref().map(|s| s[i]);
        let stored = if seed.is_some() { 1 } else { 2 };
        let mut out = Vec::with_capacity(self.encoded_ciphertext_len());
        match &seed {
            Some(s) => {
                out.push(1);
                out.extend_from_slice(s);
            }
            None => out.push(0),
        }
        for poly in self.ciphertexts[i].iter().take(stored) {
            for (row, q) in poly.coefficients().rows().into_iter().zip(moduli) {
                let values: Vec<u64> = row.iter().copied().collect();
                pack_into(&values, bit_length(*q), &mut out);
            }
        }
        out
    }

    /// Parses a batch serialized under `params`, validating everything;
    /// refuses batches with more than `max_ciphertexts` ciphertexts.
    #[allow(unsafe_code)] // variable-time arithmetic on public `c1`; see the SAFETY comment
    pub fn from_bytes(bytes: &[u8], params: &HeParameters, max_ciphertexts: usize) -> Result<Self> {
        let body = read_header(bytes, params, Kind::CiphertextBatch)?;
        let mut r = Reader { bytes: body };
        let samples = r.u32()? as usize;
        let count = r.u32()? as usize;
        let level = r.u8()? as usize;
        r.take(3)?;
        let n = params.degree();
        if samples == 0 || samples > n {
            return Err(HeError::Malformed(format!(
                "batch announces {samples} samples; 1..={n} allowed"
            )));
        }
        if count == 0 || count > max_ciphertexts {
            return Err(HeError::Malformed(format!(
                "batch announces {count} ciphertexts; 1..={max_ciphertexts} allowed"
            )));
        }
        if level > params.max_level() {
            return Err(HeError::Malformed(format!(
                "level {level} exceeds the deepest level {}",
                params.max_level()
            )));
        }
        let ctx = params.bfv().context_at_level(level)?.clone();
        let moduli: Vec<u64> = ctx.moduli().to_vec();
        let part_len: usize = moduli.iter().map(|q| packed_len(n, bit_length(*q))).sum();
        // Slice out every ciphertext first (cheap, sequential), then decode in parallel.
        let mut raw: Vec<(Option<[u8; SEED_LEN]>, &[u8])> = Vec::with_capacity(count);
        for i in 0..count {
            let tag = r.u8()?;
            let seed = match tag {
                0 => None,
                1 => {
                    let mut s = [0u8; SEED_LEN];
                    s.copy_from_slice(r.take(SEED_LEN)?);
                    Some(s)
                }
                other => {
                    return Err(HeError::Malformed(format!(
                        "ciphertext {i} has unknown tag {other}"
                    )))
                }
            };
            if seed.is_some() && level != 0 {
                return Err(HeError::Malformed(
                    "seeded ciphertexts exist only at the fresh level".into(),
                ));
            }
            let stored = if seed.is_some() { 1 } else { 2 };
            raw.push((seed, r.take(stored * part_len)?));
        }
        if !r.bytes.is_empty() {
            return Err(HeError::Malformed(format!(
                "{} trailing bytes after the last ciphertext",
                r.bytes.len()
            )));
        }
        let seeds: Option<Vec<[u8; SEED_LEN]>> = raw.iter().map(|(s, _)| *s).collect();
        let ciphertexts = raw
            .into_par_iter()
            .map(|(seed, data)| {
                let mut polys = Vec::with_capacity(2);
                let stored = if seed.is_some() { 1 } else { 2 };
                let mut off = 0;
                for _ in 0..stored {
                    let mut a = Array2::<u64>::zeros((moduli.len(), n));
                    for (m, q) in moduli.iter().enumerate() {
                        let len = packed_len(n, bit_length(*q));
                        let values = unpack_checked(&data[off..off + len], bit_length(*q), n, *q)?;
                        off += len;
                        for (dst, v) in a.row_mut(m).iter_mut().zip(values) {
                            *dst = v;
                        }
                    }
                    polys.push(Poly::try_convert_from(a, &ctx, true, Representation::Ntt)?);
                }
                if let Some(seed) = seed {
                    let mut c1 = Poly::random_from_seed(&ctx, Representation::Ntt, seed);
                    // SAFETY: c1 is public randomness; variable-time arithmetic
                    // on it leaks nothing (fhe.rs does the same on decode).
                    unsafe { c1.allow_variable_time_computations() };
                    polys.push(c1);
                }
                Ok(Ciphertext::new(polys, params.bfv())?)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut batch = EncryptedBatch::new(params, ciphertexts, samples, level);
        batch.seeds = seeds;
        Ok(batch)
    }
}

/// Mirror of fhe-math's (private) polynomial protobuf message, used to
/// validate evaluation keys before fhe.rs parses them.
#[derive(Clone, PartialEq, Message)]
struct RqMirror {
    #[prost(int32, tag = "1")]
    representation: i32,
    #[prost(uint32, tag = "2")]
    degree: u32,
    #[prost(bytes = "vec", tag = "3")]
    coefficients: Vec<u8>,
    #[prost(bool, tag = "4")]
    allow_variable_time: bool,
}

/// fhe-math's protobuf value for the NTT-Shoup representation of key polynomials.
const REPRESENTATION_NTT_SHOUP: i32 = 3;

/// Splits `bytes` after its first message (as announced by the header's body
/// length); the first part is returned whole when the header is short or
/// announces more bytes than present (then [`read_header`] reports it).
fn split_first_message(bytes: &[u8]) -> (&[u8], &[u8]) {
    if bytes.len() < HEADER_LEN {
        return (bytes, &[]);
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[24..32]);
    let body = u64::from_le_bytes(len);
    match usize::try_from(body)
        .ok()
        .and_then(|b| b.checked_add(HEADER_LEN))
    {
        Some(end) if end <= bytes.len() => bytes.split_at(end),
        _ => (bytes, &[]),
    }
}

/// Checks one serialized fhe-math polynomial: decodes, has degree `N`, the
/// `representation`, and every coefficient below its modulus at level 0.
fn check_poly(bytes: &[u8], params: &HeParameters, representation: i32) -> Result<()> {
    let rq = RqMirror::decode(bytes)
        .map_err(|_| HeError::Malformed("key polynomial does not decode".into()))?;
    let n = params.degree();
    if rq.degree as usize != n || rq.representation != representation {
        return Err(HeError::Malformed(
            "key polynomial has a foreign degree or representation".into(),
        ));
    }
    let expected: usize = params
        .moduli()
        .iter()
        .map(|q| packed_len(n, bit_length(*q)))
        .sum();
    if rq.coefficients.len() != expected {
        return Err(HeError::Malformed(
            "key polynomial has the wrong size".into(),
        ));
    }
    let mut off = 0;
    for q in params.moduli() {
        let len = packed_len(n, bit_length(*q));
        unpack_checked(&rq.coefficients[off..off + len], bit_length(*q), n, *q)?;
        off += len;
    }
    Ok(())
}

/// fhe-math's protobuf value for the NTT representation.
const REPRESENTATION_NTT: i32 = 2;

/// Checks one serialized key polynomial (NTT-Shoup form, level 0).
pub(crate) fn check_key_poly(bytes: &[u8], params: &HeParameters) -> Result<()> {
    check_poly(bytes, params, REPRESENTATION_NTT_SHOUP)
}

impl PublicKey {
    /// Serializes the public key (header + body).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.key.to_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        write_header(&mut out, &self.params, Kind::PublicKey, body.len());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a public key serialized under `params`, validating its
    /// structure (level 0, one stored part plus a 32-byte seed or two stored
    /// parts, degrees, representations, every coefficient `< q`) before
    /// handing it to fhe.rs.
    pub fn from_bytes(bytes: &[u8], params: &HeParameters) -> Result<Self> {
        let body = read_header(bytes, params, Kind::PublicKey)?;
        let proto = fhe::proto::bfv::PublicKey::decode(body)
            .map_err(|_| HeError::Malformed("public key does not decode".into()))?;
        let ct = proto
            .c
            .as_ref()
            .ok_or_else(|| HeError::Malformed("public key holds no ciphertext".into()))?;
        if ct.level != 0 {
            return Err(HeError::Malformed("public key is not at level 0".into()));
        }
        match (ct.c.len(), ct.seed.len()) {
            (1, SEED_LEN) | (2, 0) => {}
            _ => return Err(HeError::Malformed("public key has a bad shape".into())),
        }
        for p in &ct.c {
            check_poly(p, params, REPRESENTATION_NTT)?;
        }
        let key = fhe::bfv::PublicKey::from_bytes(body, params.bfv())?;
        Ok(PublicKey {
            params: params.clone(),
            key,
        })
    }
}

impl EvaluationKeys {
    /// Serializes the evaluation keys (header + body), followed by the
    /// public-key message when one is attached.
    pub fn to_bytes(&self) -> Vec<u8> {
        let body = self.relin.to_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        write_header(&mut out, &self.params, Kind::EvaluationKeys, body.len());
        out.extend_from_slice(&body);
        if let Some(pk) = &self.public {
            out.extend_from_slice(&pk.to_bytes());
        }
        out
    }

    /// Parses evaluation keys serialized under `params`, validating their
    /// structure and every coefficient before handing them to fhe.rs; bytes
    /// after the first message must be a valid public-key message.
    pub fn from_bytes(bytes: &[u8], params: &HeParameters) -> Result<Self> {
        let (bytes, rest) = split_first_message(bytes);
        let public = if rest.is_empty() {
            None
        } else {
            Some(PublicKey::from_bytes(rest, params)?)
        };
        let body = read_header(bytes, params, Kind::EvaluationKeys)?;
        let proto = fhe::proto::bfv::RelinearizationKey::decode(body)
            .map_err(|_| HeError::Malformed("evaluation keys do not decode".into()))?;
        let ksk = proto
            .ksk
            .as_ref()
            .ok_or_else(|| HeError::Malformed("evaluation keys hold no key".into()))?;
        if ksk.ciphertext_level != 0 || ksk.ksk_level != 0 || ksk.log_base != 0 {
            return Err(HeError::Malformed(
                "relinearization key for an unsupported level or decomposition".into(),
            ));
        }
        let l = params.moduli().len();
        let seeded = match (ksk.c1.len(), ksk.seed.len()) {
            (0, SEED_LEN) => true,
            (c, 0) if c == l => false,
            _ => {
                return Err(HeError::Malformed(
                    "relinearization key has a bad shape".into(),
                ))
            }
        };
        if ksk.c0.len() != l {
            return Err(HeError::Malformed(format!(
                "relinearization key has {} components, expected {l}",
                ksk.c0.len()
            )));
        }
        let polys = ksk
            .c0
            .iter()
            .chain(if seeded { [].iter() } else { ksk.c1.iter() });
        for p in polys {
            check_poly(p, params, REPRESENTATION_NTT_SHOUP)?;
        }
        let relin = RelinearizationKey::from_bytes(body, params.bfv())?;
        Ok(EvaluationKeys {
            params: params.clone(),
            relin,
            public,
        })
    }
}

impl RotationKeys {
    /// Serializes the keys (header + body, see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let encoded: Vec<(Rotation, Vec<u8>)> = self
            .keys
            .par_iter()
            .map(|(r, k)| (*r, k.encode(&self.params, *r)))
            .collect();
        let total: usize = encoded.iter().map(|(_, b)| b.len() + 9).sum();
        let mut body = Vec::with_capacity(4 + total);
        body.extend_from_slice(&(encoded.len() as u32).to_le_bytes());
        for (r, bytes) in &encoded {
            let (kind, step) = r.tag();
            body.push(kind);
            body.extend_from_slice(&step.to_le_bytes());
            body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
            body.extend_from_slice(bytes);
        }
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        write_header(&mut out, &self.params, Kind::RotationKeys, body.len());
        out.extend_from_slice(&body);
        out
    }

    /// Parses rotation keys serialized under `params` (any member of the
    /// CRT family the keys are for), validating every key. At most
    /// `max_keys` (and never more than 512) keys are accepted.
    pub fn from_bytes(bytes: &[u8], params: &HeParameters, max_keys: usize) -> Result<Self> {
        let body = read_header(bytes, params, Kind::RotationKeys)?;
        let mut r = Reader { bytes: body };
        let count = r.u32()? as usize;
        if count == 0 || count > max_keys.min(MAX_ROTATION_KEYS) {
            return Err(HeError::Malformed(format!(
                "{count} rotation keys; between 1 and {} accepted",
                max_keys.min(MAX_ROTATION_KEYS)
            )));
        }
        let mut raw = Vec::with_capacity(count);
        for _ in 0..count {
            let kind = r.u8()?;
            let step = r.u32()?;
            let rotation = Rotation::from_tag(kind, step)?;
            let len = r.u32()? as usize;
            if raw.iter().any(|(q, _)| *q == rotation) {
                return Err(HeError::Malformed(format!(
                    "rotation {rotation:?} repeated"
                )));
            }
            raw.push((rotation, r.take(len)?));
        }
        if !r.bytes.is_empty() {
            return Err(HeError::Malformed(format!(
                "{} trailing bytes after the last rotation key",
                r.bytes.len()
            )));
        }
        let keys = raw
            .into_par_iter()
            .map(|(rotation, data)| {
                let key = RotationKeys::parse_key(params, rotation, data)?;
                Ok((rotation, std::sync::Arc::new(key)))
            })
            .collect::<Result<std::collections::BTreeMap<_, _>>>()?;
        Ok(RotationKeys {
            params: params.clone(),
            keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn packing_round_trips(bits in 10u32..=62, values in proptest::collection::vec(any::<u64>(), 0..40)) {
            let modulus = 1u64 << bits;
            let values: Vec<u64> = values.into_iter().map(|v| v % modulus).collect();
            let mut out = Vec::new();
            pack_into(&values, bits, &mut out);
            prop_assert_eq!(out.len(), packed_len(values.len(), bits));
            let back = unpack_checked(&out, bits, values.len(), modulus).unwrap();
            prop_assert_eq!(back, values);
        }
    }

    #[test]
    fn out_of_range_coefficients_are_refused() {
        let mut out = Vec::new();
        pack_into(&[5, 17], 5, &mut out);
        assert!(unpack_checked(&out, 5, 2, 17).is_err());
        assert!(unpack_checked(&out, 5, 2, 18).is_ok());
        assert!(unpack_checked(&out[..1], 5, 2, 18).is_err());
    }
}
