//! fwc's bridge layout for nwfilter bindings: a packet's cost does not
//! grow with the number of bound ports, and each port is one element per
//! verdict map, so ports come and go independently.

use emitters::{Direction, Format, Target};
use fwc_tests::ports::{binding, compile, longest_chain, stock_filters, Inputs};
use rules::layout::Layout;

/// `n` guests, each bound to `clean-traffic` on its own port.
fn bindings(n: usize) -> Inputs {
    let files: Vec<(String, String)> = (0..n)
        .map(|i| {
            let mac = format!("52:54:00:00:{:02x}:{:02x}", i / 256, i % 256);
            let ip = format!("10.0.{}.{}", i / 250, i % 250 + 1);
            (
                format!("guest{i:04}.xml"),
                binding(&format!("vnet{i}"), &mac, "clean-traffic", &ip),
            )
        })
        .collect();
    Inputs::write(&files)
}

fn ruleset(n: usize) -> ir::Ruleset {
    let inputs = bindings(n);
    compile(
        &inputs.files,
        &stock_filters(),
        Target::Nft,
        Layout::Fwc,
        Format::Script,
        Direction::Setup,
    )
    .ruleset
}

#[test]
fn the_longest_chain_is_the_same_for_10_and_1000_ports() {
    let (small, large) = (ruleset(10), ruleset(1000));
    let (a, b) = (longest_chain(&small), longest_chain(&large));
    assert!(a > 1, "clean-traffic makes chains of several rules ({a})");
    assert_eq!(a, b, "the longest chain grows with the number of ports");
    let t = large
        .table(ir::Family::Bridge, "fwc")
        .expect("the bridge table");
    for pass in ["in_l2", "in_l3", "out_l2", "out_l3"] {
        let c = t.chain(t.chain_id(pass).expect("a base chain"));
        assert_eq!(c.rules.len(), 1, "{pass} dispatches with one lookup");
        assert!(matches!(c.rules[0].verdict, Some(ir::Verdict::Vmap { .. })));
        let map = t
            .maps
            .iter()
            .find(|m| m.name.as_str() == format!("ports_{pass}"))
            .expect("the pass's map");
        assert_eq!(map.elements.len(), 1000, "one element per port in {pass}");
    }
}

/// Binding one more guest adds only that guest's chains and one element to
/// each map: every other object stays as it was.
#[test]
fn a_port_adds_only_its_own_chains_and_elements() {
    let (two, three) = (ruleset(2), ruleset(3));
    let (t2, t3) = (&two.tables[0], &three.tables[0]);
    for c in &t2.chains {
        let other = t3.chain(t3.chain_id(c.name.as_str()).expect("kept"));
        assert_eq!(c.rules.len(), other.rules.len(), "chain {}", c.name);
    }
    let new: Vec<&str> = t3
        .chains
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| t2.chain_id(n).is_none())
        .collect();
    assert!(
        !new.is_empty() && new.iter().all(|n| n.starts_with("vnet2-")),
        "{new:?}"
    );
    for (m2, m3) in t2.maps.iter().zip(&t3.maps) {
        assert_eq!(m3.elements[..2], m2.elements[..], "map {}", m2.name);
        assert_eq!(m3.elements.len(), 3);
    }
}

/// iptables cannot filter bridged frames: the artifact leaves the bridge
/// table out and says so.
#[test]
fn iptables_leaves_the_bridge_table_out_with_a_note() {
    let inputs = bindings(1);
    let out = compile(
        &inputs.files,
        &stock_filters(),
        Target::Iptables,
        Layout::Fwc,
        Format::Script,
        Direction::Setup,
    );
    assert!(
        !out.artifact.text.contains("vnet0"),
        "{}",
        out.artifact.text
    );
    assert_eq!(out.artifact.notes.len(), 1, "{:?}", out.artifact.notes);
    assert!(
        out.artifact.notes[0].message.contains("bridge fwc"),
        "{}",
        out.artifact.notes[0].message
    );
}
