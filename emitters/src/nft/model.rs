//! A rule as nft structures it: the one intermediate that the text writer
//! ([`super::render`]) and the JSON writer (`crate::json`) both print.
//!
//! Everything nft-specific about a rule is decided here once: which
//! expression reads a field ([`lhs`]), which statements a rule has and in
//! which order (a checksum fill has none, an otherwise empty rule is
//! `continue`: [`statements`]), how a reject answers in each table family
//! ([`reject`]), when a translation names its address family, which key
//! types sets and maps declare ([`key_type_names`]) and when a prefix is
//! written as a bare address ([`bare_address`]). The writers only spell.

use ipnet::IpNet;
use ir::{
    AddrRange, ArpField, Comment, Family, Field, IpFamily, KeyType, Match, Nat, PortRange,
    RejectKind, Rule, Statement, StpField, Table, Value, Verdict,
};

/// Where nft reads a field from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lhs {
    /// Packet meta data. A `bare` key is written without the `meta` keyword
    /// in text (`iifname`), as nft itself lists it.
    Meta {
        /// `iif`, `iifname`, `l4proto`, ...
        key: &'static str,
        /// Whether text omits `meta`.
        bare: bool,
    },
    /// A header field.
    Payload {
        /// `ip`, `ip6`, `tcp`, `ether`, ...
        protocol: &'static str,
        /// `saddr`, `dport`, ...
        field: &'static str,
    },
    /// Conntrack data.
    Ct {
        /// `state`.
        key: &'static str,
    },
    /// Raw bits of a header (`@nh,48,8`), for fields nft has no name for.
    Raw {
        /// `nh` (the network header, where STP and RARP start in a bridge).
        base: &'static str,
        /// Offset in bits.
        offset: u32,
        /// Length in bits.
        len: u32,
    },
}

/// Where an STP field lies, in bits from the start of the LLC header that
/// follows the 802.3 header (nft's `@nh` in a bridge): libvirt's offsets.
pub(crate) fn stp_bits(f: StpField) -> (u32, u32) {
    match f {
        StpField::Type => (48, 8),
        StpField::Flags => (56, 8),
        StpField::RootPriority => (64, 16),
        StpField::RootAddress => (80, 48),
        StpField::RootCost => (128, 32),
        StpField::SenderPriority => (160, 16),
        StpField::SenderAddress => (176, 48),
        StpField::Port => (224, 16),
        StpField::MessageAge => (240, 16),
        StpField::MaxAge => (256, 16),
        StpField::HelloTime => (272, 16),
        StpField::ForwardDelay => (288, 16),
    }
}

/// Where an ARP field lies in a RARP packet, in bits from the network
/// header. nft's `arp` expressions imply ether type arp, so RARP fields are
/// read raw. (libvirt reads the protocol type at bit 40, which is the
/// length bytes; fwc reads it where it is, at bit 16, except when it
/// reproduces libvirt's command lines.)
pub(crate) fn rarp_bits(f: ArpField) -> Option<(u32, u32)> {
    Some(match f {
        ArpField::HwType => (0, 16),
        ArpField::ProtoType => (16, 16),
        ArpField::Opcode => (48, 16),
        ArpField::SenderMac => (64, 48),
        ArpField::SenderIp => (112, 32),
        ArpField::TargetMac => (144, 48),
        ArpField::TargetIp => (192, 32),
        ArpField::Gratuitous => return None,
    })
}

/// The ether type of RARP.
pub(crate) const ETHERTYPE_RARP: u64 = 0x8035;

/// Whether the rule matches RARP frames (`ether type 0x8035`), whose ARP
/// fields nft reads raw.
pub(crate) fn is_rarp(rule: &Rule) -> bool {
    rule.matches.iter().any(|m| {
        m.field == Field::EtherType
            && m.op == ir::CmpOp::Eq
            && matches!(&m.value, Value::Int(r) if r.start == ETHERTYPE_RARP && r.end == ETHERTYPE_RARP)
    })
}

/// The expression that reads `field` in `rule`: ARP fields of a RARP rule
/// are read raw; everything else as [`lhs`] says.
pub(crate) fn rule_lhs(rule: &Rule, field: Field) -> Lhs {
    if let Field::Arp(a) = field {
        if let Some((offset, len)) = rarp_bits(a).filter(|_| is_rarp(rule)) {
            return Lhs::Raw {
                base: "nh",
                offset,
                len,
            };
        }
    }
    lhs(field)
}

