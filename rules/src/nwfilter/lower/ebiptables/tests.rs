//! Unit tests of the ebiptables lowering: libvirt's rule order, the
//! instances of a rule, and the chains. Whole commands are checked against
//! libvirt's own expectations in `tests/tests/nwfilter_parity.rs`.

use ir::{
    Chain, CmpOp, Commands, CtDirection, CtStates, Field, IpFamily, L4Proto, Match, Policy,
    Ruleset, Step, Table, Value, Verdict,
};

use super::super::Port;
use super::lower;
use crate::layout::Backend;
use crate::nwfilter::{
    Action, Attr, ChainName, Concrete, Direction, InstantiatedRule, ProtocolKind, ProtocolMatch,
    Rule, Template, Value as NwValue, WrongKind,
};

fn at(line: u32) -> ir::Source {
    ir::Source {
        file: "f.xml".into(),
        line,
        column: 1,
        element: "rule".into(),
    }
}

/// A protocol element with literal attributes.
fn element(kind: Option<ProtocolKind>, attrs: &[(&str, NwValue)]) -> ProtocolMatch<Concrete> {
    let Some(kind) = kind else {
        return ProtocolMatch::Empty;
    };
    let mut m = ProtocolMatch::new(kind);
    for (name, value) in attrs {
        m.set(name, Attr::new(Template::Literal(value.clone())))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    m.instantiate(&mut |_, _| -> Result<NwValue, WrongKind> { unreachable!("no variables") })
        .expect("literals only")
}

/// A rule of filter chain `chain` (priority `chain_priority`).
fn rule(
    chain: &str,
    chain_priority: i32,
    priority: i32,
    action: Action,
    direction: Direction,
    protocol: ProtocolMatch<Concrete>,
) -> InstantiatedRule {
    InstantiatedRule {
        filter: "f".into(),
        chain: ChainName::new(chain).unwrap(),
        chain_priority,
        rule: Rule {
            action,
            direction,
            priority,
            statematch: true,
            protocol,
            source: at(priority.unsigned_abs()),
        },
    }
}

fn port(rules: Vec<InstantiatedRule>) -> Port {
    Port {
        ifname: ir::Ifname::new("vnet0").unwrap(),
        mac: None,
        rules,
        source: at(0),
    }
}

fn chain<'t>(t: &'t Table, name: &str) -> &'t Chain {
    t.chain(
        t.chain_id(name)
            .unwrap_or_else(|| panic!("no chain {name}")),
    )
}

/// The rules of every chain in the order libvirt's commands add them:
/// "chain: verdict" for rules, "create chain" for creations.
fn commands(t: &Table) -> Vec<String> {
    let Commands::Append { steps, .. } = &t.commands else {
        panic!("the ebiptables tables are built by appends");
    };
    let mut out: Vec<(u32, String)> = steps
        .iter()
        .map(|(seq, step)| match step {
            Step::CreateChain(c) => (*seq, format!("create {}", t.chain(*c).name)),
            other => panic!("the ebiptables tables have no maps: {other:?}"),
        })
        .collect();
    for c in &t.chains {
        for r in &c.rules {
            if let Some(seq) = r.seq {
                let verdict = match &r.verdict {
                    Some(Verdict::Jump(j) | Verdict::Goto(j)) => t.chain(*j).name.to_string(),
                    Some(v) => format!("{v:?}"),
                    None => "continue".into(),
                };
                out.push((seq, format!("{}: {verdict}", c.name)));
            }
        }
    }
    out.sort();
    out.into_iter().map(|(_, s)| s).collect()
}

fn only_table(rs: &Ruleset) -> &Table {
    assert_eq!(rs.tables.len(), 1, "{rs}");
    &rs.tables[0]
}

