//! The matches of a layer-2 rule (`mac`, `vlan`, `stp`, `arp`, `rarp`, `ip`,
//! `ipv6`, or none), in the order libvirt's `nftablesHandleEthernetRule`
//! writes them, with the notation it writes each number in.

use std::net::IpAddr;

use ipnet::IpNet;
use ir::{ArpField, CmpOp, Field, IntRange, IpFamily, L4Proto, Match, Notation, StpField, Value};

use super::instance::Fidelity;
use crate::nwfilter::lower::l2_fields::{EtherAddrs, IpFields, MacAttrs, PortAttrs};
use crate::nwfilter::value::{IpProtocol, MacAddr, MacMask};
use crate::nwfilter::{ArpMatch, Attr, Concrete, ProtocolMatch};

/// STP's destination, the bridge group address.
pub(crate) const STP_DESTINATION: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0, 0, 0]);

/// `0x%x`.
const HEX: Notation = Notation::Hex { width: 1 };

/// A match, inverted when the attribute is (`match='no'`).
pub(crate) fn cmp(field: Field, negated: bool, value: Value) -> Match {
    Match {
        field,
        op: if negated { CmpOp::Ne } else { CmpOp::Eq },
        value,
    }
}

/// A number written in `notation`.
pub(crate) fn int(v: impl Into<u64>, notation: Notation) -> Value {
    Value::Int(IntRange::single(v.into()).written(notation))
}

/// `start` alone, or `start-end` as libvirt writes a range whenever the end
/// is given (`65535-65535`).
pub(crate) fn range(start: u64, end: Option<u64>, notation: Notation) -> Result<Value, String> {
    match end {
        None => Ok(int(start, notation)),
        Some(end) => IntRange::new(start, end)
            .map(|r| {
                Value::Int(r.written(match notation {
                    Notation::Decimal => Notation::Range,
                    other => other,
                }))
            })
            .map_err(|e| e.to_string()),
    }
}

/// An address with an optional prefix length: `a/len` (host bits kept, as
/// libvirt prints them), or the bare address.
pub(crate) fn address(addr: IpAddr, len: Option<u8>) -> Result<Value, String> {
    match len {
        Some(len) => IpNet::new(addr, len)
            .map(Value::Prefix)
            .map_err(|e| e.to_string()),
        None => Ok(Value::AddrRange(ir::AddrRange::single(addr))),
    }
}

/// The source and destination MAC of the frame header, swapped for the
/// reversed copy of an `inout` rule; a mask makes the match masked.
fn ether_header((src, dst): (MacAttrs<'_>, MacAttrs<'_>), reverse: bool, out: &mut Vec<Match>) {
    let (sf, df) = if reverse {
        (Field::EtherDaddr, Field::EtherSaddr)
    } else {
        (Field::EtherSaddr, Field::EtherDaddr)
    };
    for ((addr, mask), field) in [(src, sf), (dst, df)] {
        if let Some(a) = addr {
            let value = match mask {
                Some(m) => Value::MacMasked {
                    addr: a.value,
                    mask: m.value.addr(),
                },
                None => Value::Mac(a.value),
            };
            out.push(cmp(field, a.negated, value));
        }
    }
}

/// The IR protocol of an `ip`/`ipv6` element's protocol number, for its ports.
fn port_proto(p: Option<&Attr<IpProtocol>>) -> Result<L4Proto, String> {
    p.and_then(|a| a.value.l4proto())
        .filter(|p| p.has_ports())
        .ok_or_else(|| {
            "ports need protocol tcp, udp, udplite or sctp here (fwc has no DCCP ports)".into()
        })
}

/// Source then destination ports, `th sport`/`th dport` in libvirt's words;
/// the reversed copy swaps them.
#[allow(clippy::too_many_arguments)]
fn th_ports(
    proto: Option<&Attr<IpProtocol>>,
    sport: PortAttrs<'_>,
    dport: PortAttrs<'_>,
    reverse: bool,
    out: &mut Vec<Match>,
) -> Result<(), String> {
    let list = [(sport, !reverse), (dport, reverse)];
    for ((start, end), is_sport) in list {
        if let Some(s) = start {
            let p = port_proto(proto)?;
            let field = if is_sport {
                Field::Sport(p)
            } else {
                Field::Dport(p)
            };
            let v = range(
                s.value.into(),
                end.as_ref().map(|e| e.value.into()),
                Notation::Decimal,
            )?;
            out.push(cmp(field, s.negated, v));
        }
    }
    Ok(())
}

