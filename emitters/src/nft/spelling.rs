//! Rules as libvirt's nftables nwfilter driver writes them on its command
//! lines, for tables whose [`ir::Commands::Append`] names a [`Spelling`].
//!
//! The driver builds each rule argument by argument and writes the same
//! kind of value differently depending on where it comes from: an ether
//! type is `ip`, `0x806` or `0x0806`, a DSCP value hex in its ethernet table
//! and decimal in its inet table, a masked MAC one argument (`'& MASK ==
//! MAC'`), ranges of STP fields behind an inverted operator, connection
//! states in its own order. The IR carries what the text needs
//! ([`ir::Notation`] on numbers, the table's [`Spelling`]); this module
//! writes it. Everything that reaches the kernel means what the canonical
//! writer ([`super::render`]) would say for the same rule, except where
//! libvirt itself reads a field from another place (RARP's protocol type,
//! see [`rarp_bits`]).

use std::net::IpAddr;

use ir::{
    ArpField, CmpOp, CtStates, Field, IntRange, IpFamily, MacAddr, MapRef, Match, Notation, Rule,
    Spelling, StpField, Table, TcpFlagSet, Value, Verdict,
};

use super::model;
use crate::quote;

/// The broadcast address of bridge protocols, STP's destination.
const STP_DESTINATION: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0, 0, 0]);

/// Where libvirt reads an ARP field of a RARP packet (`@nh,OFFSET,LEN`);
/// unlike [`model::rarp_bits`] it reads the protocol type at bit 40.
fn rarp_bits(f: ArpField) -> Option<(u32, u32)> {
    match f {
        ArpField::ProtoType => Some((40, 16)),
        other => model::rarp_bits(other),
    }
}

/// The STP fields libvirt writes as ranges: always with an operator, and
/// (libvirt's inversion) `!=` when the XML asks for a match.
fn stp_is_range(f: StpField) -> bool {
    !matches!(
        f,
        StpField::Type | StpField::Flags | StpField::RootAddress | StpField::SenderAddress
    )
}

/// The argv of the rule after `nft add rule bridge T C`; `Err` says why
/// libvirt's driver has no spelling for it.
pub(crate) fn rule_args(
    table: &Table,
    spelling: Spelling,
    rule: &Rule,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let rarp = model::is_rarp(rule);
    for m in &rule.matches {
        match_args(spelling, rarp, m, &mut out)?;
    }
    if !rule.statements.is_empty() {
        return Err("libvirt's nwfilter rules carry no statements".into());
    }
    match &rule.verdict {
        None => out.push("continue".into()),
        Some(v) => verdict_args(table, v, &mut out)?,
    }
    if let Some(c) = &rule.comment {
        out.push("comment".into());
        out.push(quote::nft_string(c.as_str()));
    }
    Ok(out)
}

fn words(out: &mut Vec<String>, ws: &[&str]) {
    out.extend(ws.iter().map(|w| (*w).to_owned()));
}

fn ip(f: IpFamily) -> &'static str {
    match f {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ip6",
    }
}

/// The operator libvirt writes for a negated match: `!=`, or `!` for the
/// addresses and DSCP of its inet table.
fn negation(spelling: Spelling, field: Field) -> &'static str {
    match (spelling, field) {
        (Spelling::Inet, Field::Saddr(_) | Field::Daddr(_) | Field::Dscp(_)) => "!",
        _ => "!=",
    }
}

