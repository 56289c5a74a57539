//! A readable dump of the IR, close to nft's syntax, with provenance.
//!
//! The dump is for people (`fwc compile --dump-ir`, snapshot tests); the nft
//! emitter, not this module, defines what nft is given.

use std::fmt::{self, Display, Formatter, Write as _};

use crate::rule::{
    ArpField, CmpOp, Field, IpFamily, MapRef, Match, Nat, RejectKind, Rule, SetRef, Statement,
    Value, Verdict,
};
use crate::ruleset::{ChainKind, Ownership, Ruleset, Table};

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let ip = |fam: &IpFamily| if *fam == IpFamily::V4 { "ip" } else { "ip6" };
        match self {
            Field::Iif => f.write_str("iif"),
            Field::Oif => f.write_str("oif"),
            Field::IifName => f.write_str("iifname"),
            Field::OifName => f.write_str("oifname"),
            Field::Saddr(fam) => write!(f, "{} saddr", ip(fam)),
            Field::Daddr(fam) => write!(f, "{} daddr", ip(fam)),
            Field::L4Proto => f.write_str("meta l4proto"),
            Field::IpProto(IpFamily::V4) => f.write_str("ip protocol"),
            Field::IpProto(IpFamily::V6) => f.write_str("ip6 nexthdr"),
            Field::Sport(p) => write!(f, "{p} sport"),
            Field::Dport(p) => write!(f, "{p} dport"),
            Field::CtState => f.write_str("ct state"),
            Field::EtherSaddr => f.write_str("ether saddr"),
            Field::EtherDaddr => f.write_str("ether daddr"),
            Field::EtherType => f.write_str("ether type"),
            Field::VlanId => f.write_str("vlan id"),
            Field::VlanEtherType => f.write_str("vlan type"),
            Field::Arp(a) => f.write_str(match a {
                ArpField::Opcode => "arp operation",
                ArpField::HwType => "arp htype",
                ArpField::ProtoType => "arp ptype",
                ArpField::SenderMac => "arp saddr ether",
                ArpField::TargetMac => "arp daddr ether",
                ArpField::SenderIp => "arp saddr ip",
                ArpField::TargetIp => "arp daddr ip",
                ArpField::Gratuitous => "arp gratuitous",
            }),
            Field::Stp(s) => write!(f, "stp {}", format!("{s:?}").to_lowercase()),
            Field::Dscp(fam) => write!(f, "{} dscp", ip(fam)),
            Field::TcpFlags => f.write_str("tcp flags"),
            Field::IcmpType(IpFamily::V4) => f.write_str("icmp type"),
            Field::IcmpType(IpFamily::V6) => f.write_str("icmpv6 type"),
            Field::IcmpCode(IpFamily::V4) => f.write_str("icmp code"),
            Field::IcmpCode(IpFamily::V6) => f.write_str("icmpv6 code"),
            Field::PhysIn => f.write_str("physdev in"),
            Field::PhysOut => f.write_str("physdev out"),
            Field::PhysIsBridged => f.write_str("physdev bridged"),
            Field::CtDirection => f.write_str("ct direction"),
            Field::ConnCount => f.write_str("connlimit count"),
            Field::IpSet => f.write_str("ipset"),
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Ifname(n) => write!(f, "\"{n}\""),
            Value::Prefix(n) => write!(f, "{n}"),
            Value::Proto(p) => write!(f, "{p}"),
            Value::Ports(p) => write!(f, "{p}"),
            Value::CtStates(s) => write!(f, "{s}"),
            Value::Mac(m) => write!(f, "{m}"),
            Value::MacMasked { addr, mask } => write!(f, "{addr}/{mask}"),
            Value::AddrRange(r) => write!(f, "{r}"),
            Value::Int(r) => write!(f, "{r}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::TcpFlags { mask, set } => {
                write!(f, "{} / {}", set.names().join(","), mask.names().join(","))
            }
            Value::CtDir(crate::value::CtDirection::Original) => f.write_str("original"),
            Value::CtDir(crate::value::CtDirection::Reply) => f.write_str("reply"),
            Value::IpSet { name, dirs } => {
                let dirs: Vec<_> = dirs
                    .iter()
                    .map(|d| match d {
                        crate::value::SetDir::Src => "src",
                        crate::value::SetDir::Dst => "dst",
                    })
                    .collect();
                write!(f, "{name} {}", dirs.join(","))
            }
            Value::Set(SetRef::Named(id)) => write!(f, "@set#{}", id.0),
            Value::Set(SetRef::Anonymous(items)) => {
                f.write_str("{ ")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str(" }")
            }
        }
    }
}

impl Display for Match {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self.op {
            CmpOp::Eq => write!(f, "{} {}", self.field, self.value),
            CmpOp::Ne => write!(f, "{} != {}", self.field, self.value),
        }
    }
}

fn ports(p: &Option<crate::value::PortRange>) -> String {
    p.map(|p| format!(":{p}")).unwrap_or_default()
}

