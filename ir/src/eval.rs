//! The packet evaluator: what a ruleset does to one packet at one hook.
//!
//! It follows nftables' semantics, which iptables and ebtables share for
//! everything the IR can say: base chains on a hook run in priority order;
//! `accept` ends a base chain but the next base chain still sees the packet;
//! `drop`/`reject` are final; falling off a base chain applies its policy;
//! `return` (or the end) of a regular chain goes back to the caller. A match on
//! a field the packet does not have (a port of a UDP packet in a `tcp dport`
//! match, an IPv6 address of an IPv4 packet) fails, whatever the operator,
//! because nft adds the implicit protocol dependency.
//!
//! ```
//! use ir::*;
//! use ir::eval::{evaluate, Decision, Packet};
//! let mut rs = Ruleset::default();
//! let t = rs.table_mut(Family::Inet, &Name::new("t").unwrap(), Ownership::Owned);
//! let c = t.add_chain(
//!     Name::new("fwd").unwrap(),
//!     ChainKind::Base { hook: Hook::Forward, ty: ChainType::Filter, priority: 0, policy: Policy::Accept },
//!     Ownership::Owned,
//! );
//! t.chain_mut(c).rules.push(Rule::new(
//!     Provenance::Layout("doc"),
//!     vec![Match::eq(Field::IifName, Value::Ifname(Ifname::new("virbr0").unwrap()))],
//!     Some(Verdict::Reject(RejectKind::Default)),
//! ));
//! let pkt = Packet::ipv4("10.0.0.1", "10.0.0.2").iif("virbr0");
//! assert!(matches!(evaluate(&rs, Hook::Forward, &pkt).decision, Decision::Reject(_)));
//! ```

use std::net::IpAddr;

use crate::provenance::Provenance;
use crate::rule::{
    CmpOp, Field, IpFamily, MapRef, Match, Nat, RejectKind, SetRef, Statement, Value, Verdict,
};
use crate::ruleset::{ChainId, ChainKind, ChainType, Family, Hook, Policy, Ruleset, Table};
use crate::value::{CtDirection, CtStates, L4Proto, MacAddr};

/// A packet as the evaluator sees it. Absent fields are `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Packet {
    /// Input interface name.
    pub iif: Option<String>,
    /// Output interface name.
    pub oif: Option<String>,
    /// Ethernet source (bridge family).
    pub ether_saddr: Option<MacAddr>,
    /// Ethernet destination (bridge family).
    pub ether_daddr: Option<MacAddr>,
    /// Source address; its family is the packet's.
    pub saddr: Option<IpAddr>,
    /// Destination address.
    pub daddr: Option<IpAddr>,
    /// Layer-4 protocol.
    pub proto: Option<L4Proto>,
    /// Source port (protocols with ports).
    pub sport: Option<u16>,
    /// Destination port (protocols with ports).
    pub dport: Option<u16>,
    /// Conntrack state: exactly one of its flags should be set.
    pub ct: CtStates,
    /// The packet's direction in its connection.
    pub ct_direction: Option<CtDirection>,
    /// Ethernet type (bridge family).
    pub ether_type: Option<u16>,
    /// DSCP of the IP header.
    pub dscp: Option<u8>,
    /// TCP flags (bits as in [`crate::TcpFlagSet`]).
    pub tcp_flags: Option<u8>,
    /// ICMP or ICMPv6 type.
    pub icmp_type: Option<u8>,
    /// ICMP or ICMPv6 code.
    pub icmp_code: Option<u8>,
    /// Bridge port the packet entered by.
    pub phys_in: Option<String>,
    /// Bridge port the packet leaves by.
    pub phys_out: Option<String>,
    /// Whether the packet is being bridged.
    pub bridged: bool,
}

impl Packet {
    /// A new-connection IPv4 packet. Panics on malformed literals (test helper).
    pub fn ipv4(saddr: &str, daddr: &str) -> Packet {
        Packet::ip(saddr, daddr)
    }

