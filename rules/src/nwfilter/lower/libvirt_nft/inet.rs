//! The matches of a layer-3 rule (`tcp`, `udp`, `icmp`, ..., `all` and
//! their IPv6 forms), in the order libvirt's `nftablesHandleInetRule` writes
//! them: the family, the protocol, the guest's MAC, the addresses, DSCP, TCP
//! flags, ports (destination first), ICMP type and code, the connection
//! limit, the connection direction and state.

use std::net::IpAddr;

use ir::{
    CmpOp, CtDirection, CtStates, Field, IntRange, IpFamily, L4Proto, Match, Notation, TcpFlagSet,
    Value,
};

use super::ethernet::{address, cmp, int, range};
use super::instance::{needs_conntrack, Fidelity};
use crate::nwfilter::value::{Dscp, IpsetFlags, IpsetName, MacAddr, RuleComment, StateSet};
use crate::nwfilter::{Attr, Concrete, Layer, ProtocolMatch, Rule};

/// The attributes every layer-3 element has, whatever its family.
struct Common<'a> {
    family: IpFamily,
    srcmacaddr: &'a Option<Attr<MacAddr>>,
    src: Addresses,
    dst: Addresses,
    dscp: &'a Option<Attr<Dscp>>,
    connlimit_above: &'a Option<Attr<u16>>,
    state: &'a Option<Attr<StateSet>>,
    comment: &'a Option<Attr<RuleComment>>,
    _ipset: (&'a Option<Attr<IpsetName>>, &'a Option<Attr<IpsetFlags>>),
}

/// An address with its mask, or an address range, of one side.
#[derive(Default)]
struct Addresses {
    addr: Option<(IpAddr, Option<u8>, bool)>,
    from: Option<(IpAddr, Option<IpAddr>, bool)>,
}

macro_rules! common {
    ($m:expr, $family:expr, $wrap:expr) => {{
        let m = $m;
        let wrap = $wrap;
        Common {
            family: $family,
            srcmacaddr: &m.srcmacaddr,
            src: Addresses {
                addr: m.srcipaddr.as_ref().map(|a| {
                    (
                        wrap(a.value),
                        m.srcipmask.as_ref().map(|k| k.value.prefix_len()),
                        a.negated,
                    )
                }),
                from: m.srcipfrom.as_ref().map(|a| {
                    (
                        wrap(a.value),
                        m.srcipto.as_ref().map(|t| wrap(t.value)),
                        a.negated,
                    )
                }),
            },
            dst: Addresses {
                addr: m.dstipaddr.as_ref().map(|a| {
                    (
                        wrap(a.value),
                        m.dstipmask.as_ref().map(|k| k.value.prefix_len()),
                        a.negated,
                    )
                }),
                from: m.dstipfrom.as_ref().map(|a| {
                    (
                        wrap(a.value),
                        m.dstipto.as_ref().map(|t| wrap(t.value)),
                        a.negated,
                    )
                }),
            },
            dscp: &m.dscp,
            connlimit_above: &m.connlimit_above,
            state: &m.state,
            comment: &m.comment,
            _ipset: (&m.ipset, &m.ipsetflags),
        }
    }};
}

fn v4(a: std::net::Ipv4Addr) -> IpAddr {
    IpAddr::V4(a)
}

fn v6(a: std::net::Ipv6Addr) -> IpAddr {
    IpAddr::V6(a)
}

/// The common attributes of a layer-3 element.
fn common(p: &ProtocolMatch<Concrete>) -> Option<Common<'_>> {
    use IpFamily::{V4, V6};
    Some(match p {
        ProtocolMatch::Tcp(m) => common!(&**m, V4, v4),
        ProtocolMatch::Udp(m) | ProtocolMatch::Sctp(m) => common!(&**m, V4, v4),
        ProtocolMatch::Icmp(m) => common!(&**m, V4, v4),
        ProtocolMatch::Igmp(m)
        | ProtocolMatch::Udplite(m)
        | ProtocolMatch::Esp(m)
        | ProtocolMatch::Ah(m)
        | ProtocolMatch::All(m) => common!(&**m, V4, v4),
        ProtocolMatch::TcpIpv6(m) => common!(&**m, V6, v6),
        ProtocolMatch::UdpIpv6(m) | ProtocolMatch::SctpIpv6(m) => common!(&**m, V6, v6),
        ProtocolMatch::Icmpv6(m) => common!(&**m, V6, v6),
        ProtocolMatch::UdpliteIpv6(m)
        | ProtocolMatch::EspIpv6(m)
        | ProtocolMatch::AhIpv6(m)
        | ProtocolMatch::AllIpv6(m) => common!(&**m, V6, v6),
        _ => return None,
    })
}