/// Root rules first, by priority; a sub-chain's rule of a priority below
/// its chain's is lifted to it; sub-chains are created (with the jump into
/// them) before the first rule whose priority reaches theirs.
#[test]
fn ethernet_rules_follow_libvirts_order_and_sub_chains_interleave() {
    use ProtocolKind::{Arp, Mac};
    let mac_ipv4 = || {
        element(
            Some(Mac),
            &[(
                "protocolid",
                NwValue::EtherType(crate::nwfilter::value::EtherType(0x800)),
            )],
        )
    };
    let rules = vec![
        // Collected first, but not in the root chain.
        rule(
            "arp",
            -500,
            400,
            Action::Return,
            Direction::Out,
            element(Some(Arp), &[]),
        ),
        rule(
            "mac",
            -800,
            -900,
            Action::Drop,
            Direction::Out,
            element(Some(Mac), &[]),
        ),
        rule(
            "root",
            0,
            1000,
            Action::Drop,
            Direction::InOut,
            element(None, &[]),
        ),
        rule("root", 0, -650, Action::Accept, Direction::Out, mac_ipv4()),
    ];
    let rs = lower(&[port(rules)], Backend::Ebtables).unwrap();
    let t = only_table(&rs);
    assert_eq!(
        commands(t),
        [
            "create libvirt-I-vnet0",
            "create libvirt-O-vnet0",
            // The mac chain (-800) comes before the first root rule (-650).
            "create I-vnet0-mac",
            "libvirt-I-vnet0: I-vnet0-mac",
            "libvirt-I-vnet0: Accept",
            "create I-vnet0-arp",
            "libvirt-I-vnet0: I-vnet0-arp",
            "libvirt-I-vnet0: Drop",
            "libvirt-O-vnet0: Drop",
            // The mac rule, lifted from -900 to -800, before the arp rule.
            "I-vnet0-mac: Drop",
            "I-vnet0-arp: Return",
            "PREROUTING: libvirt-I-vnet0",
            "POSTROUTING: libvirt-O-vnet0",
        ]
    );
    let root = chain(t, "libvirt-I-vnet0");
    assert_eq!(root.staging.as_ref().unwrap().as_str(), "libvirt-J-vnet0");
    assert_eq!(root.end_policy, Some(Policy::Accept));
    assert_eq!(
        chain(t, "I-vnet0-arp").staging.as_ref().unwrap().as_str(),
        "J-vnet0-arp"
    );
    // The arp chain is entered by protocol, written as libvirt writes it.
    let jump = &root.rules[2];
    assert_eq!(jump.matches[0].field, Field::EtherType);
    let Value::Int(t) = &jump.matches[0].value else {
        panic!("{:?}", jump.matches);
    };
    assert_eq!(
        (t.start, t.notation),
        (0x0806, ir::Notation::Hex { width: 4 })
    );
    ir::validate(&rs).unwrap();
}

/// The from-guest copy of an inout rule swaps its ends; reject drops.
#[test]
fn inout_ethernet_rules_swap_ends_from_the_guest() {
    let mac = |s: &str| NwValue::Mac(s.parse().unwrap());
    let vlan = element(
        Some(ProtocolKind::Vlan),
        &[
            ("srcmacaddr", mac("1:2:3:4:5:6")),
            ("dstmacaddr", mac("aa:bb:cc:dd:ee:ff")),
        ],
    );
    let rs = lower(
        &[port(vec![rule(
            "root",
            0,
            500,
            Action::Reject,
            Direction::InOut,
            vlan,
        )])],
        Backend::Ebtables,
    )
    .unwrap();
    let t = only_table(&rs);
    let fields = |c: &str| -> Vec<Field> {
        chain(t, c).rules[0]
            .matches
            .iter()
            .map(|m| m.field)
            .collect()
    };
    assert_eq!(
        &fields("libvirt-I-vnet0")[..2],
        [Field::EtherDaddr, Field::EtherSaddr]
    );
    assert_eq!(
        &fields("libvirt-O-vnet0")[..2],
        [Field::EtherSaddr, Field::EtherDaddr]
    );
    assert_eq!(
        chain(t, "libvirt-O-vnet0").rules[0].verdict,
        Some(Verdict::Drop)
    );
}

