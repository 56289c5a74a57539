//! Uniform views of the attributes several layer-2 elements share, so that
//! each lowering writes their matches once instead of once per element.

use std::net::IpAddr;

use ir::IpFamily;

use crate::nwfilter::value::{IpProtocol, MacAddr, MacMask};
use crate::nwfilter::{ArpMatch, Attr, Concrete, IpMatch, Ipv6Match, MacMatch, VlanMatch};

/// A frame address and its mask (`srcmacaddr`, `srcmacmask`).
pub(crate) type MacAttrs<'a> = (&'a Option<Attr<MacAddr>>, &'a Option<Attr<MacMask>>);

/// A port range's start and end (`srcportstart`, `srcportend`).
pub(crate) type PortAttrs<'a> = (&'a Option<Attr<u16>>, &'a Option<Attr<u16>>);

/// The frame's source and destination addresses of an element that has both.
pub(crate) trait EtherAddrs {
    /// (source, destination), each with its mask.
    fn ether_addrs(&self) -> (MacAttrs<'_>, MacAttrs<'_>);
}

macro_rules! ether_addrs {
    ($($ty:ident),*) => {$(
        impl EtherAddrs for $ty<Concrete> {
            fn ether_addrs(&self) -> (MacAttrs<'_>, MacAttrs<'_>) {
                (
                    (&self.srcmacaddr, &self.srcmacmask),
                    (&self.dstmacaddr, &self.dstmacmask),
                )
            }
        }
    )*};
}

ether_addrs!(MacMatch, VlanMatch, ArpMatch, IpMatch, Ipv6Match);

/// An `ip`/`ipv6` address attribute, widened to [`IpAddr`], with the prefix
/// length of its mask.
pub(crate) struct IpAddrAttr {
    /// The address.
    pub addr: IpAddr,
    /// Whether the match is inverted.
    pub negated: bool,
    /// The mask's prefix length, when a mask is given.
    pub prefix: Option<u8>,
}

/// The layer-3/4 attributes `<ip>` and `<ipv6>` share.
pub(crate) struct IpFields<'a> {
    /// The address family of the element.
    pub family: IpFamily,
    /// `srcipaddr` under `srcipmask`.
    pub src: Option<IpAddrAttr>,
    /// `dstipaddr` under `dstipmask`.
    pub dst: Option<IpAddrAttr>,
    /// `protocol`.
    pub protocol: Option<&'a Attr<IpProtocol>>,
    /// `srcportstart`, `srcportend`.
    pub sports: PortAttrs<'a>,
    /// `dstportstart`, `dstportend`.
    pub dports: PortAttrs<'a>,
}

macro_rules! ip_fields {
    ($($ty:ident => $family:ident),*) => {$(
        impl $ty<Concrete> {
            /// The attributes this element shares with its other-family twin.
            pub(crate) fn ip_fields(&self) -> IpFields<'_> {
                let widen = |a: &Option<Attr<_>>, prefix: Option<u8>| {
                    a.as_ref().map(|a: &Attr<_>| IpAddrAttr {
                        addr: IpAddr::$family(a.value),
                        negated: a.negated,
                        prefix,
                    })
                };
                IpFields {
                    family: IpFamily::$family,
                    src: widen(
                        &self.srcipaddr,
                        self.srcipmask.as_ref().map(|k| k.value.prefix_len()),
                    ),
                    dst: widen(
                        &self.dstipaddr,
                        self.dstipmask.as_ref().map(|k| k.value.prefix_len()),
                    ),
                    protocol: self.protocol.as_ref(),
                    sports: (&self.srcportstart, &self.srcportend),
                    dports: (&self.dstportstart, &self.dstportend),
                }
            }
        }
    )*};
}

ip_fields!(IpMatch => V4, Ipv6Match => V6);
