//! Every optimiser pass keeps behaviour: on random rulesets and random
//! packets, the evaluator gives the same verdict, the same NAT, the same
//! checksum fix, and the same base chains deciding by a rule or by their
//! policy, before and after the pass (and after the whole list).
//!
//! Rulesets are decoded from small random specs: an `inet` table with a
//! filter world (a `forward` base chain and regular chains it may jump to)
//! and a NAT world (`postrouting` and its own regular chains), rules over a
//! small universe of interfaces, overlapping and disjoint prefixes of both
//! families, protocols, ports and conntrack states, with every kind of
//! verdict. Besides single rules, specs hold "keyed blocks": rules repeated
//! per interface or subnet, as layouts produce them, so that the merge and
//! dispatch passes find work. Jumps only go to later chains, so the jump
//! graph has no cycle, and every generated ruleset is checked valid first.

use std::net::IpAddr;

use compiler::passes::{self, Pass, PASSES};
use ir::eval::{evaluate, DecidedBy, Decision, Packet};
use ir::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::Config;

const IFNAMES: [&str; 3] = ["a", "b", "c"];
const PACKET_IFNAMES: [&str; 4] = ["a", "b", "c", "x"];
const NETS4: [&str; 6] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.2.0.0/16",
    "10.1.2.3/32",
    "192.168.0.0/24",
];
const NETS6: [&str; 4] = ["fd00::/8", "fd00:1::/32", "fd00:1::1/128", "fd01::/16"];
const ADDRS4: [&str; 7] = [
    "10.1.2.3",
    "10.1.2.4",
    "10.1.5.5",
    "10.2.0.1",
    "192.168.0.7",
    "8.8.8.8",
    "224.0.0.5",
];
const ADDRS6: [&str; 5] = [
    "fd00:1::1",
    "fd00:1::2",
    "fd00:2::1",
    "fd01::5",
    "2001:db8::1",
];
const PORTS: [(u16, u16); 5] = [(53, 53), (67, 67), (68, 68), (1000, 2000), (1500, 1500)];
const PACKET_PORTS: [u16; 6] = [53, 67, 68, 1500, 1999, 3000];
const PROTOS: [L4Proto; 3] = [L4Proto::Tcp, L4Proto::Udp, L4Proto::Icmp];

/// Regular chains per world.
const REGULAR: usize = 3;

// ---------------------------------------------------------------- specs

#[derive(Debug, Clone)]
struct MatchSpec {
    field: u8,
    ne: bool,
    value: u8,
    second: Option<u8>,
}

#[derive(Debug, Clone)]
struct RuleSpec {
    matches: Vec<MatchSpec>,
    action: u8,
    target: u8,
}

#[derive(Debug, Clone)]
enum BlockSpec {
    Single(RuleSpec),
    /// Rules repeated per key of one field; `key_at` places the key match.
    Keyed {
        field: u8,
        groups: Vec<(u8, Vec<(u8, RuleSpec)>)>,
        interleave: bool,
    },
}

#[derive(Debug, Clone)]
struct Spec {
    /// Filter world: base chain then regular chains; same for NAT.
    filter: Vec<Vec<BlockSpec>>,
    nat: Vec<Vec<BlockSpec>>,
    drop_policy: bool,
    /// A second filter base chain on the same hook.
    late: Vec<RuleSpec>,
    /// Whether the forward chain looks up a named map.
    named_map: bool,
    /// Whether every chain gets inert rules appended, making it long enough
    /// for the passes' hash indexes (short chains are compared rule by rule).
    pad: bool,
}

fn match_spec() -> impl Strategy<Value = MatchSpec> {
    (
        0u8..11,
        prop::bool::weighted(0.2),
        any::<u8>(),
        prop::option::weighted(0.2, any::<u8>()),
    )
        .prop_map(|(field, ne, value, second)| MatchSpec {
            field,
            ne,
            value,
            second,
        })
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        prop::collection::vec(match_spec(), 0..3),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(|(matches, action, target)| RuleSpec {
            matches,
            action,
            target,
        })
}

