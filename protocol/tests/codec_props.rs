//! Property tests for the codec: round trips, and arbitrary bytes never panic.

#![allow(clippy::unwrap_used)]

use credex_protocol::codec::{FRAME_HEADER_LEN, decode_untrusted_requests};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, QueryRequest, SignedSubjectAuthorization, SignerProof,
    SubjectAuthorization, SubjectPseudonym, SubjectRef,
};
use credex_protocol::{
    Capability, ErrorCode, ErrorReply, FrameDecoder, FrameError, FrameLimit, Hello, NodeName, Ping,
    Pong, QueryRequestRef, RegionCode, Request, Response, decode, encode, encode_frame,
    encoded_len, encoding_sha256, payload_len,
};
use credex_protocol::{Signature, SignatureAlgorithm};
use proptest::prelude::*;

fn region() -> impl Strategy<Value = RegionCode> {
    prop_oneof![
        Just(0u32),
        (11u32..=82, 0u32..10_000).prop_map(|(p, r)| p * 10_000 + r)
    ]
    .prop_map(|c| RegionCode::from_u32(c).expect("generated codes are valid"))
}

fn node_name() -> impl Strategy<Value = NodeName> {
    "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?".prop_map(|s| s.parse().expect("regex matches the rule"))
}

fn capability() -> impl Strategy<Value = Capability> {
    prop_oneof![
        Just(Capability::Query),
        Just(Capability::Witness),
        Just(Capability::Recognition),
        Just(Capability::JointLists),
        Just(Capability::UpwardReceiver),
        ".{0,20}".prop_map(Capability::Other),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    (
        any::<u16>(),
        region(),
        node_name(),
        prop::collection::vec(capability(), 0..8),
        ".{0,40}",
    )
        .prop_map(
            |(protocol_version, region, node, capabilities, software)| Hello {
                protocol_version,
                region,
                node,
                capabilities,
                software,
            },
        )
}

fn code() -> impl Strategy<Value = String> {
    "[a-z_]{1,20}"
}

fn category_fields() -> impl Strategy<Value = Vec<CategoryFields>> {
    prop::collection::vec(
        (code(), prop::collection::vec(code(), 0..6))
            .prop_map(|(category, fields)| CategoryFields { category, fields }),
        0..4,
    )
}

fn subject() -> impl Strategy<Value = SubjectRef> {
    prop_oneof![
        "[0-9A-Y]{18}".prop_map(SubjectRef::LegalPerson),
        (any::<u32>(), any::<[u8; 32]>())
            .prop_map(|(epoch, mac)| SubjectRef::NaturalPerson(SubjectPseudonym { epoch, mac })),
    ]
}

fn signer() -> impl Strategy<Value = SignerProof> {
    (
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..64), 1..3),
        prop::collection::vec(any::<u8>(), 64..65),
        any::<bool>(),
    )
        .prop_map(|(chain, bytes, ed)| SignerProof {
            chain,
            signature: Signature {
                algorithm: if ed {
                    SignatureAlgorithm::Ed25519
                } else {
                    SignatureAlgorithm::EcdsaP256Sha256
                },
                bytes,
            },
        })
}

fn query() -> impl Strategy<Value = AuthorizedQuery> {
    (
        (
            any::<[u8; 16]>(),
            region(),
            node_name(),
            region(),
            subject(),
            code(),
        ),
        (
            category_fields(),
            prop::option::of(code()),
            any::<[u8; 16]>(),
            any::<i64>(),
        ),
        (signer(), signer()),
        prop::option::of((
            subject(),
            region(),
            prop::collection::vec(code(), 0..3),
            signer(),
            any::<u32>(),
        )),
    )
        .prop_map(
            |(
                (id, rr, rn, tr, subject, purpose),
                (requested, legal_basis, nonce, at),
                (requester, approver),
                auth,
            )| {
                AuthorizedQuery {
                    request: QueryRequest {
                        request_id: id,
                        requester_region: rr,
                        requester_node: rn,
                        target_region: tr,
                        subject,
                        purpose,
                        requested,
                        legal_basis,
                        subject_authorization_digest: (nonce[0] % 2 == 0).then_some([nonce[1]; 32]),
                        nonce,
                        issued_at_ms: at,
                    },
                    requester,
                    approver,
                    subject_authorization: auth.map(
                        |(subject, grantee_region, purposes, signer, max_uses)| {
                            SignedSubjectAuthorization {
                                authorization: SubjectAuthorization {
                                    authorization_id: [7; 16],
                                    subject,
                                    grantee_region,
                                    categories: purposes.clone(),
                                    purposes,
                                    not_before_ms: 0,
                                    not_after_ms: at,
                                    max_uses,
                                },
                                signer,
                            }
                        },
                    ),
                }
            },
        )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        hello().prop_map(Request::Hello),
        any::<u64>().prop_map(|nonce| Request::Ping(Ping { nonce })),
        query().prop_map(|q| Request::Query(Box::new(q))),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        hello().prop_map(Response::Hello),
        any::<u64>().prop_map(|nonce| Response::Pong(Pong { nonce })),
        (any::<u16>(), ".{0,64}")
            .prop_map(|(c, m)| Response::Error(ErrorReply::new(ErrorCode::from_u16(c), m))),
    ]
}