fn match_args(
    spelling: Spelling,
    rarp: bool,
    m: &Match,
    out: &mut Vec<String>,
) -> Result<(), String> {
    let ne = m.op == CmpOp::Ne;
    let not = |out: &mut Vec<String>| {
        if ne {
            out.push(negation(spelling, m.field).into());
        }
    };
    match (m.field, &m.value) {
        (Field::EtherSaddr | Field::EtherDaddr, v) => {
            let dir = if m.field == Field::EtherSaddr {
                "saddr"
            } else {
                "daddr"
            };
            words(out, &["ether", dir]);
            let op = if ne { "!=" } else { "==" };
            match (spelling, v) {
                (_, Value::MacMasked { addr, mask }) => out.push(format!("& {mask} {op} {addr}")),
                // libvirt's implied STP destination is written bare; the
                // addresses of the XML have an explicit operator.
                (Spelling::Ethernet, Value::Mac(a)) if !(ne || *a == STP_DESTINATION) => {
                    words(out, &["==", &a.to_string()])
                }
                (_, Value::Mac(a)) => {
                    not(out);
                    out.push(a.to_string());
                }
                (_, other) => return Err(unexpected(m.field, other)),
            }
        }
        (Field::Saddr(f) | Field::Daddr(f), v) => {
            let dir = if matches!(m.field, Field::Saddr(_)) {
                "saddr"
            } else {
                "daddr"
            };
            words(out, &[ip(f), dir]);
            not(out);
            out.push(match v {
                Value::Prefix(n) => n.to_string(),
                Value::AddrRange(r) => r.to_string(),
                other => return Err(unexpected(m.field, other)),
            });
        }
        (Field::Arp(ArpField::Gratuitous), _) => {
            let op = if model::gratuitous_positive(m.op, &m.value) {
                "=="
            } else {
                "!="
            };
            for mask in model::SAME_IP_MASKS {
                words(
                    out,
                    &[
                        "arp", "saddr", "ip", "&", mask, ".", "arp", "daddr", "ip", "&", mask, op,
                    ],
                );
                out.push(format!("@{}", model::SAME_IP_SET));
            }
        }
        (Field::Arp(a), v) if rarp => {
            let (offset, len) = rarp_bits(a).ok_or_else(|| unexpected(m.field, v))?;
            let (len, value) = match v {
                Value::Int(r) => (len, number(r, Notation::Hex { width: 1 })),
                Value::Mac(a) => (len, mac_hex(a)),
                Value::Prefix(n) => {
                    let IpAddr::V4(addr) = n.trunc().addr() else {
                        return Err(unexpected(m.field, v));
                    };
                    let b = addr.octets();
                    let hex = format!("0x{:02x}{:02x}{:02x}{:02x}", b[0], b[1], b[2], b[3]);
                    (u32::from(n.prefix_len()), hex)
                }
                other => return Err(unexpected(m.field, other)),
            };
            out.push(format!("@nh,{offset},{len}"));
            not(out);
            out.push(value);
        }
        (Field::Stp(f), v) => {
            let (offset, len) = model::stp_bits(f);
            out.push(format!("@nh,{offset},{len}"));
            match v {
                Value::Int(r) if stp_is_range(f) => {
                    out.push(if ne { "!=" } else { "==" }.into());
                    out.push(hex_range(r));
                }
                Value::Int(r) => {
                    not(out);
                    out.push(hex_range(r));
                }
                Value::Mac(a) => {
                    not(out);
                    out.push(mac_hex(a));
                }
                Value::MacMasked { addr, mask } => {
                    words(out, &["&", &mac_hex(mask)]);
                    not(out);
                    out.push(mac_hex(addr));
                }
                other => return Err(unexpected(m.field, other)),
            }
        }
        (Field::CtState, Value::CtStates(s)) => {
            words(out, &["ct", "state"]);
            not(out);
            out.push(states(s));
        }
        (Field::ConnCount, v) => {
            let n = model::count_over(v).ok_or_else(|| unexpected(m.field, v))?;
            words(out, &["ct", "count", "over"]);
            not(out);
            out.push(n.to_string());
        }
        (Field::TcpFlags, Value::TcpFlags { mask, set }) => {
            words(out, &["tcp", "flags", "&", &flags(*mask)]);
            out.push(if ne { "!=" } else { "==" }.into());
            words(out, &["{", &flags(*set), "}"]);
        }
        (Field::Sport(p) | Field::Dport(p), v) => {
            let dir = if matches!(m.field, Field::Sport(_)) {
                "sport"
            } else {
                "dport"
            };
            let proto = match spelling {
                Spelling::Ethernet => "th",
                Spelling::Inet => p.name(),
            };
            words(out, &[proto, dir]);
            not(out);
            out.push(match v {
                Value::Ports(r) => r.to_string(),
                Value::Int(r) => number(r, r.notation),
                other => return Err(unexpected(m.field, other)),
            });
        }
        (Field::IpProto(f), v) => {
            let key = match f {
                IpFamily::V4 => ["ip", "protocol"],
                IpFamily::V6 => ["ip6", "nexthdr"],
            };
            words(out, &key);
            not(out);
            out.push(match v {
                Value::Proto(p) => p.name().into(),
                Value::Int(r) => number(r, r.notation),
                other => return Err(unexpected(m.field, other)),
            });
        }
        (field, v) => {
            // Everything else is written as the canonical writer does, with
            // numbers in their notation.
            let key = match model::lhs(field) {
                model::Lhs::Meta { key, bare: true } => vec![key.to_owned()],
                model::Lhs::Meta { key, bare: false } => vec!["meta".into(), key.into()],
                model::Lhs::Payload { protocol, field } => {
                    let mut w = vec![protocol.to_owned()];
                    w.extend(field.split(' ').map(str::to_owned));
                    w
                }
                model::Lhs::Ct { key } => vec!["ct".into(), key.into()],
                model::Lhs::Raw { .. } => return Err(unexpected(field, v)),
            };
            out.extend(key);
            not(out);
            out.push(match v {
                Value::Int(r) => number(r, r.notation),
                Value::Ifname(n) => n.to_string(),
                Value::Proto(p) => p.name().into(),
                Value::Prefix(n) => n.to_string(),
                Value::Mac(a) => a.to_string(),
                Value::CtDir(ir::CtDirection::Original) => "original".into(),
                Value::CtDir(ir::CtDirection::Reply) => "reply".into(),
                other => return Err(unexpected(field, other)),
            });
        }
    }
    Ok(())
}