/// Whether the element has a `state` (even `NONE`).
pub(crate) fn has_state(p: &ProtocolMatch<Concrete>) -> bool {
    common(p).is_some_and(|c| c.state.is_some())
}

/// The element's comment, if it has one.
pub(crate) fn comment(p: &ProtocolMatch<Concrete>) -> Option<&str> {
    common(p).and_then(|c| c.comment.as_ref().map(|a| a.value.as_str()))
}

/// Ports: the start, and the end when given.
type Ports<'a> = (&'a Option<Attr<u16>>, &'a Option<Attr<u16>>);

/// The element's own attributes beyond the common ones.
enum Own<'a> {
    /// Ports (source, destination) and, for TCP, flags and an option.
    Ports {
        src: Ports<'a>,
        dst: Ports<'a>,
        flags: Option<&'a Attr<crate::nwfilter::value::TcpFlags>>,
        option: Option<&'a Attr<u8>>,
    },
    /// ICMP type and code.
    Icmp {
        ty: &'a Option<Attr<u8>>,
        code: &'a Option<Attr<u8>>,
    },
    None,
}

fn own(p: &ProtocolMatch<Concrete>) -> Own<'_> {
    match p {
        ProtocolMatch::Tcp(m) => Own::Ports {
            src: (&m.srcportstart, &m.srcportend),
            dst: (&m.dstportstart, &m.dstportend),
            flags: m.flags.as_ref(),
            option: m.option.as_ref(),
        },
        ProtocolMatch::TcpIpv6(m) => Own::Ports {
            src: (&m.srcportstart, &m.srcportend),
            dst: (&m.dstportstart, &m.dstportend),
            flags: None,
            option: m.option.as_ref(),
        },
        ProtocolMatch::Udp(m) | ProtocolMatch::Sctp(m) => Own::Ports {
            src: (&m.srcportstart, &m.srcportend),
            dst: (&m.dstportstart, &m.dstportend),
            flags: None,
            option: None,
        },
        ProtocolMatch::UdpIpv6(m) | ProtocolMatch::SctpIpv6(m) => Own::Ports {
            src: (&m.srcportstart, &m.srcportend),
            dst: (&m.dstportstart, &m.dstportend),
            flags: None,
            option: None,
        },
        ProtocolMatch::Icmp(m) => Own::Icmp {
            ty: &m.icmp_type,
            code: &m.icmp_code,
        },
        ProtocolMatch::Icmpv6(m) => Own::Icmp {
            ty: &m.icmp_type,
            code: &m.icmp_code,
        },
        _ => Own::None,
    }
}