proptest! {
    #[test]
    fn requests_round_trip(req in request()) {
        let bytes = encode(&req).unwrap();
        prop_assert_eq!(decode::<Request>(&bytes).unwrap(), req.clone());
        let frame = encode_frame(&req, FrameLimit::DEFAULT).unwrap();
        let mut d = FrameDecoder::new(FrameLimit::DEFAULT);
        prop_assert_eq!(d.feed(&frame).unwrap(), frame.len());
        prop_assert_eq!(d.next_frame().unwrap(), bytes);
    }

    /// A borrowed query request is the owned request's bytes, and decodes
    /// as it.
    #[test]
    fn a_borrowed_query_request_is_the_same_bytes(q in query()) {
        let borrowed = encode(&QueryRequestRef(&q)).unwrap();
        let owned = Request::Query(Box::new(q.clone()));
        prop_assert_eq!(&borrowed, &encode(&owned).unwrap());
        prop_assert_eq!(decode::<Request>(&borrowed).unwrap(), owned.clone());
        prop_assert_eq!(
            encode_frame(&QueryRequestRef(&q), FrameLimit::DEFAULT).unwrap(),
            encode_frame(&owned, FrameLimit::DEFAULT).unwrap()
        );
    }

    /// The measured length is the encoding's, and the streamed digest is
    /// SHA-256 (another implementation) of the encoding.
    #[test]
    fn length_and_digest_are_the_encodings(req in request(), resp in response()) {
        use sha2::Digest as _;
        let bytes = encode(&req).unwrap();
        prop_assert_eq!(encoded_len(&req).unwrap(), bytes.len());
        let expected: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        prop_assert_eq!(encoding_sha256(&req).unwrap(), expected);
        let bytes = encode(&resp).unwrap();
        prop_assert_eq!(encoded_len(&resp).unwrap(), bytes.len());
        let expected: [u8; 32] = sha2::Sha256::digest(&bytes).into();
        prop_assert_eq!(encoding_sha256(&resp).unwrap(), expected);
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        let bytes = encode(&resp).unwrap();
        prop_assert_eq!(decode::<Response>(&bytes).unwrap(), resp);
    }

    #[test]
    fn trailing_bytes_are_refused(req in request(), extra in prop::collection::vec(any::<u8>(), 1..16)) {
        let mut bytes = encode(&req).unwrap();
        bytes.extend_from_slice(&extra);
        prop_assert!(matches!(decode::<Request>(&bytes), Err(FrameError::TrailingBytes(n)) if n == extra.len()));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode::<Request>(&data);
        let _ = decode::<Response>(&data);
        let _ = decode_untrusted_requests(&data, FrameLimit::new(1024).unwrap());
    }

    #[test]
    fn frames_split_anywhere_reassemble(reqs in prop::collection::vec(request(), 1..5), cut in any::<prop::sample::Index>()) {
        let mut stream = Vec::new();
        for r in &reqs {
            stream.extend(encode_frame(r, FrameLimit::DEFAULT).unwrap());
        }
        let cut = cut.index(stream.len() + 1);
        let mut d = FrameDecoder::new(FrameLimit::DEFAULT);
        let mut got = Vec::new();
        for chunk in [&stream[..cut], &stream[cut..]] {
            let mut rest = chunk;
            while !rest.is_empty() {
                let n = d.feed(rest).unwrap();
                rest = &rest[n..];
                if let Some(p) = d.next_frame() {
                    got.push(decode::<Request>(&p).unwrap());
                }
            }
        }
        if let Some(p) = d.next_frame() {
            got.push(decode::<Request>(&p).unwrap());
        }
        prop_assert_eq!(got, reqs);
    }
}

#[test]
fn oversized_header_is_refused_before_allocation() {
    let limit = FrameLimit::new(4096).unwrap();
    // A header announcing 4 GiB - 1: refused from the four header bytes alone.
    let err = payload_len([0xff; FRAME_HEADER_LEN], limit).unwrap_err();
    assert!(matches!(
        err,
        FrameError::TooLarge {
            len: 0xffff_ffff,
            limit: 4096
        }
    ));
    let mut d = FrameDecoder::new(limit);
    assert!(matches!(
        d.feed(&[0, 0, 0x10, 0x01]),
        Err(FrameError::TooLarge { len: 4097, .. })
    ));
    assert!(matches!(
        payload_len([0, 0, 0, 0], limit),
        Err(FrameError::Empty)
    ));
    assert_eq!(payload_len([0, 0, 0x10, 0], limit).unwrap(), 4096);
}