fn unexpected(field: Field, v: &Value) -> String {
    format!("libvirt's nwfilter driver has no spelling for {field} {v}")
}

/// A number as its notation writes it.
fn number(r: &IntRange, notation: Notation) -> String {
    let one = |v: u64| match notation {
        Notation::Hex { width } => format!("0x{v:0w$x}", w = usize::from(width)),
        Notation::Name => model::ether_type_name(v)
            .filter(|_| matches!(v, 0x0800 | 0x86dd))
            .map_or_else(|| v.to_string(), str::to_owned),
        Notation::Decimal | Notation::Range => v.to_string(),
    };
    if r.start == r.end && notation != Notation::Range {
        one(r.start)
    } else {
        format!("{}-{}", one(r.start), one(r.end))
    }
}

/// An STP number or range, in hex (`0x7b-0xea`).
fn hex_range(r: &IntRange) -> String {
    number(r, Notation::Hex { width: 1 })
}

/// A MAC address as one 48-bit hex number (`0x060504030201`).
fn mac_hex(a: &MacAddr) -> String {
    let b = a.0;
    format!(
        "0x{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5]
    )
}

/// Connection states in libvirt's order (`new,established,related,invalid`).
fn states(s: &CtStates) -> String {
    [
        (s.new, "new"),
        (s.established, "established"),
        (s.related, "related"),
        (s.invalid, "invalid"),
        (s.untracked, "untracked"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, n)| *n)
    .collect::<Vec<_>>()
    .join(",")
}

/// TCP flags as libvirt writes them: `0`, `*` for all six, or a lowercase
/// comma list in its order.
fn flags(f: TcpFlagSet) -> String {
    match f.0 & 0x3f {
        0 => "0".into(),
        0x3f => "*".into(),
        bits => model::tcp_flag_names(TcpFlagSet(bits)).join(","),
    }
}

fn verdict_args(table: &Table, v: &Verdict, out: &mut Vec<String>) -> Result<(), String> {
    let chain = |c: &ir::ChainId| table.chain(*c).name.to_string();
    match v {
        Verdict::Accept => out.push("accept".into()),
        Verdict::Drop => out.push("drop".into()),
        Verdict::Return => out.push("return".into()),
        Verdict::Jump(c) => words(out, &["jump", &chain(c)]),
        Verdict::Goto(c) => words(out, &["goto", &chain(c)]),
        Verdict::Vmap {
            key,
            map: MapRef::Named(id),
        } if key.len() == 1 => {
            let key = match model::lhs(key[0]) {
                model::Lhs::Meta { key, bare: true } => key,
                _ => return Err("libvirt dispatches on interfaces only".into()),
            };
            words(out, &[key, "vmap", &format!("@{}", table.maps[id.0].name)]);
        }
        other => {
            return Err(format!(
                "libvirt's nwfilter driver has no verdict like {other:?}"
            ))
        }
    }
    Ok(())
}

/// A map or set element's argv: each value and separator its own argument.
pub(crate) fn element_args(table: &Table, values: &[Value], out: &mut Vec<String>) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(".".into());
        }
        out.push(match v {
            Value::Ifname(n) => n.to_string(),
            other => super::render::value_text(table, other, true),
        });
    }
}

/// A verdict of a map element as argv.
pub(crate) fn element_verdict_args(
    table: &Table,
    v: &Verdict,
    out: &mut Vec<String>,
) -> Result<(), String> {
    verdict_args(table, v, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_their_notation() {
        let r = |a, b| IntRange::new(a, b).unwrap();
        assert_eq!(
            number(&r(0x806, 0x806), Notation::Hex { width: 1 }),
            "0x806"
        );
        assert_eq!(
            number(&r(0x806, 0x806), Notation::Hex { width: 4 }),
            "0x0806"
        );
        assert_eq!(number(&r(0x800, 0x800), Notation::Name), "ip");
        assert_eq!(number(&r(0x86dd, 0x86dd), Notation::Name), "ip6");
        assert_eq!(number(&r(0x806, 0x806), Notation::Name), "2054");
        assert_eq!(number(&r(65535, 65535), Notation::Range), "65535-65535");
        assert_eq!(number(&r(80, 80), Notation::Decimal), "80");
        assert_eq!(hex_range(&r(123, 234)), "0x7b-0xea");
    }

    #[test]
    fn flags_and_states_in_libvirts_words() {
        assert_eq!(flags(TcpFlagSet(0)), "0");
        assert_eq!(flags(TcpFlagSet(0x3f)), "*");
        assert_eq!(flags(TcpFlagSet(0x12)), "syn,ack");
        let s = CtStates {
            established: true,
            related: true,
            ..CtStates::default()
        };
        assert_eq!(states(&s), "established,related");
        assert_eq!(mac_hex(&MacAddr([6, 5, 4, 3, 2, 1])), "0x060504030201");
    }
}
