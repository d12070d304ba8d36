//! Every federation message kind the protocol defines has a gate function
//! in `credex_policies::egress` (decision 0600). The kinds are read from
//! the protocol's source, so adding a kind (or a flow) without a gate
//! function fails here.

use std::collections::BTreeSet;

use credex_policies::egress::OUTBOUND_KINDS;
use credex_protocol::federation::Flow;

/// The protocol module that defines each flow's message kinds.
fn module_of(flow: Flow) -> &'static str {
    match flow {
        Flow::Recognition => "recognition.rs",
        Flow::Lists => "lists.rs",
        Flow::Upward => "upward.rs",
        Flow::Rights => "rights.rs",
    }
}

/// `pub const NAME: u16 = N;` lines inside `pub mod kind { … }`, and
/// top-level `pub const KIND_…: u16 = N;` lines.
fn kinds_in(source: &str) -> BTreeSet<u16> {
    let mut out = BTreeSet::new();
    let mut in_kind_mod = false;
    for line in source.lines() {
        let t = line.trim();
        if t.starts_with("pub mod kind") {
            in_kind_mod = true;
            continue;
        }
        if in_kind_mod && t == "}" {
            in_kind_mod = false;
            continue;
        }
        let Some(rest) = t.strip_prefix("pub const ") else {
            continue;
        };
        let Some((name, value)) = rest.split_once(": u16 = ") else {
            continue;
        };
        if in_kind_mod || name.starts_with("KIND_") {
            let n = value.trim_end_matches(';').trim();
            out.insert(n.parse().unwrap_or_else(|_| panic!("kind value {n:?}")));
        }
    }
    out
}

#[test]
fn every_message_kind_of_every_flow_has_a_gate_function() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocol/src/");
    let mut flows = Vec::new();
    for tag in 0u8..=255 {
        match credex_protocol::decode::<Flow>(&[tag]) {
            Ok(flow) => flows.push(flow),
            Err(_) => break,
        }
    }
    assert_eq!(flows.len(), 4, "a new flow: map its module in module_of");
    for flow in flows {
        let path = format!("{dir}{}", module_of(flow));
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let defined = kinds_in(&source);
        assert!(!defined.is_empty(), "{path}: no message kinds found");
        let gated: BTreeSet<u16> = OUTBOUND_KINDS
            .iter()
            .filter(|(f, ..)| *f == flow)
            .map(|(_, k, _)| *k)
            .collect();
        assert_eq!(
            defined, gated,
            "{flow}: kinds defined in {path} vs kinds with a gate function in egress::OUTBOUND_KINDS"
        );
    }
}

#[test]
fn the_kind_reader_finds_kinds() {
    let src = "pub mod kind {\n    pub const A: u16 = 1;\n    pub const B: u16 = 7;\n}\npub const KIND_C: u16 = 3;\npub const OTHER: u16 = 9;\n";
    assert_eq!(kinds_in(src), BTreeSet::from([1, 3, 7]));
}