fn block_spec() -> impl Strategy<Value = BlockSpec> {
    let keyed = (
        0u8..5,
        prop::collection::vec(
            (
                any::<u8>(),
                prop::collection::vec((any::<u8>(), rule_spec()), 1..4),
            ),
            1..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(field, groups, interleave)| BlockSpec::Keyed {
            field,
            groups,
            interleave,
        });
    prop_oneof![3 => rule_spec().prop_map(BlockSpec::Single), 2 => keyed]
}

fn chain_spec() -> impl Strategy<Value = Vec<BlockSpec>> {
    prop::collection::vec(block_spec(), 0..5)
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(chain_spec(), REGULAR + 1),
        prop::collection::vec(chain_spec(), REGULAR + 1),
        any::<bool>(),
        prop::collection::vec(rule_spec(), 0..3),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(filter, nat, drop_policy, late, named_map, pad)| Spec {
            filter,
            nat,
            drop_policy,
            late,
            named_map,
            pad,
        })
}

// ------------------------------------------------------------- decoding

fn pick<T: Copy>(list: &[T], i: u8) -> T {
    list[usize::from(i) % list.len()]
}

fn ifname(n: &str) -> Value {
    Value::Ifname(Ifname::new(n).unwrap())
}

fn prefix(s: &str) -> Value {
    Value::Prefix(s.parse().unwrap())
}

/// The field a spec names, and its value for an index.
fn field_of(code: u8) -> Field {
    match code % 11 {
        0 => Field::IifName,
        1 => Field::OifName,
        2 => Field::Saddr(IpFamily::V4),
        3 => Field::Daddr(IpFamily::V4),
        4 => Field::Saddr(IpFamily::V6),
        5 => Field::Daddr(IpFamily::V6),
        6 => Field::L4Proto,
        7 => Field::Dport(L4Proto::Tcp),
        8 => Field::Dport(L4Proto::Udp),
        9 => Field::Sport(L4Proto::Tcp),
        _ => Field::CtState,
    }
}

fn value_of(field: Field, i: u8) -> Value {
    match field {
        Field::IifName | Field::OifName => ifname(pick(&IFNAMES, i)),
        Field::Saddr(IpFamily::V4) | Field::Daddr(IpFamily::V4) => prefix(pick(&NETS4, i)),
        Field::Saddr(IpFamily::V6) | Field::Daddr(IpFamily::V6) => prefix(pick(&NETS6, i)),
        Field::L4Proto => Value::Proto(pick(&PROTOS, i)),
        Field::Sport(_) | Field::Dport(_) => {
            let (a, b) = pick(&PORTS, i);
            Value::Ports(PortRange::new(a, b).unwrap())
        }
        _ => {
            let states = [
                CtStates {
                    new: true,
                    ..CtStates::default()
                },
                CtStates {
                    established: true,
                    ..CtStates::default()
                },
                CtStates::RELATED_ESTABLISHED,
                CtStates {
                    invalid: true,
                    new: true,
                    ..CtStates::default()
                },
            ];
            Value::CtStates(pick(&states, i))
        }
    }
}

fn match_of(m: &MatchSpec) -> Match {
    let field = field_of(m.field);
    let first = value_of(field, m.value);
    let value = match m.second.map(|s| value_of(field, s)) {
        Some(second) if second != first && field != Field::CtState => {
            Value::Set(SetRef::Anonymous(vec![first, second]))
        }
        _ => first,
    };
    Match {
        field,
        op: if m.ne { CmpOp::Ne } else { CmpOp::Eq },
        value,
    }
}

/// Which world a chain belongs to.
#[derive(Clone, Copy, PartialEq)]
enum World {
    Filter,
    Nat,
}

struct Decoder {
    /// Regular chains of each world, in order.
    filter_chains: Vec<ChainId>,
    nat_chains: Vec<ChainId>,
}

impl Decoder {
    /// Chains that chain `at` (0 = the base chain) of `world` may jump to.
    fn targets(&self, world: World, at: usize) -> &[ChainId] {
        let chains = match world {
            World::Filter => &self.filter_chains,
            World::Nat => &self.nat_chains,
        };
        &chains[at.min(chains.len())..]
    }