fn tcp(attrs: &[(&str, NwValue)]) -> ProtocolMatch<Concrete> {
    element(Some(ProtocolKind::Tcp), attrs)
}

const ESTABLISHED: CtStates = CtStates {
    new: false,
    established: true,
    related: false,
    invalid: false,
    untracked: false,
};

/// Each iptables rule goes to FI and HI in its own sense (RETURN) and to FO
/// reversed (ACCEPT), with libvirt's implicit state and direction.
#[test]
fn layer3_rules_become_three_instances_with_implicit_state() {
    let r = rule(
        "root",
        0,
        500,
        Action::Accept,
        Direction::In,
        tcp(&[("dstportstart", NwValue::U16(22))]),
    );
    let rs = lower(&[port(vec![r])], Backend::Iptables).unwrap();
    let t = only_table(&rs);
    let fo = &chain(t, "FO-vnet0").rules;
    let fi = &chain(t, "FI-vnet0").rules;
    assert_eq!(
        chain(t, "FO-vnet0").staging.as_ref().unwrap().as_str(),
        "FP-vnet0"
    );
    let ports = |p: u16| Value::Ports(ir::PortRange { start: p, end: p });
    assert_eq!(
        fo[0].matches,
        [
            Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
            Match::eq(Field::Dport(L4Proto::Tcp), ports(22)),
            Match::eq(
                Field::CtState,
                Value::CtStates(CtStates {
                    new: true,
                    ..ESTABLISHED
                })
            ),
            Match::eq(Field::CtDirection, Value::CtDir(CtDirection::Original)),
        ]
    );
    assert_eq!(fo[0].verdict, Some(Verdict::Accept));
    assert_eq!(
        fi[0].matches,
        [
            Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
            Match::eq(Field::Sport(L4Proto::Tcp), ports(22)),
            Match::eq(Field::CtState, Value::CtStates(ESTABLISHED)),
            Match::eq(Field::CtDirection, Value::CtDir(CtDirection::Reply)),
        ]
    );
    assert_eq!(fi[0].verdict, Some(Verdict::Return));
    let hi = &chain(t, "HI-vnet0").rules[0];
    assert_eq!((&hi.matches, &hi.verdict), (&fi[0].matches, &fi[0].verdict));
    assert!(
        fi[0].seq < fo[0].seq && fo[0].seq < hi.seq,
        "libvirt adds FJ, FP, HJ"
    );
    // The shared chains are entered from FORWARD and INPUT, each port's by
    // physdev; the global jumps have no sequence number.
    let fwd = &chain(t, "FORWARD").rules;
    assert_eq!(fwd.len(), 3);
    assert!(fwd.iter().all(|r| r.seq.is_none()));
    let link = &chain(t, "libvirt-out").rules[0];
    assert_eq!(
        link.matches[0],
        Match::eq(Field::PhysIsBridged, Value::Bool(true))
    );
    assert_eq!(
        link.verdict,
        Some(Verdict::Goto(t.chain_id("FO-vnet0").unwrap()))
    );
    ir::validate(&rs).unwrap();
}