    /// A new-connection packet of the family of its literals. Panics on malformed literals.
    pub fn ip(saddr: &str, daddr: &str) -> Packet {
        Packet {
            saddr: Some(saddr.parse().expect("source address")),
            daddr: Some(daddr.parse().expect("destination address")),
            ct: CtStates {
                new: true,
                ..CtStates::default()
            },
            ..Packet::default()
        }
    }

    /// Sets the input interface.
    pub fn iif(mut self, name: &str) -> Packet {
        self.iif = Some(name.to_owned());
        self
    }

    /// Sets the output interface.
    pub fn oif(mut self, name: &str) -> Packet {
        self.oif = Some(name.to_owned());
        self
    }

    /// Sets protocol and destination port (source port 40000).
    pub fn l4(mut self, proto: L4Proto, dport: u16) -> Packet {
        self.proto = Some(proto);
        if proto.has_ports() {
            self.sport = Some(40000);
            self.dport = Some(dport);
        }
        self
    }

    /// Sets the conntrack state.
    pub fn ct(mut self, state: CtStates) -> Packet {
        self.ct = state;
        self
    }

    /// The packet's IP family, if it has addresses.
    pub fn family(&self) -> Option<IpFamily> {
        self.saddr.or(self.daddr).map(|a| IpFamily::of(&a))
    }
}

/// The final fate of the packet at the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Passed every base chain.
    Accept,
    /// Dropped.
    Drop,
    /// Rejected with the given answer.
    Reject(RejectKind),
}

/// What decided a base chain's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidedBy {
    /// A rule's verdict or NAT statement.
    Rule(RuleRef),
    /// The chain's policy, because no rule decided.
    Policy,
}

/// A rule's address in the ruleset, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRef {
    /// Index into `Ruleset::tables`.
    pub table: usize,
    /// The chain in that table.
    pub chain: ChainId,
    /// Index into the chain's rules.
    pub rule: usize,
    /// Where the rule came from.
    pub provenance: Provenance,
}

/// The outcome of one base chain the packet traversed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseChainOutcome {
    /// Index into `Ruleset::tables`.
    pub table: usize,
    /// The base chain.
    pub chain: ChainId,
    /// Its verdict for the packet (`Accept` also for NAT).
    pub decision: Decision,
    /// Whether a rule or the policy decided.
    pub decided_by: DecidedBy,
}

/// Everything the evaluator found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The packet's fate at the hook.
    pub decision: Decision,
    /// The address translation applied, if any.
    pub nat: Option<Nat>,
    /// Every rule that matched, in order.
    pub trace: Vec<RuleRef>,
    /// Each base chain's verdict, in the order they ran.
    pub chains: Vec<BaseChainOutcome>,
    /// Whether a rule requested a checksum fill.
    pub checksum_fill: bool,
}

/// Bounds jump depth so a malformed (unvalidated) ruleset cannot hang us.
const MAX_DEPTH: usize = 64;

/// Evaluates `packet` at `hook` against every base chain of `rs` on that hook.
/// Tables whose family cannot see the packet are skipped. NAT base chains
/// only see packets in conntrack state `new`, as in the kernel.
pub fn evaluate(rs: &Ruleset, hook: Hook, packet: &Packet) -> Outcome {
    let mut bases: Vec<(i32, usize, ChainId)> = Vec::new();
    for (ti, t) in rs.tables.iter().enumerate() {
        if !family_sees(t.family, packet) {
            continue;
        }
        for (ci, c) in t.chains.iter().enumerate() {
            if let ChainKind::Base {
                hook: h,
                ty,
                priority,
                ..
            } = c.kind
            {
                if h == hook && (ty != ChainType::Nat || packet.ct.new) {
                    bases.push((priority, ti, ChainId(ci)));
                }
            }
        }
    }
    // Stable: equal priorities keep table/chain declaration order.
    bases.sort_by_key(|(p, _, _)| *p);

    let mut out = Outcome {
        decision: Decision::Accept,
        nat: None,
        trace: Vec::new(),
        chains: Vec::new(),
        checksum_fill: false,
    };
    for (_, ti, cid) in bases {
        let table = &rs.tables[ti];
        let (decision, decided_by) = run_base(table, ti, cid, packet, &mut out);
        out.chains.push(BaseChainOutcome {
            table: ti,
            chain: cid,
            decision: decision.clone(),
            decided_by,
        });
        if decision != Decision::Accept {
            out.decision = decision;
            break;
        }
    }
    out
}

