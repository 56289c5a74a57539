//! Attributes as IR matches, in the forms libvirt's commands write them.
//!
//! libvirt prints what the XML gave: an address without a mask bare
//! (`--source 1.1.1.1`, an [`AddrRange`] of one address here) and with one
//! as a prefix (`10.1.2.3/32`, host bits kept); a port range whose two ends
//! were given as a range even when they are equal (`65535:65535`, an
//! [`IntRange`] in [`Notation::Range`]). Every negated attribute becomes a
//! `!=` match.

use std::net::IpAddr;

use ipnet::IpNet;
use ir::{AddrRange, CmpOp, Field, IntRange, L4Proto, Match, Notation, PortRange, Value};

use crate::layout::LowerError;
use crate::nwfilter::value::{IpProtocol, MacAddr, MacMask};
use crate::nwfilter::Attr;

/// `field op value`, `!=` for a negated attribute.
pub(super) fn compare(field: Field, negated: bool, value: Value) -> Match {
    Match {
        field,
        op: if negated { CmpOp::Ne } else { CmpOp::Eq },
        value,
    }
}

/// A number in a notation.
pub(super) fn int(v: u64, notation: Notation) -> Value {
    Value::Int(IntRange::single(v).written(notation))
}

/// A MAC address, under its mask when the XML gave one.
pub(super) fn mac(addr: MacAddr, mask: Option<MacMask>) -> Value {
    match mask {
        Some(mask) => Value::MacMasked {
            addr,
            mask: mask.addr(),
        },
        None => Value::Mac(addr),
    }
}

/// An address as libvirt prints it: with its mask as a prefix (host bits
/// kept, as libvirt writes them), or bare.
pub(super) fn address(
    addr: IpAddr,
    mask: Option<u8>,
    at: &ir::Source,
) -> Result<Value, LowerError> {
    Ok(match mask {
        Some(len) => Value::Prefix(IpNet::new(addr, len).map_err(|_| LowerError {
            at: at.clone(),
            message: format!("mask /{len} does not fit address {addr}"),
        })?),
        None => Value::AddrRange(AddrRange::single(addr)),
    })
}

/// A port, or a range when the end was given.
pub(super) fn ports(start: u16, end: Option<u16>, at: &ir::Source) -> Result<Value, LowerError> {
    Ok(match end {
        None => Value::Ports(PortRange { start, end: start }),
        Some(end) => Value::Int(
            IntRange::new(start.into(), end.into())
                .map_err(|e| LowerError {
                    at: at.clone(),
                    message: format!("port {e}"),
                })?
                .written(Notation::Range),
        ),
    })
}

/// A number range from `start` and an optional `end` (the `-hi` and `end`
/// attributes): written as a range when the end was given.
pub(super) fn range(start: u64, end: Option<u64>, at: &ir::Source) -> Result<Value, LowerError> {
    Ok(Value::Int(match end {
        None => IntRange::single(start),
        Some(end) => IntRange::new(start, end)
            .map_err(|e| LowerError {
                at: at.clone(),
                message: e.to_string(),
            })?
            .written(Notation::Range),
    }))
}

/// The start of a range attribute and its end attribute's value.
pub(super) fn bounds<T: Copy + Into<u64>>(
    start: &Option<Attr<T>>,
    end: &Option<Attr<T>>,
) -> Option<(Attr<u64>, Option<u64>)> {
    let s = start.as_ref()?;
    Some((
        Attr {
            value: s.value.into(),
            negated: s.negated,
        },
        end.as_ref().map(|e| e.value.into()),
    ))
}

/// The layer-4 protocol a port match belongs to; `None` when the rule's
/// protocol has no ports fwc knows (libvirt allows ports with tcp, udp,
/// dccp and sctp; dccp has no IR protocol).
pub(super) fn port_protocol(
    protocol: Option<L4Proto>,
    at: &ir::Source,
) -> Result<L4Proto, LowerError> {
    match protocol {
        Some(p) if p.has_ports() => Ok(p),
        Some(p) => Err(LowerError {
            at: at.clone(),
            message: format!("protocol {p} has no ports"),
        }),
        None => Err(LowerError {
            at: at.clone(),
            message: "ports need a protocol with ports (tcp, udp, udplite or sctp)".into(),
        }),
    }
}

/// An IP protocol number as a value: by name when the IR knows it.
pub(super) fn ip_protocol(p: IpProtocol) -> Value {
    match p.l4proto() {
        Some(known) => Value::Proto(known),
        None => Value::Int(IntRange::single(p.0.into())),
    }
}
