//! libvirt's order of sub-chains and rules, its rule copies, and fwc's
//! bridge layout built from the same plan.

use ir::{CmpOp, CtDirection, Field, Source, Value, Verdict};

use super::{instances, plan, sorted, sub_chains, Fidelity, Planned, Table};
use crate::nwfilter::lower::Port;
use crate::nwfilter::{
    Action, Attr, ChainName, Concrete, Direction, InstantiatedRule, MacMatch, ProtocolMatch, Rule,
};

fn at(line: u32) -> Source {
    Source {
        file: "f.xml".into(),
        line,
        column: 3,
        element: "rule".into(),
    }
}

/// A rule of `chain` (with its priority) at `priority`.
fn rule(
    line: u32,
    chain: (&str, i32),
    priority: i32,
    direction: Direction,
    action: Action,
    protocol: ProtocolMatch<Concrete>,
) -> InstantiatedRule {
    InstantiatedRule {
        filter: "f".into(),
        chain: ChainName::new(chain.0).unwrap(),
        chain_priority: chain.1,
        rule: Rule {
            action,
            direction,
            priority,
            statematch: true,
            protocol,
            source: at(line),
        },
    }
}

fn all() -> ProtocolMatch<Concrete> {
    ProtocolMatch::All(Box::default())
}

/// clean-traffic's shape: root rules at -650 and 1000, a layer-3 root rule,
/// sub-chains `mac` (-800) and `arp` (-500).
fn mixed() -> Vec<InstantiatedRule> {
    vec![
        rule(
            1,
            ("mac", -800),
            500,
            Direction::Out,
            Action::Return,
            ProtocolMatch::Empty,
        ),
        rule(
            2,
            ("root", 0),
            -650,
            Direction::Out,
            Action::Accept,
            ProtocolMatch::Empty,
        ),
        rule(
            3,
            ("arp", -500),
            500,
            Direction::Out,
            Action::Drop,
            ProtocolMatch::Empty,
        ),
        rule(
            4,
            ("root", 0),
            1000,
            Direction::InOut,
            Action::Drop,
            ProtocolMatch::Empty,
        ),
        rule(5, ("root", 0), 100, Direction::In, Action::Accept, all()),
    ]
}

#[test]
fn sub_chains_come_after_the_root_rules_of_lower_priority() {
    let rules = mixed();
    let s = sorted(&rules);
    let lines: Vec<u32> = s.iter().map(|r| r.rule.rule.source.line).collect();
    assert_eq!(lines, [2, 5, 4, 1, 3], "root first, then by priority");
    let subs = sub_chains(&s);
    let names: Vec<&str> = subs.iter().map(|c| c.suffix.as_str()).collect();
    assert_eq!(names, ["mac", "arp"]);
    assert!(subs[0].outbound && !subs[0].inbound);
    assert_eq!(
        plan(&s, &subs),
        [
            Planned::SubChain(0),
            Planned::Rule(0),
            Planned::SubChain(1),
            Planned::Rule(1),
            Planned::Rule(2),
            Planned::Rule(3),
            Planned::Rule(4),
        ],
        "the -650 root rule comes between mac (-800) and arp (-500)"
    );
}

#[test]
fn a_sub_chain_rule_is_raised_to_its_chain_priority() {
    let rules = vec![
        rule(
            1,
            ("ipv4", -700),
            -900,
            Direction::Out,
            Action::Drop,
            ProtocolMatch::Empty,
        ),
        rule(
            2,
            ("arp", -500),
            -800,
            Direction::Out,
            Action::Drop,
            ProtocolMatch::Empty,
        ),
    ];
    let s = sorted(&rules);
    assert_eq!(s[0].priority, -700);
    assert_eq!(s[1].priority, -500);
}