fn family_sees(family: Family, p: &Packet) -> bool {
    match (family, p.family()) {
        (Family::Ip, Some(IpFamily::V4)) | (Family::Ip6, Some(IpFamily::V6)) => true,
        (Family::Ip | Family::Ip6, _) => false,
        (Family::Inet, f) => f.is_some(),
        (Family::Bridge | Family::Netdev, _) => true,
    }
}

/// What a chain walk ended with.
enum Flow {
    Final(Decision, RuleRef),
    Nat(RuleRef),
    /// Fell off the end of a regular chain whose end policy decides.
    EndPolicy(Decision),
    /// Fell off the end or returned.
    Continue,
}

fn run_base(
    t: &Table,
    ti: usize,
    cid: ChainId,
    p: &Packet,
    out: &mut Outcome,
) -> (Decision, DecidedBy) {
    match walk(t, ti, cid, p, out, 0) {
        Flow::Final(d, r) => (d, DecidedBy::Rule(r)),
        Flow::Nat(r) => (Decision::Accept, DecidedBy::Rule(r)),
        Flow::EndPolicy(d) => (d, DecidedBy::Policy),
        Flow::Continue => {
            let policy = match t.chains[cid.0].kind {
                ChainKind::Base { policy, .. } => policy,
                ChainKind::Regular => Policy::Accept,
            };
            let d = match policy {
                Policy::Accept => Decision::Accept,
                Policy::Drop => Decision::Drop,
            };
            (d, DecidedBy::Policy)
        }
    }
}

fn walk(t: &Table, ti: usize, cid: ChainId, p: &Packet, out: &mut Outcome, depth: usize) -> Flow {
    if depth > MAX_DEPTH {
        return Flow::Continue;
    }
    let Some(chain) = t.chains.get(cid.0) else {
        return Flow::Continue;
    };
    for (ri, rule) in chain.rules.iter().enumerate() {
        if !rule.matches.iter().all(|m| matches(t, m, p)) {
            continue;
        }
        let here = RuleRef {
            table: ti,
            chain: cid,
            rule: ri,
            provenance: rule.provenance.clone(),
        };
        out.trace.push(here.clone());
        for s in &rule.statements {
            match s {
                Statement::Nat(n) => {
                    out.nat = Some(n.clone());
                    return Flow::Nat(here);
                }
                Statement::ChecksumFill => out.checksum_fill = true,
                Statement::Counter | Statement::Log { .. } => {}
            }
        }
        let verdict = match &rule.verdict {
            Some(Verdict::Vmap { key, map }) => match lookup(t, key, map, p) {
                Some(v) => v,
                None => continue,
            },
            Some(v) => v.clone(),
            None => continue,
        };
        match verdict {
            Verdict::Accept => return Flow::Final(Decision::Accept, here),
            Verdict::Drop => return Flow::Final(Decision::Drop, here),
            Verdict::Reject(k) => return Flow::Final(Decision::Reject(k), here),
            Verdict::Return => return Flow::Continue,
            Verdict::Jump(c) => match walk(t, ti, c, p, out, depth + 1) {
                Flow::Continue => {}
                done => return done,
            },
            Verdict::Goto(c) => return walk(t, ti, c, p, out, depth + 1),
            Verdict::Vmap { .. } => {}
        }
    }
    match (&chain.kind, chain.end_policy) {
        (ChainKind::Regular, Some(Policy::Accept)) => Flow::EndPolicy(Decision::Accept),
        (ChainKind::Regular, Some(Policy::Drop)) => Flow::EndPolicy(Decision::Drop),
        _ => Flow::Continue,
    }
}