    fn rule(&self, world: World, at: usize, spec: &RuleSpec, extra: Option<(u8, Match)>) -> Rule {
        let mut matches: Vec<Match> = spec.matches.iter().map(match_of).collect();
        if let Some((pos, key)) = extra {
            let pos = usize::from(pos) % (matches.len() + 1);
            matches.insert(pos, key);
        }
        let targets = self.targets(world, at);
        let target = (!targets.is_empty()).then(|| pick(targets, spec.target));
        let p = Provenance::Layout("proptest");
        let r = |v| Rule::new(p.clone(), matches.clone(), v);
        let jump_or = |make: fn(ChainId) -> Verdict| Some(target.map_or(Verdict::Accept, make));
        match world {
            World::Filter => match spec.action % 10 {
                0 => r(Some(Verdict::Accept)),
                1 => r(Some(Verdict::Drop)),
                2 => r(Some(Verdict::Reject(RejectKind::Default))),
                3 => r(Some(Verdict::Return)),
                4 => r(jump_or(Verdict::Jump)),
                5 => r(jump_or(Verdict::Goto)),
                6 => r(None).with(Statement::Counter),
                7 => r(None).with(Statement::ChecksumFill),
                8 => {
                    let mut elems = vec![(vec![ifname("a")], Verdict::Accept)];
                    if let Some(t) = target {
                        elems.push((vec![ifname("b")], Verdict::Jump(t)));
                    }
                    elems.push((vec![ifname("c")], Verdict::Return));
                    r(Some(Verdict::Vmap {
                        key: vec![Field::IifName],
                        map: MapRef::Anonymous(elems),
                    }))
                }
                _ => r(Some(Verdict::Accept)).with(Statement::Counter),
            },
            World::Nat => {
                let ports = Some(PortRange::new(1024, 65535).unwrap());
                match spec.action % 9 {
                    0 => r(Some(Verdict::Accept)),
                    1 => r(Some(Verdict::Return)),
                    2 => r(jump_or(Verdict::Jump)),
                    3 => r(jump_or(Verdict::Goto)),
                    4 => r(None).with(Statement::Nat(Nat::Masquerade { ports: None })),
                    5 => r(None).with(Statement::Nat(Nat::Masquerade { ports })),
                    6 => r(None).with(Statement::Nat(Nat::Snat {
                        addr: AddrRange::single("192.0.2.1".parse().unwrap()),
                        ports: None,
                    })),
                    7 => r(None).with(Statement::Counter),
                    _ => r(Some(Verdict::Drop)),
                }
            }
        }
    }

    fn blocks(&self, world: World, at: usize, blocks: &[BlockSpec]) -> Vec<Rule> {
        let mut out = Vec::new();
        for b in blocks {
            match b {
                BlockSpec::Single(spec) => out.push(self.rule(world, at, spec, None)),
                BlockSpec::Keyed {
                    field,
                    groups,
                    interleave,
                } => {
                    let field = field_of(*field);
                    let mut per_key: Vec<Vec<Rule>> = groups
                        .iter()
                        .map(|(key, rules)| {
                            let key = Match::eq(field, value_of(field, *key));
                            rules
                                .iter()
                                .map(|(pos, spec)| {
                                    self.rule(world, at, spec, Some((*pos, key.clone())))
                                })
                                .collect()
                        })
                        .collect();
                    if *interleave {
                        let longest = per_key.iter().map(Vec::len).max().unwrap_or(0);
                        for i in 0..longest {
                            for g in &per_key {
                                if let Some(r) = g.get(i) {
                                    out.push(r.clone());
                                }
                            }
                        }
                    } else {
                        per_key.iter_mut().for_each(|g| out.append(g));
                    }
                }
            }
        }
        out
    }
}