/// The name of the set a gratuitous-ARP test looks pairs up in (see
/// [`ArpField::Gratuitous`]).
pub(crate) const SAME_IP_SET: &str = "same-ip-set";

/// The byte masks of the gratuitous-ARP test, one lookup each.
pub(crate) const SAME_IP_MASKS: [&str; 4] = ["255.0.0.0", "0.255.0.0", "0.0.255.0", "0.0.0.255"];

/// nft's names of TCP flags, in bit order.
pub(crate) fn tcp_flag_names(flags: ir::TcpFlagSet) -> Vec<&'static str> {
    const NAMES: [&str; 8] = ["fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr"];
    (0..8)
        .filter(|i| flags.0 & (1 << i) != 0)
        .map(|i| NAMES[i])
        .collect()
}

/// nft's name of an ether type written by name, if it has one.
pub(crate) fn ether_type_name(v: u64) -> Option<&'static str> {
    match v {
        0x0800 => Some("ip"),
        0x86dd => Some("ip6"),
        0x0806 => Some("arp"),
        0x8100 => Some("vlan"),
        _ => None,
    }
}

/// `ct count over N` is connlimit's `N+1..=u32::MAX`; the N, if the
/// value has that form.
pub(crate) fn count_over(v: &Value) -> Option<u64> {
    match v {
        Value::Int(r) if r.end == u64::from(u32::MAX) && r.start > 0 => Some(r.start - 1),
        _ => None,
    }
}

/// The expression that reads `field`.
pub(crate) fn lhs(field: Field) -> Lhs {
    let meta = |key, bare| Lhs::Meta { key, bare };
    let ip = |f: IpFamily| if f == IpFamily::V4 { "ip" } else { "ip6" };
    let payload = |protocol, field| Lhs::Payload { protocol, field };
    match field {
        Field::Iif => meta("iif", true),
        Field::Oif => meta("oif", true),
        Field::IifName => meta("iifname", true),
        Field::OifName => meta("oifname", true),
        Field::L4Proto => meta("l4proto", false),
        Field::IpProto(IpFamily::V4) => payload("ip", "protocol"),
        Field::IpProto(IpFamily::V6) => payload("ip6", "nexthdr"),
        Field::Saddr(f) => payload(ip(f), "saddr"),
        Field::Daddr(f) => payload(ip(f), "daddr"),
        Field::Sport(p) => payload(p.name(), "sport"),
        Field::Dport(p) => payload(p.name(), "dport"),
        Field::EtherSaddr => payload("ether", "saddr"),
        Field::EtherDaddr => payload("ether", "daddr"),
        Field::CtState => Lhs::Ct { key: "state" },
        Field::CtDirection => Lhs::Ct { key: "direction" },
        Field::EtherType => payload("ether", "type"),
        Field::VlanId => payload("vlan", "id"),
        Field::VlanEtherType => payload("vlan", "type"),
        Field::Arp(a) => payload(
            "arp",
            match a {
                ArpField::Opcode => "operation",
                ArpField::HwType => "htype",
                ArpField::ProtoType => "ptype",
                ArpField::SenderMac => "saddr ether",
                ArpField::TargetMac => "daddr ether",
                ArpField::SenderIp => "saddr ip",
                ArpField::TargetIp => "daddr ip",
                // Written as set lookups by the writers, never read alone.
                ArpField::Gratuitous => "saddr ip",
            },
        ),
        Field::Dscp(f) => payload(ip(f), "dscp"),
        Field::TcpFlags => payload("tcp", "flags"),
        Field::IcmpType(IpFamily::V4) => payload("icmp", "type"),
        Field::IcmpType(IpFamily::V6) => payload("icmpv6", "type"),
        Field::IcmpCode(IpFamily::V4) => payload("icmp", "code"),
        Field::IcmpCode(IpFamily::V6) => payload("icmpv6", "code"),
        Field::Stp(f) => {
            let (offset, len) = stp_bits(f);
            Lhs::Raw {
                base: "nh",
                offset,
                len,
            }
        }
        // Refused by `inexpressible` before anything is printed; the names
        // only keep this function total.
        Field::PhysIn => meta("ibrport", true),
        Field::PhysOut => meta("obrport", true),
        Field::PhysIsBridged => meta("bridged", true),
        Field::ConnCount => Lhs::Ct { key: "count" },
        Field::IpSet => meta("ipset", true),
    }
}