/// The matches of a layer-2 element; `reverse` for the outbound copy of an
/// `inout` rule.
pub(crate) fn matches(
    p: &ProtocolMatch<Concrete>,
    reverse: bool,
    fidelity: Fidelity,
) -> Result<Vec<Match>, String> {
    let mut out = Vec::new();
    match p {
        ProtocolMatch::Empty => {}
        ProtocolMatch::Mac(m) => {
            ether_header(m.ether_addrs(), reverse, &mut out);
            if let Some(id) = &m.protocolid {
                out.push(cmp(Field::EtherType, id.negated, int(id.value.0, HEX)));
            }
        }
        ProtocolMatch::Ip(m) => {
            let negated = m.protocol.as_ref().is_some_and(|a| a.negated);
            out.push(cmp(
                Field::EtherType,
                negated,
                int(0x0800u16, Notation::Name),
            ));
            ether_header(m.ether_addrs(), reverse, &mut out);
            ip_fields(&m.ip_fields(), reverse, &mut out)?;
            if let Some(d) = &m.dscp {
                out.push(cmp(
                    Field::Dscp(IpFamily::V4),
                    d.negated,
                    int(d.value.value(), HEX),
                ));
            }
        }
        ProtocolMatch::Ipv6(m) => {
            ether_header(m.ether_addrs(), reverse, &mut out);
            out.push(cmp(Field::EtherType, false, int(0x86ddu16, Notation::Name)));
            ip_fields(&m.ip_fields(), reverse, &mut out)?;
            // libvirt reads neither `typeend` nor `codeend`.
            let ends = fidelity == Fidelity::Fwc;
            for (start, end, field) in [
                (
                    &m.icmp_type,
                    &m.icmp_type_end,
                    Field::IcmpType(IpFamily::V6),
                ),
                (
                    &m.icmp_code,
                    &m.icmp_code_end,
                    Field::IcmpCode(IpFamily::V6),
                ),
            ] {
                if let Some(s) = start {
                    let end = end.as_ref().filter(|_| ends).map(|e| u64::from(e.value));
                    let v = match end {
                        Some(e) => {
                            Value::Int(IntRange::new(s.value.into(), e).map_err(|e| e.to_string())?)
                        }
                        None => int(s.value, Notation::Decimal),
                    };
                    out.push(cmp(field, s.negated, v));
                }
            }
        }
        ProtocolMatch::Vlan(m) => {
            ether_header(m.ether_addrs(), reverse, &mut out);
            out.push(cmp(Field::EtherType, false, int(0x8100u16, HEX)));
            if let Some(id) = &m.vlanid {
                out.push(cmp(
                    Field::VlanId,
                    id.negated,
                    int(id.value.value(), Notation::Decimal),
                ));
            }
            if let Some(e) = &m.encap_protocol {
                out.push(cmp(
                    Field::VlanEtherType,
                    e.negated,
                    int(e.value.0, Notation::Decimal),
                ));
            }
        }
        ProtocolMatch::Arp(m) => arp(m, reverse, fidelity, &mut out)?,
        ProtocolMatch::Rarp(m) => rarp(m, reverse, &mut out)?,
        ProtocolMatch::Stp(m) => {
            if reverse && m.srcmacaddr.is_some() {
                return Err(
                    "STP filtering in direction inout with a source MAC address is not supported"
                        .into(),
                );
            }
            let dst: MacAttrs<'_> = (&None, &None);
            ether_header(((&m.srcmacaddr, &m.srcmacmask), dst), reverse, &mut out);
            out.push(cmp(Field::EtherDaddr, false, Value::Mac(STP_DESTINATION)));
            stp(m, fidelity, &mut out)?;
        }
        other => {
            return Err(format!(
                "<{}> is not a layer-2 element",
                other.kind().map_or("rule", |k| k.element())
            ))
        }
    }
    Ok(out)
}