fn ruleset(spec: &Spec) -> Ruleset {
    let mut rs = Ruleset::default();
    let t = rs.table_mut(Family::Inet, &Name::new("t").unwrap(), Ownership::Owned);
    let name = |s: String| Name::new(&s).unwrap();
    let base = |t: &mut ir::Table, n: &str, hook, ty, priority, policy| {
        let kind = ChainKind::Base {
            hook,
            ty,
            priority,
            policy,
        };
        t.add_chain(name(n.into()), kind, Ownership::Owned)
    };
    let policy = if spec.drop_policy {
        Policy::Drop
    } else {
        Policy::Accept
    };
    let fwd = base(t, "forward", Hook::Forward, ChainType::Filter, 0, policy);
    let late = base(
        t,
        "late",
        Hook::Forward,
        ChainType::Filter,
        10,
        Policy::Accept,
    );
    let post = base(
        t,
        "postrouting",
        Hook::Postrouting,
        ChainType::Nat,
        100,
        Policy::Accept,
    );
    let filter_chains: Vec<ChainId> = (1..=REGULAR)
        .map(|i| t.add_chain(name(format!("f{i}")), ChainKind::Regular, Ownership::Owned))
        .collect();
    let nat_chains: Vec<ChainId> = (1..=REGULAR)
        .map(|i| t.add_chain(name(format!("n{i}")), ChainKind::Regular, Ownership::Owned))
        .collect();
    let d = Decoder {
        filter_chains: filter_chains.clone(),
        nat_chains: nat_chains.clone(),
    };
    let filter_ids = std::iter::once(fwd).chain(filter_chains);
    for (at, (id, blocks)) in filter_ids.zip(&spec.filter).enumerate() {
        t.chain_mut(id).rules = d.blocks(World::Filter, at, blocks);
    }
    let nat_ids = std::iter::once(post).chain(nat_chains);
    for (at, (id, blocks)) in nat_ids.zip(&spec.nat).enumerate() {
        t.chain_mut(id).rules = d.blocks(World::Nat, at, blocks);
    }
    t.chain_mut(late).rules = spec
        .late
        .iter()
        .map(|s| {
            let mut r = d.rule(World::Filter, usize::MAX, s, None);
            if matches!(r.verdict, Some(Verdict::Vmap { .. })) {
                r.verdict = Some(Verdict::Drop);
            }
            r
        })
        .collect();
    if spec.pad {
        // Counting untracked packets changes no verdict, and never merges.
        let inert = Rule::new(
            Provenance::Layout("padding"),
            vec![Match::eq(
                Field::CtState,
                Value::CtStates(CtStates {
                    untracked: true,
                    ..CtStates::default()
                }),
            )],
            None,
        )
        .with(Statement::Counter);
        for c in &mut t.chains {
            c.rules.extend(std::iter::repeat_n(inert.clone(), 17));
        }
    }
    if spec.named_map {
        let map = t.add_map(Map {
            name: name("m".into()),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![
                (vec![ifname("a")], Verdict::Jump(d.filter_chains[1])),
                (vec![ifname("b")], Verdict::Drop),
            ],
        });
        t.chain_mut(fwd).rules.insert(
            0,
            Rule::new(
                Provenance::Layout("proptest"),
                vec![],
                Some(Verdict::Vmap {
                    key: vec![Field::IifName],
                    map: MapRef::Named(map),
                }),
            ),
        );
    }
    rs
}

// -------------------------------------------------------------- packets

#[derive(Debug, Clone)]
struct PacketSpec {
    iif: Option<u8>,
    oif: Option<u8>,
    v6: bool,
    saddr: u8,
    daddr: u8,
    proto: u8,
    sport: u8,
    dport: u8,
    ct: u8,
}

fn packet_spec() -> impl Strategy<Value = PacketSpec> {
    (
        prop::option::weighted(0.9, any::<u8>()),
        prop::option::weighted(0.9, any::<u8>()),
        prop::bool::weighted(0.3),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
    )
        .prop_map(
            |(iif, oif, v6, saddr, daddr, proto, sport, dport, ct)| PacketSpec {
                iif,
                oif,
                v6,
                saddr,
                daddr,
                proto,
                sport,
                dport,
                ct,
            },
        )
}

fn packet(s: &PacketSpec) -> Packet {
    let addrs: &[&str] = if s.v6 { &ADDRS6 } else { &ADDRS4 };
    let addr = |i: u8| -> IpAddr { pick(addrs, i).parse().unwrap() };
    let proto = match s.proto % 4 {
        0 => None,
        1 => Some(L4Proto::Tcp),
        2 => Some(L4Proto::Udp),
        _ => Some(if s.v6 { L4Proto::Icmpv6 } else { L4Proto::Icmp }),
    };
    let ported = proto.is_some_and(L4Proto::has_ports);
    let mut ct = CtStates::default();
    match s.ct % 4 {
        0 => ct.new = true,
        1 => ct.established = true,
        2 => ct.related = true,
        _ => ct.invalid = true,
    }
    Packet {
        iif: s.iif.map(|i| pick(&PACKET_IFNAMES, i).to_owned()),
        oif: s.oif.map(|i| pick(&PACKET_IFNAMES, i).to_owned()),
        saddr: Some(addr(s.saddr)),
        daddr: Some(addr(s.daddr)),
        proto,
        sport: ported.then(|| pick(&PACKET_PORTS, s.sport)),
        dport: ported.then(|| pick(&PACKET_PORTS, s.dport)),
        ct,
        ..Packet::default()
    }
}