fn lookup(t: &Table, key: &[Field], map: &MapRef, p: &Packet) -> Option<Verdict> {
    let hit = |k: &[Value]| {
        k.len() == key.len()
            && key
                .iter()
                .zip(k)
                .all(|(f, v)| value_holds(t, *f, v, p) == Some(true))
    };
    match map {
        MapRef::Anonymous(elems) => elems.iter().find(|(k, _)| hit(k)).map(|(_, v)| v.clone()),
        MapRef::Named(id) => t
            .maps
            .get(id.0)?
            .elements
            .iter()
            .find(|(k, _)| hit(k))
            .map(|(_, v)| v.clone()),
    }
}

fn matches(t: &Table, m: &Match, p: &Packet) -> bool {
    match value_holds(t, m.field, &m.value, p) {
        // The packet lacks the field: nft's implicit dependency fails the rule.
        None => false,
        Some(eq) => match m.op {
            CmpOp::Eq => eq,
            CmpOp::Ne => !eq,
        },
    }
}

/// Whether the packet's `field` equals / lies in `value`; `None` if the packet
/// has no such field.
fn value_holds(t: &Table, field: Field, value: &Value, p: &Packet) -> Option<bool> {
    if let Value::Set(set) = value {
        let items: Vec<&Value> = match set {
            SetRef::Anonymous(items) => items.iter().collect(),
            SetRef::Named(id) => t
                .sets
                .get(id.0)?
                .elements
                .iter()
                .filter_map(|e| e.first())
                .collect(),
        };
        let mut any_field = false;
        for v in items {
            match value_holds(t, field, v, p) {
                Some(true) => return Some(true),
                Some(false) => any_field = true,
                None => {}
            }
        }
        return any_field.then_some(false);
    }
    match (field, value) {
        (Field::Iif | Field::IifName, Value::Ifname(n)) => Some(p.iif.as_deref()? == n.as_str()),
        (Field::Oif | Field::OifName, Value::Ifname(n)) => Some(p.oif.as_deref()? == n.as_str()),
        (Field::Saddr(f), Value::Prefix(net)) => {
            let a = p.saddr?;
            (IpFamily::of(&a) == f).then(|| net.contains(&a))
        }
        (Field::Daddr(f), Value::Prefix(net)) => {
            let a = p.daddr?;
            (IpFamily::of(&a) == f).then(|| net.contains(&a))
        }
        (Field::L4Proto, Value::Proto(proto)) => Some(p.proto? == *proto),
        (Field::L4Proto, Value::Int(r)) => Some(r.contains(p.proto?.number().into())),
        (Field::IpProto(f), Value::Proto(proto)) => {
            (p.family()? == f).then(|| p.proto == Some(*proto))
        }
        (Field::IpProto(f), Value::Int(r)) => {
            (p.family()? == f).then(|| p.proto.is_some_and(|x| r.contains(x.number().into())))
        }
        (Field::Sport(proto), Value::Int(r)) => {
            (p.proto? == proto).then(|| p.sport.is_some_and(|s| r.contains(s.into())))
        }
        (Field::Dport(proto), Value::Int(r)) => {
            (p.proto? == proto).then(|| p.dport.is_some_and(|d| r.contains(d.into())))
        }
        (Field::Sport(proto), Value::Ports(r)) => {
            (p.proto? == proto).then(|| p.sport.is_some_and(|s| r.contains(s)))
        }
        (Field::Dport(proto), Value::Ports(r)) => {
            (p.proto? == proto).then(|| p.dport.is_some_and(|d| r.contains(d)))
        }
        (Field::CtState, Value::CtStates(s)) => Some(
            (s.new && p.ct.new)
                || (s.established && p.ct.established)
                || (s.related && p.ct.related)
                || (s.invalid && p.ct.invalid)
                || (s.untracked && p.ct.untracked),
        ),
        (Field::EtherSaddr, Value::Mac(m)) => Some(p.ether_saddr? == *m),
        (Field::EtherDaddr, Value::Mac(m)) => Some(p.ether_daddr? == *m),
        (Field::EtherSaddr, Value::MacMasked { addr, mask }) => {
            Some(masked_eq(p.ether_saddr?, *addr, *mask))
        }
        (Field::EtherDaddr, Value::MacMasked { addr, mask }) => {
            Some(masked_eq(p.ether_daddr?, *addr, *mask))
        }
        (Field::Saddr(f), Value::AddrRange(r)) => {
            let a = p.saddr?;
            (IpFamily::of(&a) == f).then(|| r.start <= a && a <= r.end)
        }
        (Field::Daddr(f), Value::AddrRange(r)) => {
            let a = p.daddr?;
            (IpFamily::of(&a) == f).then(|| r.start <= a && a <= r.end)
        }
        (Field::EtherType, Value::Int(r)) => Some(r.contains(p.ether_type?.into())),
        (Field::Dscp(f), Value::Int(r)) => {
            (p.family()? == f).then(|| p.dscp.is_some_and(|d| r.contains(d.into())))
        }
        (Field::IcmpType(f), Value::Int(r)) => {
            icmp(p, f).then(|| p.icmp_type.is_some_and(|t| r.contains(t.into())))
        }
        (Field::IcmpCode(f), Value::Int(r)) => {
            icmp(p, f).then(|| p.icmp_code.is_some_and(|c| r.contains(c.into())))
        }
        (Field::TcpFlags, Value::TcpFlags { mask, set }) => {
            (p.proto? == L4Proto::Tcp).then(|| p.tcp_flags.unwrap_or(0) & mask.0 == set.0)
        }
        (Field::CtDirection, Value::CtDir(d)) => Some(p.ct_direction? == *d),
        (Field::PhysIn, Value::Ifname(n)) => Some(p.phys_in.as_deref()? == n.as_str()),
        (Field::PhysOut, Value::Ifname(n)) => Some(p.phys_out.as_deref()? == n.as_str()),
        (Field::PhysIsBridged, Value::Bool(b)) => Some(p.bridged == *b),
        // ARP, STP, VLAN, connection counts and ipsets are not modelled by
        // packets: such matches fail, as a missing header does.
        _ => None,
    }
}