#[test]
fn encoder_refuses_frames_the_peer_would_refuse() {
    let req = Request::Hello(Hello {
        protocol_version: 1,
        region: "520000".parse().unwrap(),
        node: "gy-1".parse().unwrap(),
        capabilities: vec![],
        software: "x".repeat(2000),
    });
    let limit = FrameLimit::new(1024).unwrap();
    assert!(matches!(
        encode_frame(&req, limit),
        Err(FrameError::TooLarge { .. })
    ));
    assert!(FrameLimit::new(10).is_err());
    assert!(FrameLimit::new(FrameLimit::MAX + 1).is_err());
}

#[test]
fn invalid_region_in_payload_is_a_decode_error() {
    // A Hello whose region number is 990000 (no such province) must not decode.
    let good = Request::Hello(Hello {
        protocol_version: 1,
        region: "520000".parse().unwrap(),
        node: "gy-1".parse().unwrap(),
        capabilities: vec![],
        software: String::new(),
    });
    let bytes = encode(&good).unwrap();
    let mut bad = encode(&Request::Hello(Hello {
        region: RegionCode::NATIONAL,
        ..match good {
            Request::Hello(h) => h,
            _ => unreachable!(),
        }
    }))
    .unwrap();
    // Variant 0, version 1, then the region varint: patch 0 into 990000's varint.
    assert_eq!(&bad[..3], &[0, 1, 0]);
    let varint_990000 = [0xb0, 0xb6, 0x3c];
    bad.splice(2..3, varint_990000);
    assert!(matches!(
        decode::<Request>(&bad),
        Err(FrameError::Malformed(_))
    ));
    assert!(decode::<Request>(&bytes).is_ok());
}

#[test]
fn validation_bounds_hello() {
    let mut h = Hello {
        protocol_version: 1,
        region: "520000".parse().unwrap(),
        node: "gy-1".parse().unwrap(),
        capabilities: vec![],
        software: "x".repeat(129),
    };
    assert!(h.validate().is_err());
    h.software.clear();
    h.capabilities = vec![Capability::Query; 65];
    assert!(h.validate().is_err());
    h.capabilities = vec![Capability::Other("y".repeat(129))];
    assert!(h.validate().is_err());
    h.capabilities = vec![Capability::Query];
    assert!(h.validate().is_ok());
}

#[test]
fn wire_bytes_match_the_specification_example() {
    // docs/protocol.md §5 "Example": these bytes are a contract.
    let frame = encode_frame(&Request::Ping(Ping { nonce: 7 }), FrameLimit::DEFAULT).unwrap();
    assert_eq!(frame, [0, 0, 0, 2, 1, 7]);
    let frame = encode_frame(&Response::Pong(Pong { nonce: 7 }), FrameLimit::DEFAULT).unwrap();
    assert_eq!(frame, [0, 0, 0, 2, 1, 7]);
    let err = encode(&Response::Error(ErrorReply::new(
        ErrorCode::FrameTooLarge,
        "x",
    )))
    .unwrap();
    assert_eq!(err, [2, 2, 1, b'x']);
}

/// A body carried as a plain sequence of `u8`, as `Envelope::payload` and
/// `ReportedRecord::body` were before they became byte strings.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct AsSequence {
    before: u32,
    body: Vec<u8>,
    after: String,
}

/// The same body as a byte string (`serde_bytes`), as those fields are now.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct AsByteString {
    before: u32,
    #[serde(with = "serde_bytes")]
    body: Vec<u8>,
    after: String,
}

proptest! {
    /// Byte strings change nothing on the wire: nodes of either build read
    /// each other's envelopes and batches, and signatures over their
    /// encoding still verify.
    #[test]
    fn byte_strings_are_the_same_wire_bytes_as_u8_sequences(
        before in any::<u32>(),
        body in proptest::collection::vec(any::<u8>(), 0..3000),
        after in ".{0,20}",
    ) {
        let old = AsSequence { before, body: body.clone(), after: after.clone() };
        let new = AsByteString { before, body, after };
        let old_bytes = credex_protocol::encode(&old).unwrap();
        let new_bytes = credex_protocol::encode(&new).unwrap();
        prop_assert_eq!(&old_bytes, &new_bytes);
        let read_old: AsSequence = credex_protocol::decode(&new_bytes).unwrap();
        let read_new: AsByteString = credex_protocol::decode(&old_bytes).unwrap();
        prop_assert_eq!(read_old.body, read_new.body);
    }
}