/// The addresses, the protocol number and the ports `ip` and `ipv6` share.
fn ip_fields(f: &IpFields<'_>, reverse: bool, out: &mut Vec<Match>) -> Result<(), String> {
    let (sf, df) = addr_fields(f.family, reverse);
    for (a, field) in [(&f.src, sf), (&f.dst, df)] {
        if let Some(a) = a {
            out.push(cmp(field, a.negated, address(a.addr, a.prefix)?));
        }
    }
    if let Some(pr) = f.protocol {
        out.push(cmp(
            Field::IpProto(f.family),
            pr.negated,
            int(pr.value.0, Notation::Decimal),
        ));
    }
    th_ports(f.protocol, f.sports, f.dports, reverse, out)
}

fn addr_fields(f: IpFamily, reverse: bool) -> (Field, Field) {
    if reverse {
        (Field::Daddr(f), Field::Saddr(f))
    } else {
        (Field::Saddr(f), Field::Daddr(f))
    }
}

fn arp(
    m: &ArpMatch<Concrete>,
    reverse: bool,
    fidelity: Fidelity,
    out: &mut Vec<Match>,
) -> Result<(), String> {
    ether_header(m.ether_addrs(), reverse, out);
    out.push(cmp(Field::EtherType, false, int(0x0806u16, HEX)));
    if let Some(h) = &m.hwtype {
        out.push(cmp(
            Field::Arp(ArpField::HwType),
            h.negated,
            int(h.value, Notation::Decimal),
        ));
    }
    if let Some(p) = &m.protocoltype {
        out.push(cmp(
            Field::Arp(ArpField::ProtoType),
            p.negated,
            int(p.value, HEX),
        ));
    }
    if let Some(o) = &m.opcode {
        out.push(cmp(
            Field::Arp(ArpField::Opcode),
            o.negated,
            int(o.value.0, Notation::Decimal),
        ));
    }
    let (sip, dip, smac, dmac) = if reverse {
        (
            ArpField::TargetIp,
            ArpField::SenderIp,
            ArpField::TargetMac,
            ArpField::SenderMac,
        )
    } else {
        (
            ArpField::SenderIp,
            ArpField::TargetIp,
            ArpField::SenderMac,
            ArpField::TargetMac,
        )
    };
    // libvirt keeps the source mask for the target address when the target
    // has none (one variable serves both).
    let src_len = m.arpsrcipmask.as_ref().map(|k| k.value.prefix_len());
    let dst_len = m.arpdstipmask.as_ref().map(|k| k.value.prefix_len());
    let dst_len = match fidelity {
        Fidelity::Libvirt => dst_len.or(src_len),
        Fidelity::Fwc => dst_len,
    };
    for (a, len, f) in [
        (&m.arpsrcipaddr, src_len, sip),
        (&m.arpdstipaddr, dst_len, dip),
    ] {
        if let Some(a) = a {
            let v = address(IpAddr::V4(a.value), Some(len.unwrap_or(32)))?;
            out.push(cmp(Field::Arp(f), a.negated, v));
        }
    }
    for (a, f) in [(&m.arpsrcmacaddr, smac), (&m.arpdstmacaddr, dmac)] {
        if let Some(a) = a {
            out.push(cmp(Field::Arp(f), a.negated, Value::Mac(a.value)));
        }
    }
    gratuitous(m, out);
    Ok(())
}

/// libvirt tests gratuitous ARP only when it is asked for (`true`).
fn gratuitous(m: &ArpMatch<Concrete>, out: &mut Vec<Match>) {
    if let Some(g) = m.gratuitous.as_ref().filter(|g| g.value) {
        out.push(cmp(
            Field::Arp(ArpField::Gratuitous),
            g.negated,
            Value::Bool(true),
        ));
    }
}