// ------------------------------------------------------------ behaviour

/// What a ruleset does to a packet, as far as behaviour goes: per hook the
/// decision, the NAT, the checksum fix, and each base chain's decision and
/// whether a rule (not the policy) made it. Chains are named, not indexed,
/// since passes renumber them.
type Behaviour = Vec<(Decision, Option<Nat>, bool, Vec<(String, Decision, bool)>)>;

fn behaviour(rs: &Ruleset, p: &Packet) -> Behaviour {
    [Hook::Forward, Hook::Postrouting]
        .iter()
        .map(|&hook| {
            let o = evaluate(rs, hook, p);
            let chains = o
                .chains
                .iter()
                .map(|c| {
                    let name = rs.tables[c.table].chain(c.chain).name.to_string();
                    let by_rule = matches!(c.decided_by, DecidedBy::Rule(_));
                    (name, c.decision.clone(), by_rule)
                })
                .collect();
            (o.decision, o.nat, o.checksum_fill, chains)
        })
        .collect()
}

fn check(name: &str, apply: &dyn Fn(&mut Ruleset), spec: &Spec, packets: &[PacketSpec]) {
    let before = ruleset(spec);
    assert_eq!(
        ir::validate(&before),
        Ok(()),
        "generated ruleset:\n{before}"
    );
    let mut after = before.clone();
    apply(&mut after);
    assert_eq!(
        ir::validate(&after),
        Ok(()),
        "{name} made the ruleset invalid:\n{after}"
    );
    for ps in packets {
        let p = packet(ps);
        assert_eq!(
            behaviour(&before, &p),
            behaviour(&after, &p),
            "{name} changed what happens to {p:?}\nbefore:\n{before}\nafter:\n{after}"
        );
    }
}

fn config() -> Config {
    Config {
        cases: 192,
        failure_persistence: None,
        ..Config::default()
    }
}

fn pass(name: &str) -> Pass {
    passes::by_name(name).unwrap_or_else(|| panic!("no pass {name}"))
}

macro_rules! pass_keeps_behaviour {
    ($test:ident, $name:literal) => {
        proptest! {
            #![proptest_config(config())]
            #[test]
            fn $test(spec in spec(), packets in prop::collection::vec(packet_spec(), 48)) {
                let p = pass($name);
                check($name, &|rs| p(rs), &spec, &packets);
            }
        }
    };
}

pass_keeps_behaviour!(dedupe_keeps_behaviour, "dedupe");
pass_keeps_behaviour!(shadow_keeps_behaviour, "shadow");
pass_keeps_behaviour!(merge_keeps_behaviour, "merge");
pass_keeps_behaviour!(vmap_keeps_behaviour, "vmap");
pass_keeps_behaviour!(dispatch_keeps_behaviour, "dispatch");
pass_keeps_behaviour!(named_keeps_behaviour, "named");
pass_keeps_behaviour!(unreachable_keeps_behaviour, "unreachable");

proptest! {
    #![proptest_config(config())]
    #[test]
    fn the_whole_pipeline_keeps_behaviour(
        spec in spec(),
        packets in prop::collection::vec(packet_spec(), 48),
    ) {
        check("every pass", &passes::run_all, &spec, &packets);
    }
}

/// Each pass has its property above; a new pass must get one too.
#[test]
fn every_pass_has_a_property() {
    let covered = [
        "dedupe",
        "shadow",
        "merge",
        "vmap",
        "dispatch",
        "named",
        "unreachable",
    ];
    let listed: Vec<_> = PASSES.iter().map(|(n, _)| *n).collect();
    assert_eq!(listed, covered);
}

/// The generator is not vacuous: the passes do rewrite what it makes.
#[test]
fn generated_rulesets_give_the_passes_work() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut changed = std::collections::BTreeMap::new();
    for _ in 0..200 {
        let spec = spec().new_tree(&mut runner).unwrap().current();
        let rs = ruleset(&spec);
        for (name, p) in PASSES {
            let mut after = rs.clone();
            p(&mut after);
            if after != rs {
                *changed.entry(*name).or_insert(0) += 1;
            }
        }
    }
    for (name, _) in PASSES {
        let n = changed.get(name).copied().unwrap_or(0);
        assert!(
            n >= 10,
            "pass {name} changed only {n} of 200 rulesets: {changed:?}"
        );
    }
}