/// Why nft cannot say the rule in `table`, if it cannot: a match on
/// something nft has no expression for (iptables' physdev and ipset
/// matches), a gratuitous-ARP test without the table's helper set or in
/// the negative (a conjunction of lookups cannot be negated), a connection
/// count other than "over N", or TCP flags on a value that is not a flag
/// test. Writers leave such a rule out with a note.
pub(crate) fn inexpressible(table: &Table, rule: &Rule) -> Option<String> {
    rule.matches.iter().find_map(|m| {
        let what = match (m.field, &m.value) {
            (Field::PhysIn | Field::PhysOut | Field::PhysIsBridged, _) => {
                Some("a bridge port (physdev)")
            }
            (Field::IpSet, _) | (_, Value::IpSet { .. }) => Some("an external ipset"),
            (Field::Arp(ArpField::Gratuitous), v) => {
                if !gratuitous_positive(m.op, v) {
                    Some("the negation of a gratuitous-ARP test")
                } else if !has_same_ip_set(table) {
                    Some("gratuitous ARP without the table's same-ip-set")
                } else {
                    None
                }
            }
            (Field::ConnCount, v) if count_over(v).is_none() => {
                Some("a connection count other than \"over N\"")
            }
            (Field::TcpFlags, v) if !matches!(v, Value::TcpFlags { .. }) => Some("this value"),
            (f, Value::TcpFlags { .. }) if f != Field::TcpFlags => Some("this value"),
            (_, Value::Bool(_)) => Some("this value"),
            _ => None,
        };
        what.map(|what| format!("nft has no expression for {what} here; rule left out"))
    })
}

/// Whether a gratuitous-ARP match asks for gratuitous packets.
pub(crate) fn gratuitous_positive(op: ir::CmpOp, v: &Value) -> bool {
    matches!(
        (op, v),
        (ir::CmpOp::Eq, Value::Bool(true)) | (ir::CmpOp::Ne, Value::Bool(false))
    )
}

/// Whether the table holds the helper set of gratuitous-ARP tests.
pub(crate) fn has_same_ip_set(table: &Table) -> bool {
    table
        .sets
        .iter()
        .any(|s| s.name.as_str() == SAME_IP_SET && s.key == [KeyType::Ipv4Addr, KeyType::Ipv4Addr])
}

/// Which translation a [`NatStmt`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NatKind {
    /// `masquerade`.
    Masquerade,
    /// `snat`.
    Snat,
    /// `dnat`.
    Dnat,
}

impl NatKind {
    /// nft's keyword, also the JSON statement's name.
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            NatKind::Masquerade => "masquerade",
            NatKind::Snat => "snat",
            NatKind::Dnat => "dnat",
        }
    }
}

/// An address translation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NatStmt<'r> {
    /// Which translation.
    pub kind: NatKind,
    /// The address family, which an `inet` table needs named.
    pub family: Option<IpFamily>,
    /// Addresses to translate to (none for masquerade).
    pub addr: Option<&'r AddrRange>,
    /// Ports to translate to.
    pub ports: Option<&'r PortRange>,
}

/// One statement of an nft rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stmt<'r> {
    /// A comparison.
    Match(&'r Match),
    /// `counter`.
    Counter,
    /// `log prefix "..."`.
    Log(&'r Comment),
    /// `masquerade`, `snat`, `dnat`.
    Nat(NatStmt<'r>),
    /// The verdict, verdict maps included.
    Verdict(&'r Verdict),
    /// `continue`, for a rule that has nothing else to say (nft refuses an
    /// empty rule).
    Continue,
}

/// Whether the rule carries a [`Statement::ChecksumFill`], which nft cannot
/// say; each writer decides what becomes of such a rule (a note, or
/// libvirt's `tc` companion) before printing it.
pub(crate) fn has_checksum_fill(rule: &Rule) -> bool {
    rule.statements.contains(&Statement::ChecksumFill)
}

/// The rule's statements in nft's order: matches, statements, verdict.
/// [`Statement::ChecksumFill`] contributes nothing (see
/// [`has_checksum_fill`]).
pub(crate) fn statements(family: Family, rule: &Rule) -> Vec<Stmt<'_>> {
    let mut out: Vec<Stmt<'_>> = rule.matches.iter().map(Stmt::Match).collect();
    for s in &rule.statements {
        match s {
            Statement::Counter => out.push(Stmt::Counter),
            Statement::Log { prefix } => out.push(Stmt::Log(prefix)),
            Statement::Nat(nat) => out.push(Stmt::Nat(nat_stmt(family, nat))),
            Statement::ChecksumFill => {}
        }
    }
    if let Some(v) = &rule.verdict {
        out.push(Stmt::Verdict(v));
    }
    if out.is_empty() {
        out.push(Stmt::Continue);
    }
    out
}

fn nat_stmt(family: Family, nat: &Nat) -> NatStmt<'_> {
    let (kind, addr, ports) = match nat {
        Nat::Masquerade { ports } => (NatKind::Masquerade, None, ports),
        Nat::Snat { addr, ports } => (NatKind::Snat, Some(addr), ports),
        Nat::Dnat { addr, ports } => (NatKind::Dnat, Some(addr), ports),
    };
    // In an inet table the address family of the translation must be named.
    let family = addr.filter(|_| family == Family::Inet).map(|a| {
        if a.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    });
    NatStmt {
        kind,
        family,
        addr,
        ports: ports.as_ref(),
    }
}

/// How a reject answers, when not nft's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RejectWith {
    /// `tcp reset`, `icmp`, `icmpv6` or `icmpx`.
    pub ty: &'static str,
    /// The ICMP type, for the ICMP kinds.
    pub code: Option<&'static str>,
}