/// RARP's fields, read raw: nft's `arp` expressions imply ether type arp.
/// The raw offsets are fixed, so the reversed copy swaps nothing but the
/// frame's addresses.
fn rarp(m: &ArpMatch<Concrete>, reverse: bool, out: &mut Vec<Match>) -> Result<(), String> {
    ether_header(m.ether_addrs(), reverse, out);
    out.push(cmp(Field::EtherType, false, int(0x8035u16, HEX)));
    let numbers = [
        (&m.hwtype, ArpField::HwType),
        (&m.protocoltype, ArpField::ProtoType),
    ];
    for (a, f) in numbers {
        if let Some(a) = a {
            out.push(cmp(Field::Arp(f), a.negated, int(a.value, HEX)));
        }
    }
    if let Some(o) = &m.opcode {
        out.push(cmp(
            Field::Arp(ArpField::Opcode),
            o.negated,
            int(o.value.0, HEX),
        ));
    }
    let ips = [
        (&m.arpsrcipaddr, &m.arpsrcipmask, ArpField::SenderIp),
        (&m.arpdstipaddr, &m.arpdstipmask, ArpField::TargetIp),
    ];
    for (a, mask, f) in ips {
        if let Some(a) = a {
            let len = mask.as_ref().map_or(32, |k| k.value.prefix_len());
            let v = address(IpAddr::V4(a.value), Some(len))?;
            out.push(cmp(Field::Arp(f), a.negated, v));
        }
    }
    for (a, f) in [
        (&m.arpsrcmacaddr, ArpField::SenderMac),
        (&m.arpdstmacaddr, ArpField::TargetMac),
    ] {
        if let Some(a) = a {
            out.push(cmp(Field::Arp(f), a.negated, Value::Mac(a.value)));
        }
    }
    gratuitous(m, out);
    Ok(())
}

fn stp(
    m: &crate::nwfilter::StpMatch<Concrete>,
    fidelity: Fidelity,
    out: &mut Vec<Match>,
) -> Result<(), String> {
    let hex = |a: &Attr<u8>| int(a.value, HEX);
    for (a, f) in [(&m.stp_type, StpField::Type), (&m.flags, StpField::Flags)] {
        if let Some(a) = a {
            out.push(cmp(Field::Stp(f), a.negated, hex(a)));
        }
    }
    // libvirt writes `!=` for a range the XML asks to match, `==` for one it
    // asks not to (`insertRuleArgParamHexRange`).
    let libvirt = fidelity == Fidelity::Libvirt;
    let ranged = |out: &mut Vec<Match>,
                  f: StpField,
                  lo: Option<(u64, bool)>,
                  hi: Option<u64>|
     -> Result<(), String> {
        if let Some((lo, negated)) = lo {
            let v = range(lo, hi, HEX)?;
            out.push(cmp(Field::Stp(f), negated != libvirt, v));
        }
        Ok(())
    };
    let w = |a: &Option<Attr<u16>>| a.as_ref().map(|a| (u64::from(a.value), a.negated));
    let e = |a: &Option<Attr<u16>>| a.as_ref().map(|a| u64::from(a.value));
    ranged(
        out,
        StpField::RootPriority,
        w(&m.root_priority),
        e(&m.root_priority_hi),
    )?;
    address_field(
        out,
        StpField::RootAddress,
        &m.root_address,
        &m.root_address_mask,
        libvirt,
    );
    ranged(
        out,
        StpField::RootCost,
        m.root_cost
            .as_ref()
            .map(|a| (u64::from(a.value), a.negated)),
        m.root_cost_hi.as_ref().map(|a| u64::from(a.value)),
    )?;
    ranged(
        out,
        StpField::SenderPriority,
        w(&m.sender_priority),
        e(&m.sender_priority_hi),
    )?;
    address_field(
        out,
        StpField::SenderAddress,
        &m.sender_address,
        &m.sender_address_mask,
        libvirt,
    );
    ranged(out, StpField::Port, w(&m.port), e(&m.port_hi))?;
    ranged(out, StpField::MessageAge, w(&m.age), e(&m.age_hi))?;
    ranged(out, StpField::MaxAge, w(&m.max_age), e(&m.max_age_hi))?;
    ranged(
        out,
        StpField::HelloTime,
        w(&m.hello_time),
        e(&m.hello_time_hi),
    )?;
    ranged(
        out,
        StpField::ForwardDelay,
        w(&m.forward_delay),
        e(&m.forward_delay_hi),
    )?;
    Ok(())
}

/// An STP bridge address; with a mask, libvirt masks it with the address
/// itself (`insertRulePayloadHexMacMask` prints the address twice).
fn address_field(
    out: &mut Vec<Match>,
    f: StpField,
    addr: &Option<Attr<MacAddr>>,
    mask: &Option<Attr<MacMask>>,
    libvirt: bool,
) {
    if let Some(a) = addr {
        let value = match mask {
            Some(m) => Value::MacMasked {
                addr: a.value,
                mask: if libvirt { a.value } else { m.value.addr() },
            },
            None => Value::Mac(a.value),
        };
        out.push(cmp(Field::Stp(f), a.negated, value));
    }
}