#[test]
fn accepted_layer3_rules_get_a_reply_copy_and_state() {
    let r = rule(1, ("root", 0), 500, Direction::Out, Action::Accept, all());
    let copies = instances(&r, Fidelity::Libvirt).unwrap();
    assert_eq!(copies.len(), 2);
    assert!(!copies[0].inbound && copies[1].inbound);
    let dir = |i: usize| {
        copies[i]
            .matches
            .iter()
            .find(|m| m.field == Field::CtDirection)
            .map(|m| m.value.clone())
    };
    assert_eq!(dir(0), Some(Value::CtDir(CtDirection::Original)));
    assert_eq!(dir(1), Some(Value::CtDir(CtDirection::Reply)));
    let mut off = r.clone();
    off.rule.statematch = false;
    assert_eq!(instances(&off, Fidelity::Libvirt).unwrap().len(), 1);
    let drop = rule(1, ("root", 0), 500, Direction::InOut, Action::Reject, all());
    let copies = instances(&drop, Fidelity::Libvirt).unwrap();
    assert_eq!(copies.len(), 2, "inout: one copy per direction");
    assert!(copies.iter().all(|c| c.verdict == Some(Verdict::Drop)));
    assert!(copies
        .iter()
        .all(|c| c.matches.iter().all(|m| m.field != Field::CtState)));
}

#[test]
fn inout_ethernet_rules_swap_addresses_in_the_outbound_copy() {
    let mac = "52:54:00:00:00:01".parse().unwrap();
    let m = MacMatch::<Concrete> {
        srcmacaddr: Some(Attr::new(mac)),
        ..Default::default()
    };
    let r = rule(
        1,
        ("root", 0),
        500,
        Direction::InOut,
        Action::Accept,
        ProtocolMatch::Mac(Box::new(m)),
    );
    let copies = instances(&r, Fidelity::Libvirt).unwrap();
    assert_eq!(copies[0].table, Table::Ethernet);
    assert_eq!(copies[0].matches[0].field, Field::EtherSaddr);
    assert_eq!(copies[1].matches[0].field, Field::EtherDaddr);
    assert_eq!(copies[1].matches[0].op, CmpOp::Eq);
}

#[test]
fn fwc_dispatches_each_pass_through_one_map_keyed_by_name() {
    let port = |name: &str| Port {
        ifname: ir::Ifname::new(name).unwrap(),
        mac: None,
        rules: mixed(),
        source: at(1),
    };
    let rs = crate::nwfilter::lower::fwc::lower(&[port("vnet0"), port("vnet1")]).unwrap();
    assert_eq!(ir::validate(&rs), Ok(()));
    let t = &rs.tables[0];
    assert_eq!((t.family, t.name.as_str()), (ir::Family::Bridge, "fwc"));
    for pass in ["in_l2", "in_l3", "out_l2", "out_l3"] {
        let c = t.chain(t.chain_id(pass).unwrap());
        assert_eq!(c.rules.len(), 1);
        let map = t
            .maps
            .iter()
            .find(|m| m.name.as_str() == format!("ports_{pass}"))
            .unwrap();
        assert_eq!(map.key, [ir::KeyType::Ifname]);
        assert_eq!(map.elements.len(), 2);
    }
    let out = t.chain(t.chain_id("vnet1-out").unwrap());
    let targets: Vec<String> = out
        .rules
        .iter()
        .map(|r| match &r.verdict {
            Some(Verdict::Jump(c)) => t.chain(*c).name.to_string(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        targets,
        [
            "vnet1-mac-out",
            "Some(Accept)",
            "vnet1-arp-out",
            "Some(Drop)"
        ]
    );
}

#[test]
fn libvirt_tables_record_the_command_sequence() {
    let port = Port {
        ifname: ir::Ifname::new("vnet0").unwrap(),
        mac: None,
        rules: mixed(),
        source: at(1),
    };
    let rs = super::lower(&[port]).unwrap();
    assert_eq!(ir::validate(&rs), Ok(()));
    let names: Vec<&str> = rs.tables.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["libvirt_nwfilter_ethernet", "libvirt_nwfilter_inet"]
    );
    let ir::Commands::Append { steps, .. } = &rs.tables[0].commands else {
        panic!("appended");
    };
    // The two root chains, the two sub-chains, the two map elements.
    assert_eq!(steps.len(), 6);
    let eth = &rs.tables[0];
    let post = eth.chain(eth.chain_id("postrouting").unwrap());
    assert_eq!(post.rules.len(), 2, "dispatch, then the temporary jump");
    assert_eq!(eth.sets[0].elements.len(), 1024);
}