/// The answer of a reject of `kind` in a table of `family`; `None` for
/// nft's default.
pub(crate) fn reject(family: Family, kind: RejectKind) -> Option<RejectWith> {
    let icmp = match family {
        Family::Ip => "icmp",
        Family::Ip6 => "icmpv6",
        // inet, bridge and netdev take the family-independent codes.
        _ => "icmpx",
    };
    let with = |ty, code| Some(RejectWith { ty, code });
    match kind {
        RejectKind::Default => None,
        RejectKind::TcpReset => with("tcp reset", None),
        RejectKind::PortUnreachable => with(icmp, Some("port-unreachable")),
        RejectKind::AdminProhibited => with(icmp, Some("admin-prohibited")),
    }
}

/// nft's names of a key's types, one per field of a concatenation.
pub(crate) fn key_type_names(key: &[KeyType]) -> Vec<&'static str> {
    key.iter()
        .map(|k| match k {
            KeyType::IfIndex => "iface_index",
            KeyType::Ifname => "ifname",
            KeyType::Ipv4Addr => "ipv4_addr",
            KeyType::Ipv6Addr => "ipv6_addr",
            KeyType::InetProto => "inet_proto",
            KeyType::InetService => "inet_service",
            KeyType::CtState => "ct_state",
            KeyType::EtherAddr => "ether_addr",
            // ir::validate refuses sets and maps keyed by these.
            KeyType::Integer => "integer",
            KeyType::Bool => "boolean",
            KeyType::TcpFlags => "tcp_flag",
            KeyType::CtDirection => "ct_dir",
            KeyType::IpSetRef => "ipset",
        })
        .collect()
}

/// Whether a prefix is written as a bare address: inside sets (`in_set`) a
/// full-length prefix must be, since nft refuses prefixes in sets without
/// `flags interval`.
pub(crate) fn bare_address(n: &IpNet, in_set: bool) -> bool {
    in_set && n.prefix_len() == n.max_prefix_len()
}

#[cfg(test)]
mod tests {
    use ir::*;

    use super::*;
    use crate::testutil::*;

    #[test]
    fn empty_and_checksum_only_rules_continue() {
        let r = Rule::new(from("n.xml", 1, "ip"), vec![], None).with(Statement::ChecksumFill);
        assert!(has_checksum_fill(&r));
        assert_eq!(statements(Family::Ip, &r), [Stmt::Continue]);
    }

    #[test]
    fn only_inet_translations_name_their_family() {
        let addr = AddrRange::single("10.0.0.1".parse().unwrap());
        let r = Rule::new(from("n.xml", 1, "nat"), vec![], None)
            .with(Statement::Nat(Nat::Snat { addr, ports: None }));
        let family = |f| match statements(f, &r)[0] {
            Stmt::Nat(n) => n.family,
            other => panic!("{other:?}"),
        };
        assert_eq!(family(Family::Inet), Some(IpFamily::V4));
        assert_eq!(family(Family::Ip), None);
    }

    #[test]
    fn meta_keys_other_than_interfaces_keep_their_keyword() {
        assert_eq!(
            lhs(Field::L4Proto),
            Lhs::Meta {
                key: "l4proto",
                bare: false
            }
        );
        assert_eq!(
            lhs(Field::Dport(L4Proto::Udp)),
            Lhs::Payload {
                protocol: "udp",
                field: "dport"
            }
        );
    }
}
