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
    RejectKind, Rule, Statement, Value, Verdict,
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
                // Refused by `inexpressible` before anything is printed.
                ArpField::Gratuitous => "gratuitous",
            },
        ),
        Field::Dscp(f) => payload(ip(f), "dscp"),
        Field::TcpFlags => payload("tcp", "flags"),
        Field::IcmpType(IpFamily::V4) => payload("icmp", "type"),
        Field::IcmpType(IpFamily::V6) => payload("icmpv6", "type"),
        Field::IcmpCode(IpFamily::V4) => payload("icmp", "code"),
        Field::IcmpCode(IpFamily::V6) => payload("icmpv6", "code"),
        // Refused by `inexpressible` before anything is printed; the names
        // only keep this function total.
        Field::Stp(_) => payload("stp", "field"),
        Field::PhysIn => meta("ibrport", true),
        Field::PhysOut => meta("obrport", true),
        Field::PhysIsBridged => meta("bridged", true),
        Field::ConnCount => Lhs::Ct { key: "count" },
        Field::IpSet => meta("ipset", true),
    }
}

/// Why nft cannot say the rule, if it cannot: a match on something nft has
/// no expression for here (iptables' physdev and ipset matches, STP fields,
/// ARP's gratuitous test, connection counts) or a value that needs an
/// operator form fwc does not print yet (masked MACs other than a full
/// mask, TCP flags). Writers leave such a rule out with a note.
pub(crate) fn inexpressible(rule: &Rule) -> Option<String> {
    rule.matches.iter().find_map(|m| {
        let field = match m.field {
            Field::PhysIn | Field::PhysOut | Field::PhysIsBridged => {
                Some("a bridge port (physdev)")
            }
            Field::IpSet => Some("an external ipset"),
            Field::Stp(_) => Some("an STP field"),
            Field::Arp(ArpField::Gratuitous) => Some("gratuitous ARP"),
            Field::ConnCount => Some("a connection count"),
            _ => None,
        };
        let value = match &m.value {
            Value::MacMasked { mask, .. } if mask.0 != [0xff; 6] => Some("a masked MAC address"),
            Value::TcpFlags { .. } => Some("TCP flags"),
            Value::Bool(_) | Value::IpSet { .. } => Some("this value"),
            _ => None,
        };
        field
            .or(value)
            .map(|what| format!("nft has no expression for {what} here; rule left out"))
    })
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