/// An ICMP type gives no reply-direction instance; connlimit limits the
/// guest's own connections only; a reversed instance with nothing but the
/// (dropped) source MAC is left out; explicit states go to the rule's own
/// direction only, without a conntrack direction.
#[test]
fn instances_are_left_out_where_libvirt_leaves_them_out() {
    let icmp = element(
        Some(ProtocolKind::Icmp),
        &[("type", NwValue::U8(8)), ("code", NwValue::U8(0))],
    );
    let limited = element(
        Some(ProtocolKind::All),
        &[("connlimit-above", NwValue::U16(3))],
    );
    let lone_mac = element(
        Some(ProtocolKind::All),
        &[(
            "srcmacaddr",
            NwValue::Mac("12:34:56:78:9a:bc".parse().unwrap()),
        )],
    );
    let new_only = element(
        Some(ProtocolKind::Udp),
        &[(
            "state",
            NwValue::State(crate::nwfilter::value::StateSet {
                new: true,
                ..crate::nwfilter::value::StateSet::NONE
            }),
        )],
    );
    let rules = vec![
        rule("root", 0, 1, Action::Accept, Direction::Out, icmp),
        rule("root", 0, 2, Action::Drop, Direction::Out, limited),
        rule("root", 0, 3, Action::Drop, Direction::InOut, lone_mac),
        rule("root", 0, 4, Action::Accept, Direction::In, new_only),
    ];
    let rs = lower(&[port(rules)], Backend::Iptables).unwrap();
    let t = only_table(&rs);
    let lines: Vec<String> = commands(t)
        .into_iter()
        .filter(|l| l.starts_with("F") || l.starts_with("H"))
        .collect();
    assert_eq!(
        lines,
        [
            "FI-vnet0: Return",
            "HI-vnet0: Return",
            "FI-vnet0: Drop",
            "HI-vnet0: Drop",
            "FO-vnet0: Drop",
            "FO-vnet0: Accept",
        ]
    );
    let fi = &chain(t, "FI-vnet0").rules;
    // No conntrack direction with an ICMP type; ICMP type and code.
    assert!(fi[0].matches.iter().all(|m| m.field != Field::CtDirection));
    assert!(fi[0].matches.contains(&Match::eq(
        Field::IcmpType(IpFamily::V4),
        Value::Int(ir::IntRange::single(8))
    )));
    // connlimit-above 3: more than three connections, and no state match.
    assert_eq!(
        fi[1].matches[1],
        Match::eq(
            Field::ConnCount,
            Value::Int(ir::IntRange::new(4, u32::MAX.into()).unwrap())
        )
    );
    assert!(fi[1].matches.iter().all(|m| m.field != Field::CtState));
    let fo = &chain(t, "FO-vnet0").rules;
    assert_eq!(fo[0].matches[1].op, CmpOp::Eq);
    assert_eq!(fo[0].matches[1].field, Field::EtherSaddr);
    assert_eq!(
        fo[1].matches[1..],
        [Match::eq(
            Field::CtState,
            Value::CtStates(CtStates {
                new: true,
                ..CtStates::default()
            })
        )]
    );
}

/// A port with no rule of a layer gets nothing from that layer's tool, as
/// libvirt runs none of its commands.
#[test]
fn a_tool_without_rules_gets_an_empty_ruleset() {
    let only_l2 = vec![rule(
        "root",
        0,
        500,
        Action::Drop,
        Direction::Out,
        element(None, &[]),
    )];
    assert_eq!(
        lower(&[port(only_l2.clone())], Backend::Iptables).unwrap(),
        Ruleset::default()
    );
    assert_eq!(
        lower(&[port(only_l2)], Backend::Ip6tables).unwrap(),
        Ruleset::default()
    );
    let only_l3 = vec![rule("root", 0, 500, Action::Drop, Direction::Out, tcp(&[]))];
    assert_eq!(
        lower(&[port(only_l3.clone())], Backend::Ebtables).unwrap(),
        Ruleset::default()
    );
    assert_eq!(
        lower(&[port(only_l3)], Backend::Nft).unwrap(),
        Ruleset::default()
    );
}

/// TCP options have no IR field: the rule is refused, not weakened.
#[test]
fn what_the_ir_cannot_say_is_an_error_at_the_rule() {
    let r = rule(
        "root",
        0,
        7,
        Action::Accept,
        Direction::Out,
        tcp(&[("option", NwValue::U8(2))]),
    );
    let e = lower(&[port(vec![r])], Backend::Iptables).unwrap_err();
    assert_eq!(e.at.line, 7);
    assert!(e.message.contains("TCP option"), "{}", e.message);
}
