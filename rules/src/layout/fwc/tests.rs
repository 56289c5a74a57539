use ir::{validate, Field, Nat, Provenance, Rule, Ruleset, Statement, Value, Verdict};

use super::*;
use crate::layout::testing::*;
use crate::network::{ForwardMode, NatDef};

fn chain<'a>(rs: &'a Ruleset, name: &str) -> &'a [Rule] {
    let t = rs.table(Family::Inet, "fwc").unwrap();
    &t.chain(t.chain_id(name).unwrap()).rules
}

fn chain_names(rs: &Ruleset) -> Vec<String> {
    rs.tables[0]
        .chains
        .iter()
        .map(|c| c.name.to_string())
        .collect()
}

#[test]
fn nat_default_fills_fwcs_own_table() {
    let rs = lower(&[nat_default()]).unwrap();
    assert_eq!(rs.tables.len(), 1);
    assert_eq!(rs.tables[0].family, Family::Inet);
    assert_eq!(rs.tables[0].ownership, Ownership::Owned);
    assert_eq!(
        chain_names(&rs),
        [
            "input",
            "output",
            "forward",
            "guest_cross",
            "guest_input",
            "guest_output",
            "postrouting",
            "mangle_postrouting"
        ]
    );
    let t = &rs.tables[0];
    let targets: Vec<_> = chain(&rs, "forward")
        .iter()
        .map(|r| match r.verdict {
            Some(Verdict::Jump(c)) => t.chain(c).name.to_string(),
            _ => panic!("forward holds only jumps"),
        })
        .collect();
    assert_eq!(targets, ["guest_cross", "guest_input", "guest_output"]);
    // DHCP (67 in, 68 out) and DNS both ways, tcp and udp, as libvirt's iptables backend.
    assert_eq!(chain(&rs, "input").len(), 4);
    assert_eq!(chain(&rs, "output").len(), 4);
    assert_eq!(chain(&rs, "guest_cross").len(), 1);
    assert_eq!(chain(&rs, "guest_output").len(), 2);
    assert_eq!(chain(&rs, "guest_input").len(), 2);
    assert_eq!(chain(&rs, "postrouting").len(), 5);
    assert_eq!(chain(&rs, "mangle_postrouting").len(), 1);
    assert_eq!(validate(&rs), Ok(()));
}

#[test]
fn rules_are_declarative_and_match_interfaces_by_name() {
    let mut dev = nat_ipv6(true);
    dev.forward.dev = Some(ifname("enp0s7"));
    let rs = lower(&[dev]).unwrap();
    for (_, c, r) in rs.rules() {
        assert_eq!(r.seq, None);
        assert!(!r.statements.contains(&Statement::Counter), "{}", c.name);
        assert!(
            r.matches
                .iter()
                .all(|m| !matches!(m.field, Field::Iif | Field::Oif)),
            "{}",
            c.name
        );
        if c.name.as_str() != "forward" {
            assert!(matches!(r.provenance, Provenance::Input(_)));
        }
    }
}

#[test]
fn accepts_come_before_each_bridges_reject() {
    let mut second = nat_default();
    second.bridge = Some(ifname("virbr1"));
    second.forward.mode = ForwardMode::Route;
    second.ips = vec![
        ip("192.168.150.1/24", false, 20),
        ip("192.168.160.1/24", false, 21),
    ];
    let rs = lower(&[nat_default(), second]).unwrap();
    for name in ["guest_input", "guest_output"] {
        let verdicts: Vec<_> = chain(&rs, name)
            .iter()
            .map(|r| r.verdict.clone().unwrap())
            .collect();
        let reject = Verdict::Reject(ir::RejectKind::Default);
        assert_eq!(
            verdicts,
            [
                Verdict::Accept,
                reject.clone(),
                Verdict::Accept,
                Verdict::Accept,
                reject
            ],
            "{name}"
        );
    }
    // Routed subnets accept new connections, masqueraded ones only replies.
    let input = chain(&rs, "guest_input");
    assert!(input[0].matches.iter().any(|m| m.field == Field::CtState));
    assert!(input[2].matches.iter().all(|m| m.field != Field::CtState));
    assert_eq!(validate(&rs), Ok(()));
}

#[test]
fn postrouting_returns_then_ported_then_generic_nat() {
    let mut n = nat_ipv6(true);
    let addr = ir::AddrRange::single("10.0.0.1".parse().unwrap());
    n.forward.nat.address = Some(addr);
    let rs = lower(&[n]).unwrap();
    let post = chain(&rs, "postrouting");
    let shape: Vec<_> = post
        .iter()
        .map(|r| match (r.nat(), &r.verdict) {
            (Some(Nat::Snat { ports: Some(_), .. }), _) => "snat-ported",
            (Some(Nat::Snat { ports: None, .. }), _) => "snat",
            (Some(Nat::Masquerade { ports: Some(_) }), _) => "masq-ported",
            (Some(Nat::Masquerade { ports: None }), _) => "masq",
            (None, Some(Verdict::Return)) => "return",
            _ => "other",
        })
        .collect();
    assert_eq!(
        shape,
        [
            "return",
            "return",
            "snat-ported",
            "snat-ported",
            "snat",
            "return",
            "masq-ported",
            "masq-ported",
            "masq"
        ]
    );
    let protos: Vec<_> = post[2..4]
        .iter()
        .map(|r| r.matches[0].value.clone())
        .collect();
    assert_eq!(
        protos,
        [
            Value::Proto(ir::L4Proto::Tcp),
            Value::Proto(ir::L4Proto::Udp)
        ]
    );
    assert_eq!(
        post[6].nat(),
        Some(&Nat::Masquerade {
            ports: Some(NatDef::DEFAULT_PORTS)
        })
    );
}

#[test]
fn host_access_follows_tftp_and_ipv6() {
    let mut n = nat_ipv6(false);
    n.ips[0].tftp_root = Some("/srv".into());
    let rs = lower(&[n]).unwrap();
    let ports = |name| -> Vec<String> {
        chain(&rs, name)
            .iter()
            .map(|r| r.matches[1].value.to_string())
            .collect()
    };
    assert_eq!(ports("input"), ["67", "67", "53", "53", "69", "547"]);
    assert_eq!(ports("output"), ["68", "68", "53", "53", "69", "546"]);
}

#[test]
fn optional_chains_appear_only_when_needed() {
    let mut route = nat_default();
    route.forward.mode = ForwardMode::Route;
    route.ips[0].dhcp = false;
    let rs = lower(&[route]).unwrap();
    assert_eq!(
        chain_names(&rs),
        [
            "input",
            "output",
            "forward",
            "guest_cross",
            "guest_input",
            "guest_output"
        ]
    );
    assert!(rs.rules().all(|(_, _, r)| r.nat().is_none()));
    let mut isolated = nat_default();
    isolated.forward.mode = ForwardMode::Isolated;
    let rs = lower(&[isolated]).unwrap();
    assert!(chain_names(&rs).contains(&"mangle_postrouting".to_string()));
    assert!(!chain_names(&rs).contains(&"postrouting".to_string()));
    assert_eq!(validate(&rs), Ok(()));
}

#[test]
fn unfirewalled_and_invalid_networks() {
    let mut open = nat_default();
    open.forward.mode = ForwardMode::Open;
    assert_eq!(lower(&[open]).unwrap(), Ruleset::default());
    let mut bare = nat_default();
    bare.bridge = None;
    assert_eq!(lower(&[bare.clone()]).unwrap_err().at, bare.source);
}