impl Display for Statement {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Statement::Counter => f.write_str("counter"),
            Statement::Log { prefix } => write!(f, "log prefix \"{prefix}\""),
            Statement::Nat(Nat::Masquerade { ports: None }) => f.write_str("masquerade"),
            Statement::Nat(Nat::Masquerade { ports: p }) => write!(f, "masquerade to {}", ports(p)),
            Statement::Nat(Nat::Snat { addr, ports: p }) => write!(f, "snat to {addr}{}", ports(p)),
            Statement::Nat(Nat::Dnat { addr, ports: p }) => write!(f, "dnat to {addr}{}", ports(p)),
            Statement::ChecksumFill => f.write_str("checksum-fill"),
        }
    }
}

/// Prints a verdict; chain handles are resolved to names through `table`.
struct VerdictIn<'a>(&'a Table, &'a Verdict);

impl Display for VerdictIn<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.0;
        let name = |id: &crate::ruleset::ChainId| {
            t.chains
                .get(id.0)
                .map(|c| c.name.to_string())
                .unwrap_or_else(|| format!("#{}", id.0))
        };
        match self.1 {
            Verdict::Accept => f.write_str("accept"),
            Verdict::Drop => f.write_str("drop"),
            Verdict::Reject(RejectKind::Default) => f.write_str("reject"),
            Verdict::Reject(RejectKind::TcpReset) => f.write_str("reject with tcp reset"),
            Verdict::Reject(RejectKind::PortUnreachable) => {
                f.write_str("reject with port-unreachable")
            }
            Verdict::Reject(RejectKind::AdminProhibited) => {
                f.write_str("reject with admin-prohibited")
            }
            Verdict::Return => f.write_str("return"),
            Verdict::Jump(c) => write!(f, "jump {}", name(c)),
            Verdict::Goto(c) => write!(f, "goto {}", name(c)),
            Verdict::Vmap { key, map } => {
                let key: Vec<_> = key.iter().map(|k| k.to_string()).collect();
                write!(f, "{} vmap ", key.join(" . "))?;
                match map {
                    MapRef::Named(id) => match t.maps.get(id.0) {
                        Some(m) => write!(f, "@{}", m.name),
                        None => write!(f, "@map#{}", id.0),
                    },
                    MapRef::Anonymous(elems) => {
                        f.write_str("{ ")?;
                        for (i, (k, v)) in elems.iter().enumerate() {
                            if i > 0 {
                                f.write_str(", ")?;
                            }
                            let k: Vec<_> = k.iter().map(|v| v.to_string()).collect();
                            write!(f, "{} : {}", k.join(" . "), VerdictIn(t, v))?;
                        }
                        f.write_str(" }")
                    }
                }
            }
        }
    }
}

fn rule_line(t: &Table, r: &Rule) -> String {
    let mut parts: Vec<String> = r.matches.iter().map(|m| m.to_string()).collect();
    parts.extend(r.statements.iter().map(|s| s.to_string()));
    if let Some(v) = &r.verdict {
        parts.push(VerdictIn(t, v).to_string());
    }
    if let Some(c) = &r.comment {
        parts.push(format!("comment \"{c}\""));
    }
    let mut line = parts.join(" ");
    if line.is_empty() {
        line.push_str("continue");
    }
    line
}

impl Display for Table {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let own = match self.ownership {
            Ownership::Owned => "",
            Ownership::External => " # external",
        };
        writeln!(f, "table {} {} {{{own}", self.family, self.name)?;
        for s in &self.sets {
            let elems: Vec<_> = s
                .elements
                .iter()
                .map(|e| {
                    e.iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(" . ")
                })
                .collect();
            writeln!(
                f,
                "  set {} {{ type {:?};{} elements = {{ {} }} }}",
                s.name,
                s.key,
                if s.interval { " flags interval;" } else { "" },
                elems.join(", ")
            )?;
        }
        for m in &self.maps {
            let elems: Vec<_> = m
                .elements
                .iter()
                .map(|(k, v)| {
                    format!(
                        "{} : {}",
                        k.iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(" . "),
                        VerdictIn(self, v)
                    )
                })
                .collect();
            writeln!(
                f,
                "  map {} {{ type {:?} : verdict; elements = {{ {} }} }}",
                m.name,
                m.key,
                elems.join(", ")
            )?;
        }
        for c in &self.chains {
            let mut head = format!("  chain {} {{", c.name);
            if let ChainKind::Base {
                hook,
                ty,
                priority,
                policy,
            } = &c.kind
            {
                let _ = write!(
                    head,
                    " type {} hook {} priority {priority}; policy {};",
                    ty.keyword(),
                    hook.keyword(),
                    policy.keyword()
                );
            }
            if let Some(policy) = c.end_policy {
                let _ = write!(head, " policy {};", policy.keyword());
            }
            if let Some(staging) = &c.staging {
                let _ = write!(head, " # built as {staging}");
            }
            if c.ownership == Ownership::External {
                head.push_str(" # external");
            }
            writeln!(f, "{head}")?;
            for r in &c.rules {
                let seq = r.seq.map(|s| format!(" seq {s}")).unwrap_or_default();
                writeln!(f, "    {}  # {}{seq}", rule_line(self, r), r.provenance)?;
            }
            writeln!(f, "  }}")?;
        }
        writeln!(f, "}}")
    }
}

impl Display for Ruleset {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, t) in self.tables.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}