fn masked_eq(v: MacAddr, addr: MacAddr, mask: MacAddr) -> bool {
    (0..6).all(|i| v.0[i] & mask.0[i] == addr.0[i] & mask.0[i])
}

/// Whether the packet is ICMP of the family an ICMP field names.
fn icmp(p: &Packet, f: IpFamily) -> bool {
    let proto = if f == IpFamily::V4 {
        L4Proto::Icmp
    } else {
        L4Proto::Icmpv6
    };
    p.family() == Some(f) && p.proto == Some(proto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;
    use crate::ruleset::Ownership;
    use crate::value::{Ifname, Name, PortRange};

    fn ifv(n: &str) -> Value {
        Value::Ifname(Ifname::new(n).unwrap())
    }

    fn base(hook: Hook, ty: ChainType, priority: i32, policy: Policy) -> ChainKind {
        ChainKind::Base {
            hook,
            ty,
            priority,
            policy,
        }
    }

    fn rule(matches: Vec<Match>, verdict: Option<Verdict>) -> Rule {
        Rule::new(Provenance::Layout("test"), matches, verdict)
    }

    /// A miniature of libvirt's NAT network: forward jumps to guest chains.
    fn nat_net() -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &Name::new("t").unwrap(), Ownership::Owned);
        let fwd = t.add_chain(
            Name::new("forward").unwrap(),
            base(Hook::Forward, ChainType::Filter, 0, Policy::Accept),
            Ownership::Owned,
        );
        let out = t.add_chain(
            Name::new("guest_output").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        let inp = t.add_chain(
            Name::new("guest_input").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        let nat = t.add_chain(
            Name::new("nat").unwrap(),
            base(Hook::Postrouting, ChainType::Nat, 100, Policy::Accept),
            Ownership::Owned,
        );
        let net = Value::Prefix("192.168.122.0/24".parse().unwrap());
        t.chain_mut(fwd).rules = vec![
            rule(vec![], Some(Verdict::Jump(inp))),
            rule(vec![], Some(Verdict::Jump(out))),
        ];
        t.chain_mut(out).rules = vec![
            rule(
                vec![
                    Match::eq(Field::Saddr(IpFamily::V4), net.clone()),
                    Match::eq(Field::Iif, ifv("virbr0")),
                ],
                Some(Verdict::Accept),
            ),
            rule(
                vec![Match::eq(Field::Iif, ifv("virbr0"))],
                Some(Verdict::Reject(RejectKind::Default)),
            ),
        ];
        t.chain_mut(inp).rules = vec![
            rule(
                vec![
                    Match::eq(Field::Oif, ifv("virbr0")),
                    Match::eq(Field::Daddr(IpFamily::V4), net.clone()),
                    Match::eq(
                        Field::CtState,
                        Value::CtStates(CtStates::RELATED_ESTABLISHED),
                    ),
                ],
                Some(Verdict::Accept),
            ),
            rule(
                vec![Match::eq(Field::Oif, ifv("virbr0"))],
                Some(Verdict::Reject(RejectKind::Default)),
            ),
        ];
        t.chain_mut(nat).rules = vec![
            rule(
                vec![
                    Match::eq(Field::Saddr(IpFamily::V4), net.clone()),
                    Match::eq(
                        Field::Daddr(IpFamily::V4),
                        Value::Prefix("224.0.0.0/24".parse().unwrap()),
                    ),
                ],
                Some(Verdict::Return),
            ),
            rule(
                vec![
                    Match::eq(Field::Saddr(IpFamily::V4), net.clone()),
                    Match::ne(Field::Daddr(IpFamily::V4), net),
                ],
                None,
            )
            .with(Statement::Nat(Nat::Masquerade { ports: None })),
        ];
        crate::validate(&rs).unwrap();
        rs
    }

    #[test]
    fn guest_to_outside_is_accepted_and_masqueraded() {
        let rs = nat_net();
        let p = Packet::ipv4("192.168.122.5", "8.8.8.8")
            .iif("virbr0")
            .oif("eth0")
            .l4(L4Proto::Tcp, 443);
        let fwd = evaluate(&rs, Hook::Forward, &p);
        assert_eq!(fwd.decision, Decision::Accept);
        assert!(matches!(fwd.chains[0].decided_by, DecidedBy::Rule(ref r) if r.rule == 0));
        let post = evaluate(&rs, Hook::Postrouting, &p);
        assert_eq!(post.nat, Some(Nat::Masquerade { ports: None }));
    }

    #[test]
    fn spoofed_source_and_unsolicited_inbound_are_rejected() {
        let rs = nat_net();
        let spoof = Packet::ipv4("10.1.1.1", "8.8.8.8")
            .iif("virbr0")
            .oif("eth0");
        assert_eq!(
            evaluate(&rs, Hook::Forward, &spoof).decision,
            Decision::Reject(RejectKind::Default)
        );
        let inbound = Packet::ipv4("8.8.8.8", "192.168.122.5")
            .iif("eth0")
            .oif("virbr0");
        assert_eq!(
            evaluate(&rs, Hook::Forward, &inbound).decision,
            Decision::Reject(RejectKind::Default)
        );
        let reply = inbound.ct(CtStates::RELATED_ESTABLISHED);
        assert_eq!(
            evaluate(&rs, Hook::Forward, &reply).decision,
            Decision::Accept
        );
    }

    #[test]
    fn unrelated_traffic_falls_through_to_the_policy() {
        let rs = nat_net();
        let p = Packet::ipv4("10.0.0.1", "10.0.0.2").iif("eth0").oif("eth1");
        let o = evaluate(&rs, Hook::Forward, &p);
        assert_eq!(o.decision, Decision::Accept);
        assert_eq!(o.chains[0].decided_by, DecidedBy::Policy);
        assert!(
            o.trace.len() == 2,
            "only the two jumps matched: {:?}",
            o.trace
        );
    }

    #[test]
    fn multicast_returns_before_nat_and_established_skips_nat_chains() {
        let rs = nat_net();
        let mc = Packet::ipv4("192.168.122.5", "224.0.0.251").oif("eth0");
        assert_eq!(evaluate(&rs, Hook::Postrouting, &mc).nat, None);
        let est = Packet::ipv4("192.168.122.5", "8.8.8.8")
            .oif("eth0")
            .ct(CtStates::RELATED_ESTABLISHED);
        assert!(evaluate(&rs, Hook::Postrouting, &est).chains.is_empty());
    }

    #[test]
    fn ipv6_packets_do_not_see_ip_tables() {
        let rs = nat_net();
        let p = Packet::ip("fd00::1", "fd00::2").iif("virbr0");
        let o = evaluate(&rs, Hook::Forward, &p);
        assert!(o.chains.is_empty());
        assert_eq!(o.decision, Decision::Accept);
    }

    #[test]
    fn missing_fields_fail_even_negated_matches_and_sets_match_any() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("t").unwrap(), Ownership::Owned);
        let c = t.add_chain(
            Name::new("in").unwrap(),
            base(Hook::Input, ChainType::Filter, 0, Policy::Drop),
            Ownership::Owned,
        );
        let ports = Value::Set(SetRef::Anonymous(vec![
            Value::Ports(PortRange::new(53, 53).unwrap()),
            Value::Ports(PortRange::new(67, 68).unwrap()),
        ]));
        t.chain_mut(c).rules = vec![
            rule(
                vec![Match::ne(
                    Field::Dport(L4Proto::Tcp),
                    Value::Ports(PortRange::new(22, 22).unwrap()),
                )],
                Some(Verdict::Reject(RejectKind::TcpReset)),
            ),
            rule(
                vec![Match::eq(Field::Dport(L4Proto::Udp), ports)],
                Some(Verdict::Accept),
            ),
        ];
        let dhcp = Packet::ipv4("0.0.0.0", "255.255.255.255").l4(L4Proto::Udp, 67);
        let o = evaluate(&rs, Hook::Input, &dhcp);
        assert_eq!(
            o.decision,
            Decision::Accept,
            "udp is not caught by a tcp != match"
        );
        assert_eq!(o.trace.len(), 1);
        let other = Packet::ipv4("10.0.0.1", "10.0.0.2").l4(L4Proto::Udp, 1234);
        assert_eq!(evaluate(&rs, Hook::Input, &other).decision, Decision::Drop);
        let ssh = Packet::ipv4("10.0.0.1", "10.0.0.2").l4(L4Proto::Tcp, 22);
        assert_eq!(
            evaluate(&rs, Hook::Input, &ssh).chains[0].decided_by,
            DecidedBy::Policy
        );
    }

    #[test]
    fn nwfilter_fields_compare_as_their_headers_say() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Bridge, &Name::new("t").unwrap(), Ownership::Owned);
        let c = t.add_chain(
            Name::new("c").unwrap(),
            base(Hook::Forward, ChainType::Filter, 0, Policy::Accept),
            Ownership::Owned,
        );
        let mac = |s: &str| s.parse::<MacAddr>().unwrap();
        t.chain_mut(c).rules = vec![rule(
            vec![
                Match::eq(
                    Field::EtherSaddr,
                    Value::MacMasked {
                        addr: mac("52:54:00:00:00:00"),
                        mask: mac("ff:ff:ff:00:00:00"),
                    },
                ),
                Match::eq(
                    Field::EtherType,
                    Value::Int(crate::value::IntRange::single(0x0800)),
                ),
                Match::eq(Field::CtDirection, Value::CtDir(CtDirection::Original)),
            ],
            Some(Verdict::Drop),
        )];
        let mut p = Packet::ipv4("10.0.0.1", "10.0.0.2");
        p.ether_saddr = Some(mac("52:54:00:12:34:56"));
        p.ether_type = Some(0x0800);
        p.ct_direction = Some(CtDirection::Original);
        assert_eq!(evaluate(&rs, Hook::Forward, &p).decision, Decision::Drop);
        p.ct_direction = Some(CtDirection::Reply);
        assert_eq!(evaluate(&rs, Hook::Forward, &p).decision, Decision::Accept);
        p.ct_direction = Some(CtDirection::Original);
        p.ether_saddr = Some(mac("52:55:00:12:34:56"));
        assert_eq!(evaluate(&rs, Hook::Forward, &p).decision, Decision::Accept);
    }

    /// An ebtables user chain keeps its ACCEPT policy: a frame falling off
    /// it is accepted, not returned to the rules after the jump.
    #[test]
    fn end_policies_decide_at_the_end_of_regular_chains() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(
            Family::Bridge,
            &Name::new("nat").unwrap(),
            Ownership::External,
        );
        let pre = t.add_chain(
            Name::new("PREROUTING").unwrap(),
            base(Hook::Prerouting, ChainType::Filter, -300, Policy::Accept),
            Ownership::External,
        );
        let port = t.add_chain(
            Name::new("libvirt-I-vnet0").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        t.chain_mut(pre).rules = vec![
            rule(
                vec![Match::eq(Field::IifName, ifv("vnet0"))],
                Some(Verdict::Jump(port)),
            ),
            rule(vec![], Some(Verdict::Drop)),
        ];
        let p = Packet::ipv4("10.0.0.5", "10.0.0.1").iif("vnet0");
        assert_eq!(evaluate(&rs, Hook::Prerouting, &p).decision, Decision::Drop);
        rs.tables[0].chain_mut(port).end_policy = Some(Policy::Accept);
        let o = evaluate(&rs, Hook::Prerouting, &p);
        assert_eq!(o.decision, Decision::Accept);
        assert_eq!(o.chains[0].decided_by, DecidedBy::Policy);
        rs.tables[0].chain_mut(port).end_policy = Some(Policy::Drop);
        let other = Packet::ipv4("10.0.0.5", "10.0.0.1").iif("vnet1");
        assert_eq!(
            evaluate(&rs, Hook::Prerouting, &other).decision,
            Decision::Drop
        );
        assert_eq!(evaluate(&rs, Hook::Prerouting, &p).decision, Decision::Drop);
    }

    #[test]
    fn verdict_maps_dispatch_by_key_and_base_chains_run_by_priority() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("t").unwrap(), Ownership::Owned);
        let late = t.add_chain(
            Name::new("late").unwrap(),
            base(Hook::Forward, ChainType::Filter, 10, Policy::Accept),
            Ownership::Owned,
        );
        let early = t.add_chain(
            Name::new("early").unwrap(),
            base(Hook::Forward, ChainType::Filter, -10, Policy::Accept),
            Ownership::Owned,
        );
        let per_br = t.add_chain(
            Name::new("br1").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        t.chain_mut(per_br).rules = vec![rule(vec![], Some(Verdict::Drop))];
        t.chain_mut(early).rules = vec![rule(
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::IifName],
                map: MapRef::Anonymous(vec![(vec![ifv("br1")], Verdict::Jump(per_br))]),
            }),
        )];
        t.chain_mut(late).rules = vec![rule(vec![], Some(Verdict::Accept))];
        let from_br1 = Packet::ipv4("10.0.0.1", "10.0.0.2").iif("br1");
        let o = evaluate(&rs, Hook::Forward, &from_br1);
        assert_eq!(o.decision, Decision::Drop);
        assert_eq!(
            o.chains.len(),
            1,
            "the later base chain never runs after a drop"
        );
        let from_br2 = Packet::ipv4("10.0.0.1", "10.0.0.2").iif("br2");
        let o = evaluate(&rs, Hook::Forward, &from_br2);
        assert_eq!(o.decision, Decision::Accept);
        assert_eq!(
            o.chains.iter().map(|c| c.chain).collect::<Vec<_>>(),
            vec![early, late]
        );
    }
}