/// The matches of a layer-3 rule copy: `inbound` is the chain it goes to,
/// `reverse` marks the reply copy (sources and destinations swapped).
pub(crate) fn matches(
    rule: &Rule<Concrete>,
    inbound: bool,
    reverse: bool,
    fidelity: Fidelity,
) -> Result<Vec<Match>, String> {
    let p = &rule.protocol;
    let kind = p
        .kind()
        .ok_or("a rule without an element is a layer-2 rule")?;
    let c = common(p).ok_or_else(|| format!("<{}> is not a layer-3 element", kind.element()))?;
    let mut out = Vec::new();
    let ether_type = match c.family {
        IpFamily::V4 => 0x0800u16,
        IpFamily::V6 => 0x86dd,
    };
    out.push(cmp(
        Field::EtherType,
        false,
        int(ether_type, Notation::Name),
    ));
    let l4 = kind.l4proto();
    let is_icmp = matches!(l4, Some(L4Proto::Icmp | L4Proto::Icmpv6));
    match l4 {
        Some(proto) if is_icmp => {
            out.push(cmp(Field::IpProto(c.family), false, Value::Proto(proto)))
        }
        Some(proto) => out.push(cmp(Field::L4Proto, false, Value::Proto(proto))),
        None => {}
    }
    if let Some(mac) = c.srcmacaddr {
        // The guest's MAC is not swapped in the reply copy.
        out.push(cmp(Field::EtherSaddr, mac.negated, Value::Mac(mac.value)));
    }
    ip_header(&c, kind.layer(), reverse, fidelity, &mut out)?;
    match own(p) {
        Own::Ports {
            src,
            dst,
            flags,
            option,
        } => {
            if let Some(f) = flags {
                out.push(cmp(
                    Field::TcpFlags,
                    f.negated,
                    Value::TcpFlags {
                        mask: TcpFlagSet(f.value.mask),
                        set: TcpFlagSet(f.value.flags),
                    },
                ));
            }
            if option.is_some() {
                return Err("fwc cannot match TCP options".into());
            }
            let proto = l4.ok_or("a port element without a protocol")?;
            // Destination first; the reply copy swaps the names.
            for ((start, end), is_dport) in [(dst, !reverse), (src, reverse)] {
                if let Some(s) = start {
                    let field = if is_dport {
                        Field::Dport(proto)
                    } else {
                        Field::Sport(proto)
                    };
                    let end = end.as_ref().map(|e| u64::from(e.value));
                    let v = port_value(s.value, end, fidelity)?;
                    out.push(cmp(field, s.negated, v));
                }
            }
        }
        Own::Icmp { ty, code } => {
            if let Some(t) = ty {
                let n = Notation::Decimal;
                out.push(cmp(Field::IcmpType(c.family), t.negated, int(t.value, n)));
                // libvirt reads the code only with a type.
                if let Some(k) = code {
                    out.push(cmp(Field::IcmpCode(c.family), k.negated, int(k.value, n)));
                }
            }
        }
        Own::None => {}
    }
    // libvirt's nft driver does not support ipsets and leaves them out
    // (it reports an error but installs the rule).
    let connlimit = c.connlimit_above.as_ref().filter(|_| !inbound);
    if let Some(n) = connlimit {
        let over = IntRange::new(u64::from(n.value) + 1, u64::from(u32::MAX))
            .map_err(|e| e.to_string())?;
        out.push(cmp(Field::ConnCount, n.negated, Value::Int(over)));
    }
    if needs_conntrack(rule) {
        if connlimit.is_none() && !is_icmp {
            let dir = if reverse {
                CtDirection::Reply
            } else {
                CtDirection::Original
            };
            out.push(cmp(Field::CtDirection, false, Value::CtDir(dir)));
        }
        let explicit = c.state.as_ref().and_then(|s| s.value.ct_states());
        let states = explicit.unwrap_or(CtStates {
            new: !reverse,
            established: true,
            ..CtStates::default()
        });
        out.push(Match::eq(Field::CtState, Value::CtStates(states)));
    }
    Ok(out)
}

/// A port or port range: libvirt writes `start-end` whenever the end is
/// given; fwc's layout keeps ports as ports.
fn port_value(start: u16, end: Option<u64>, fidelity: Fidelity) -> Result<Value, String> {
    match fidelity {
        Fidelity::Libvirt => range(start.into(), end, Notation::Decimal),
        Fidelity::Fwc => {
            let end = u16::try_from(end.unwrap_or(start.into())).map_err(|e| e.to_string())?;
            ir::PortRange::new(start, end)
                .map(Value::Ports)
                .map_err(|e| e.to_string())
        }
    }
}

/// Source and destination addresses (swapped in the reply copy), then DSCP.
fn ip_header(
    c: &Common<'_>,
    layer: Layer,
    reverse: bool,
    fidelity: Fidelity,
    out: &mut Vec<Match>,
) -> Result<(), String> {
    let (sf, df) = if reverse {
        (Field::Daddr(c.family), Field::Saddr(c.family))
    } else {
        (Field::Saddr(c.family), Field::Daddr(c.family))
    };
    let mut any_address = false;
    for (side, field) in [(&c.src, sf), (&c.dst, df)] {
        let m = if let Some((addr, len, negated)) = side.addr {
            cmp(field, negated, address(addr, len)?)
        } else if let Some((from, to, negated)) = side.from {
            let r = ir::AddrRange::new(from, to.unwrap_or(from)).map_err(|e| e.to_string())?;
            cmp(field, negated, Value::AddrRange(r))
        } else {
            continue;
        };
        any_address = true;
        out.push(m);
    }
    if let Some(d) = c.dscp {
        // Without an address libvirt names DSCP's family after the DSCP
        // attribute's type, which is IPv4's.
        let family = match (any_address, fidelity) {
            (false, Fidelity::Libvirt) => IpFamily::V4,
            _ => match layer {
                Layer::Ipv6 => IpFamily::V6,
                _ => c.family,
            },
        };
        out.push(Match {
            field: Field::Dscp(family),
            op: if d.negated { CmpOp::Ne } else { CmpOp::Eq },
            value: int(d.value.value(), Notation::Decimal),
        });
    }
    Ok(())
}
