//! Protocol elements: the match part of a `<rule>`.
//!
//! A rule holds at most one protocol element (`<tcp …/>`, `<mac …/>`, …).
//! [`ProtocolMatch`] has one variant per element; each variant holds a
//! struct with one `Option` field per attribute the element accepts, in
//! libvirt's attribute-table order (`nwfilter_conf.c`), which is also the
//! order in which variables are iterated. Elements with the same attributes
//! share a struct (`<udp>` and `<sctp>` are both [`PortMatch`]).
//!
//! Fields are named after the XML attributes (`srcipaddr`,
//! `connlimit_above`); `type`/`code` become `stp_type`, `icmp_type`,
//! `icmp_code`, and ICMPv6 ranges `icmp_type_end`/`icmp_code_end`.
//!
//! The structs are generic over the [`Stage`]: `TcpMatch<Templated>` (the
//! default) as parsed, `TcpMatch<Concrete>` after
//! [`crate::nwfilter::resolve`] substituted the variables.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::template::{Attr, Concrete, Stage, Template, Templated, VarRef};
use super::value::{
    ArpOpcode, AttrValue, Dscp, EtherType, IpProtocol, IpsetFlags, IpsetName, Ipv4Mask, Ipv6Mask,
    MacAddr, MacMask, RuleComment, StateSet, TcpFlags, Value, ValueKind, VlanId,
};

/// One attribute an element accepts: its XML name and its value kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttrSpec {
    /// The attribute name (`srcipaddr`).
    pub name: &'static str,
    /// How its value is written.
    pub kind: ValueKind,
}

/// A concrete attribute in libvirt's normalised text form, for display and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrView {
    /// The attribute name (`srcipaddr`).
    pub name: &'static str,
    /// The value as libvirt writes it back (`01:02:03:04:05:06`, masks as
    /// prefix lengths, known numbers by name).
    pub text: String,
    /// Whether the match is inverted (`match='no'`).
    pub negated: bool,
}

/// Why [`ProtocolMatch::set`] refused an attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetError {
    /// The element has no such attribute.
    #[error("the attribute is not allowed in this element")]
    NotAllowed,
    /// The value is not of the attribute's kind (a front-end bug).
    #[error("expected a value of kind {0:?}")]
    WrongKind(ValueKind),
}

/// A substituted variable whose value the [`super::Syntax`] returned as the
/// wrong type (a bug in the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrongKind {
    /// The kind that was asked for.
    pub kind: ValueKind,
    /// The variable.
    pub var: VarRef,
}

fn typed<T: AttrValue>(
    a: Attr<Template<Value>>,
    kind: ValueKind,
) -> Result<Attr<Template<T>>, SetError> {
    let value = match a.value {
        Template::Literal(v) => {
            Template::Literal(T::from_value(v).ok_or(SetError::WrongKind(kind))?)
        }
        Template::Var(r) => Template::Var(r),
    };
    Ok(Attr {
        value,
        negated: a.negated,
    })
}

fn concrete<T: AttrValue, E: From<WrongKind>>(
    a: &Attr<Template<T>>,
    kind: ValueKind,
    subst: &mut dyn FnMut(&VarRef, ValueKind) -> Result<Value, E>,
) -> Result<Attr<T>, E> {
    let value = match &a.value {
        Template::Literal(t) => t.clone(),
        Template::Var(r) => T::from_value(subst(r, kind)?).ok_or_else(|| WrongKind {
            kind,
            var: r.clone(),
        })?,
    };
    Ok(Attr {
        value,
        negated: a.negated,
    })
}

/// An attribute of either stage, shown as an [`AttrView`].
trait ViewAttr {
    fn view(&self, name: &'static str) -> AttrView;
}

impl<V: std::fmt::Display> ViewAttr for Attr<V> {
    fn view(&self, name: &'static str) -> AttrView {
        AttrView {
            name,
            text: self.value.to_string(),
            negated: self.negated,
        }
    }
}

macro_rules! protocol_struct {
    (
        $(#[$doc:meta])*
        $name:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $xml:literal as $kind:ident, )*
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name<S: Stage = Templated> {
            $(
                $(#[$fdoc])*
                #[doc = ""]
                #[doc = concat!("XML: `", $xml, "`.")]
                pub $field: Option<S::Attr<$ty>>,
            )*
        }

        impl<S: Stage> Default for $name<S> {
            fn default() -> Self {
                $name { $($field: None,)* }
            }
        }

        impl $name<Templated> {
            /// The element's attributes in libvirt's table order (also the
            /// order in which variables are iterated).
            pub const ATTRIBUTES: &'static [AttrSpec] = &[
                $(AttrSpec { name: $xml, kind: ValueKind::$kind },)*
            ];

            fn set(&mut self, name: &str, attr: Attr<Template<Value>>) -> Result<(), SetError> {
                match name {
                    $($xml => {
                        self.$field = Some(typed(attr, ValueKind::$kind)?);
                        Ok(())
                    })*
                    _ => Err(SetError::NotAllowed),
                }
            }

            fn var_refs<'a>(&'a self, out: &mut Vec<&'a VarRef>) {
                $(if let Some(Attr { value: Template::Var(v), .. }) = &self.$field {
                    out.push(v);
                })*
            }

            fn instantiate<E: From<WrongKind>>(
                &self,
                subst: &mut dyn FnMut(&VarRef, ValueKind) -> Result<Value, E>,
            ) -> Result<$name<Concrete>, E> {
                Ok($name {
                    $($field: match &self.$field {
                        None => None,
                        Some(a) => Some(concrete(a, ValueKind::$kind, subst)?),
                    },)*
                })
            }
        }

        impl<S: Stage> $name<S> {
            fn attrs(&self, out: &mut Vec<AttrView>)
            where
                $(S::Attr<$ty>: ViewAttr,)*
            {
                $(if let Some(a) = &self.$field {
                    out.push(a.view($xml));
                })*
            }
        }
    };
}

/// Forwards to `$then!` with libvirt's four port-range attributes put before
/// the element's own ones: `with_ports! { then [head] { rest } }` becomes
/// `then! { head { ports rest } }`.
macro_rules! with_ports {
    ($then:ident [ $($head:tt)* ] { $($rest:tt)* }) => {
        $then! {
            $($head)* {
                /// Source port (range start).
                srcportstart: u16 = "srcportstart" as U16,
                /// Source port range end.
                srcportend: u16 = "srcportend" as U16,
                /// Destination port (range start).
                dstportstart: u16 = "dstportstart" as U16,
                /// Destination port range end.
                dstportend: u16 = "dstportend" as U16,
                $($rest)*
            }
        }
    };
}

/// Declares an ethernet-layer struct: the frame's addresses and their masks,
/// then the element's own attributes, then `comment`.
macro_rules! ether_struct {
    ($(#[$doc:meta])* $name:ident { $($rest:tt)* }) => {
        protocol_struct! {
            $(#[$doc])*
            $name {
                /// Source MAC address of the frame.
                srcmacaddr: MacAddr = "srcmacaddr" as Mac,
                /// Mask for `srcmacaddr`.
                srcmacmask: MacMask = "srcmacmask" as MacMask,
                /// Destination MAC address of the frame.
                dstmacaddr: MacAddr = "dstmacaddr" as Mac,
                /// Mask for `dstmacaddr`.
                dstmacmask: MacMask = "dstmacmask" as MacMask,
                $($rest)*
                /// A comment.
                comment: RuleComment = "comment" as Comment,
            }
        }
    };
}

/// Declares `<ip>` or `<ipv6>`: an ethernet-layer struct with the addresses
/// of one family, the protocol and the ports, then the element's own
/// attributes.
macro_rules! ip_struct {
    (
        @ports $(#[$doc:meta])*
        $name:ident, $addr:ty, $akind:ident, $mask:ty, $mkind:ident { $($rest:tt)* }
    ) => {
        ether_struct! {
            $(#[$doc])*
            $name {
                /// Source address.
                srcipaddr: $addr = "srcipaddr" as $akind,
                /// Mask for `srcipaddr`.
                srcipmask: $mask = "srcipmask" as $mkind,
                /// Destination address.
                dstipaddr: $addr = "dstipaddr" as $akind,
                /// Mask for `dstipaddr`.
                dstipmask: $mask = "dstipmask" as $mkind,
                /// The layer-4 protocol; required (tcp, udp, dccp or sctp) with ports.
                protocol: IpProtocol = "protocol" as IpProtocol,
                $($rest)*
            }
        }
    };
    (
        $(#[$doc:meta])*
        $name:ident, $addr:ty, $akind:ident, $mask:ty, $mkind:ident { $($rest:tt)* }
    ) => {
        with_ports! {
            ip_struct [@ports $(#[$doc])* $name, $addr, $akind, $mask, $mkind] { $($rest)* }
        }
    };
}

ether_struct! {
    /// `<mac>`: ethernet header fields.
    MacMatch {
        /// The ethertype of the payload.
        protocolid: EtherType = "protocolid" as MacProtocol,
    }
}

ether_struct! {
    /// `<vlan>`: 802.1Q frames.
    VlanMatch {
        /// The VLAN id.
        vlanid: VlanId = "vlanid" as VlanId,
        /// The ethertype inside the VLAN header.
        encap_protocol: EtherType = "encap-protocol" as VlanEncap,
    }
}

protocol_struct! {
    /// `<stp>`: spanning-tree BPDUs (sent to 01:80:c2:00:00:00). Each `-hi`
    /// attribute turns its base attribute into a range.
    StpMatch {
        /// Source MAC address.
        srcmacaddr: MacAddr = "srcmacaddr" as Mac,
        /// Mask for `srcmacaddr`.
        srcmacmask: MacMask = "srcmacmask" as MacMask,
        /// BPDU type.
        stp_type: u8 = "type" as U8,
        /// BPDU flags.
        flags: u8 = "flags" as U8,
        /// Root priority (range start).
        root_priority: u16 = "root-priority" as U16,
        /// Root priority range end.
        root_priority_hi: u16 = "root-priority-hi" as U16,
        /// Root bridge address.
        root_address: MacAddr = "root-address" as Mac,
        /// Mask for `root-address`.
        root_address_mask: MacMask = "root-address-mask" as MacMask,
        /// Root path cost (range start).
        root_cost: u32 = "root-cost" as U32,
        /// Root path cost range end.
        root_cost_hi: u32 = "root-cost-hi" as U32,
        /// Sender priority (range start).
        sender_priority: u16 = "sender-priority" as U16,
        /// Sender priority range end.
        sender_priority_hi: u16 = "sender-priority-hi" as U16,
        /// Sender bridge address.
        sender_address: MacAddr = "sender-address" as Mac,
        /// Mask for `sender-address`.
        sender_address_mask: MacMask = "sender-address-mask" as MacMask,
        /// Port identifier (range start).
        port: u16 = "port" as U16,
        /// Port identifier range end.
        port_hi: u16 = "port-hi" as U16,
        /// Message age (range start).
        age: u16 = "age" as U16,
        /// Message age range end.
        age_hi: u16 = "age-hi" as U16,
        /// Maximum age (range start).
        max_age: u16 = "max-age" as U16,
        /// Maximum age range end.
        max_age_hi: u16 = "max-age-hi" as U16,
        /// Hello time (range start).
        hello_time: u16 = "hello-time" as U16,
        /// Hello time range end.
        hello_time_hi: u16 = "hello-time-hi" as U16,
        /// Forward delay (range start).
        forward_delay: u16 = "forward-delay" as U16,
        /// Forward delay range end.
        forward_delay_hi: u16 = "forward-delay-hi" as U16,
        /// A comment.
        comment: RuleComment = "comment" as Comment,
    }
}

ether_struct! {
    /// `<arp>` and `<rarp>`: ARP packets and their fields.
    ArpMatch {
        /// Hardware type.
        hwtype: u16 = "hwtype" as U16,
        /// Protocol type.
        protocoltype: u16 = "protocoltype" as U16,
        /// Opcode.
        opcode: ArpOpcode = "opcode" as ArpOpcode,
        /// Sender hardware address.
        arpsrcmacaddr: MacAddr = "arpsrcmacaddr" as Mac,
        /// Target hardware address.
        arpdstmacaddr: MacAddr = "arpdstmacaddr" as Mac,
        /// Sender protocol address.
        arpsrcipaddr: Ipv4Addr = "arpsrcipaddr" as Ipv4,
        /// Mask for `arpsrcipaddr`.
        arpsrcipmask: Ipv4Mask = "arpsrcipmask" as Ipv4Mask,
        /// Target protocol address.
        arpdstipaddr: Ipv4Addr = "arpdstipaddr" as Ipv4,
        /// Mask for `arpdstipaddr`.
        arpdstipmask: Ipv4Mask = "arpdstipmask" as Ipv4Mask,
        /// Gratuitous ARP (sender IP equals target IP).
        gratuitous: bool = "gratuitous" as Bool,
    }
}

ip_struct! {
    /// `<ip>`: IPv4 matched at layer 2 (ebtables / the ethernet table).
    IpMatch, Ipv4Addr, Ipv4, Ipv4Mask, Ipv4Mask {
        /// DSCP.
        dscp: Dscp = "dscp" as Dscp,
    }
}

ip_struct! {
    /// `<ipv6>`: IPv6 matched at layer 2 (ebtables / the ethernet table).
    Ipv6Match, Ipv6Addr, Ipv6, Ipv6Mask, Ipv6Mask {
        /// ICMPv6 type (range start).
        icmp_type: u8 = "type" as U8,
        /// ICMPv6 type range end.
        icmp_type_end: u8 = "typeend" as U8,
        /// ICMPv6 code (range start).
        icmp_code: u8 = "code" as U8,
        /// ICMPv6 code range end.
        icmp_code_end: u8 = "codeend" as U8,
    }
}

/// Declares a layer-3/4 struct: libvirt's `COMMON_IP_PROPS` for one address
/// family, then the element's own attributes, then `comment`.
macro_rules! l3_struct {
    // A twin pair: the IPv4 struct, then the IPv6 one with the same attributes.
    (
        $(#[$doc4:meta])* $v4:ident,
        $(#[$doc6:meta])* $v6:ident $(, $ports:ident)? { $($rest:tt)* }
    ) => {
        l3_struct! { $(#[$doc4])* $v4, Ipv4Addr, Ipv4, Ipv4Mask, Ipv4Mask $(, $ports)? { $($rest)* } }
        l3_struct! { $(#[$doc6])* $v6, Ipv6Addr, Ipv6, Ipv6Mask, Ipv6Mask $(, $ports)? { $($rest)* } }
    };
    // `ports`: the element has libvirt's port range attributes first.
    (
        $(#[$doc:meta])*
        $name:ident, $addr:ty, $akind:ident, $mask:ty, $mkind:ident, ports { $($rest:tt)* }
    ) => {
        with_ports! { l3_struct [$(#[$doc])* $name, $addr, $akind, $mask, $mkind] { $($rest)* } }
    };
    (
        $(#[$doc:meta])*
        $name:ident, $addr:ty, $akind:ident, $mask:ty, $mkind:ident {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ty = $xml:literal as $kind:ident, )*
        }
    ) => {
        protocol_struct! {
            $(#[$doc])*
            $name {
                /// Source MAC address.
                srcmacaddr: MacAddr = "srcmacaddr" as Mac,
                /// Source address.
                srcipaddr: $addr = "srcipaddr" as $akind,
                /// Mask for `srcipaddr`.
                srcipmask: $mask = "srcipmask" as $mkind,
                /// Destination address.
                dstipaddr: $addr = "dstipaddr" as $akind,
                /// Mask for `dstipaddr`.
                dstipmask: $mask = "dstipmask" as $mkind,
                /// Source address range start.
                srcipfrom: $addr = "srcipfrom" as $akind,
                /// Source address range end.
                srcipto: $addr = "srcipto" as $akind,
                /// Destination address range start.
                dstipfrom: $addr = "dstipfrom" as $akind,
                /// Destination address range end. (libvirt reads an IPv4
                /// address here even in IPv6 elements, a bug fwc does not copy.)
                dstipto: $addr = "dstipto" as $akind,
                /// DSCP.
                dscp: Dscp = "dscp" as Dscp,
                /// Match when the source has more connections than this.
                connlimit_above: u16 = "connlimit-above" as U16Decimal,
                /// Explicit connection states (`NONE`: no state match at all).
                state: StateSet = "state" as State,
                /// An ipset to match.
                ipset: IpsetName = "ipset" as IpsetName,
                /// The ipset's directions; `src` when `ipset` is given without them.
                ipsetflags: IpsetFlags = "ipsetflags" as IpsetFlags,
                $( $(#[$fdoc])* $field: $ty = $xml as $kind, )*
                /// A comment.
                comment: RuleComment = "comment" as Comment,
            }
        }
    };
}

l3_struct! {
    /// `<tcp>`.
    TcpMatch, Ipv4Addr, Ipv4, Ipv4Mask, Ipv4Mask, ports {
        /// A TCP option number that must be present.
        option: u8 = "option" as U8,
        /// TCP flags to examine and require.
        flags: TcpFlags = "flags" as TcpFlags,
    }
}

l3_struct! {
    /// `<udp>` and `<sctp>`.
    PortMatch,
    /// `<udp-ipv6>` and `<sctp-ipv6>`.
    PortV6Match, ports {}
}

l3_struct! {
    /// `<icmp>`.
    IcmpMatch,
    /// `<icmpv6>`.
    IcmpV6Match {
        /// ICMP (ICMPv6) type.
        icmp_type: u8 = "type" as U8,
        /// ICMP (ICMPv6) code.
        icmp_code: u8 = "code" as U8,
    }
}

l3_struct! {
    /// `<udplite>`, `<esp>`, `<ah>`, `<igmp>` and `<all>`: addresses only.
    L3Match,
    /// `<udplite-ipv6>`, `<esp-ipv6>`, `<ah-ipv6>` and `<all-ipv6>`: addresses only.
    L3V6Match {}
}

l3_struct! {
    /// `<tcp-ipv6>` (libvirt has no `flags` for it).
    TcpV6Match, Ipv6Addr, Ipv6, Ipv6Mask, Ipv6Mask, ports {
        /// A TCP option number that must be present.
        option: u8 = "option" as U8,
    }
}

/// Which firewall layer a protocol element belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// ebtables (libvirt) / the bridge ethernet table (nft): `mac`, `vlan`,
    /// `stp`, `arp`, `rarp`, `ip`, `ipv6`, and rules without an element.
    Ethernet,
    /// iptables / the inet table: `tcp`, `udp`, ..., `all`.
    Ipv4,
    /// ip6tables / the inet table: the `-ipv6` elements and `icmpv6`.
    Ipv6,
}

macro_rules! protocol_enum {
    ($( $(#[$vdoc:meta])* $variant:ident($ty:ident) = $elem:literal, $layer:ident; )*) => {
        /// A protocol element, without its attributes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProtocolKind {
            $( $(#[$vdoc])* $variant, )*
        }

        impl ProtocolKind {
            /// Every element, in libvirt's protocol order.
            pub const ALL: &'static [ProtocolKind] = &[$(ProtocolKind::$variant,)*];

            /// The element name (`tcp-ipv6`).
            pub fn element(self) -> &'static str {
                match self { $(ProtocolKind::$variant => $elem,)* }
            }

            /// The element called `name`.
            pub fn from_element(name: &str) -> Option<ProtocolKind> {
                match name { $($elem => Some(ProtocolKind::$variant),)* _ => None }
            }

            /// The firewall layer the element's rules go to.
            pub fn layer(self) -> Layer {
                match self { $(ProtocolKind::$variant => Layer::$layer,)* }
            }
        }

        /// The protocol element of a rule, with its attributes (boxed: the
        /// element structs are large and rules are moved around a lot).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum ProtocolMatch<S: Stage = Templated> {
            /// A rule without a protocol element: it matches every frame
            /// (an ethernet-layer rule in libvirt).
            Empty,
            $( $(#[$vdoc])* $variant(Box<$ty<S>>), )*
        }

        impl<S: Stage> ProtocolMatch<S> {
            /// The element, or `None` for [`ProtocolMatch::Empty`].
            pub fn kind(&self) -> Option<ProtocolKind> {
                match self {
                    ProtocolMatch::Empty => None,
                    $(ProtocolMatch::$variant(_) => Some(ProtocolKind::$variant),)*
                }
            }

            /// The firewall layer of the rule ([`Layer::Ethernet`] for `Empty`).
            pub fn layer(&self) -> Layer {
                self.kind().map_or(Layer::Ethernet, ProtocolKind::layer)
            }

            /// The `comment` attribute, which every element has.
            pub fn comment(&self) -> Option<&S::Attr<RuleComment>> {
                match self {
                    ProtocolMatch::Empty => None,
                    $(ProtocolMatch::$variant(m) => m.comment.as_ref(),)*
                }
            }
        }

        impl ProtocolMatch<Templated> {
            /// An element of `kind` with no attributes yet.
            pub fn new(kind: ProtocolKind) -> Self {
                match kind { $(ProtocolKind::$variant => ProtocolMatch::$variant(Box::default()),)* }
            }

            /// The attributes the element accepts, in libvirt's order
            /// (empty for `Empty`).
            pub fn attributes(&self) -> &'static [AttrSpec] {
                match self {
                    ProtocolMatch::Empty => &[],
                    $(ProtocolMatch::$variant(_) => $ty::ATTRIBUTES,)*
                }
            }

            /// Sets attribute `name`. A literal must be of the attribute's
            /// kind (see [`ProtocolMatch::attributes`]).
            pub fn set(&mut self, name: &str, attr: Attr<Template<Value>>) -> Result<(), SetError> {
                match self {
                    ProtocolMatch::Empty => Err(SetError::NotAllowed),
                    $(ProtocolMatch::$variant(m) => m.set(name, attr),)*
                }
            }

            /// Every variable reference, in attribute-table order (the order
            /// libvirt collects them in, which decides iteration order).
            pub fn var_refs(&self) -> Vec<&VarRef> {
                let mut out = Vec::new();
                match self {
                    ProtocolMatch::Empty => {}
                    $(ProtocolMatch::$variant(m) => m.var_refs(&mut out),)*
                }
                out
            }

            /// The concrete element: literals are kept, each variable is
            /// replaced by what `subst` returns for it.
            pub fn instantiate<E: From<WrongKind>>(
                &self,
                subst: &mut dyn FnMut(&VarRef, ValueKind) -> Result<Value, E>,
            ) -> Result<ProtocolMatch<Concrete>, E> {
                Ok(match self {
                    ProtocolMatch::Empty => ProtocolMatch::Empty,
                    $(ProtocolMatch::$variant(m) => ProtocolMatch::$variant(Box::new(m.instantiate(subst)?)),)*
                })
            }

            /// Applies libvirt's post-parse fixups (`virNWFilterRuleDefFixup`):
            ///
            /// * an attribute's inversion is copied from its partner: masks
            ///   from their addresses, `srcipto`/`dstipto` from
            ///   `srcipfrom`/`dstipfrom`, `-hi` ends from their bases, and
            ///   (libvirt's quirk) all of `srcportend`, `dstportstart` and
            ///   `dstportend` from `srcportstart`, ICMPv6 `typeend`, `code`,
            ///   `codeend` from `type` and ICMP `code` from `type`. An absent
            ///   partner means "not inverted": with `match='no'`,
            ///   `dstportstart` alone is *not* inverted.
            /// * `ipset` without `ipsetflags` gets `ipsetflags='src'`. (libvirt
            ///   skips this for `<all>` and drops both attributes when both are
            ///   given; fwc treats all elements alike and keeps them.)
            pub fn fixup(&mut self) {
                match self {
                    ProtocolMatch::Empty => {}
                    $(ProtocolMatch::$variant(m) => m.fixup(),)*
                }
            }
        }

        impl ProtocolMatch<Templated> {
            /// The attributes that are set, in libvirt's order, literals in
            /// normalised text form and variables as `$NAME[@n]` (as
            /// libvirt writes a filter back out).
            pub fn attrs(&self) -> Vec<AttrView> {
                let mut out = Vec::new();
                match self {
                    ProtocolMatch::Empty => {}
                    $(ProtocolMatch::$variant(m) => m.attrs(&mut out),)*
                }
                out
            }
        }

        impl ProtocolMatch<Concrete> {
            /// The attributes that are set, in libvirt's order and normalised
            /// text form.
            pub fn attrs(&self) -> Vec<AttrView> {
                let mut out = Vec::new();
                match self {
                    ProtocolMatch::Empty => {}
                    $(ProtocolMatch::$variant(m) => m.attrs(&mut out),)*
                }
                out
            }
        }
    };
}

protocol_enum! {
    /// `<mac>`
    Mac(MacMatch) = "mac", Ethernet;
    /// `<vlan>`
    Vlan(VlanMatch) = "vlan", Ethernet;
    /// `<stp>`
    Stp(StpMatch) = "stp", Ethernet;
    /// `<arp>`
    Arp(ArpMatch) = "arp", Ethernet;
    /// `<rarp>`
    Rarp(ArpMatch) = "rarp", Ethernet;
    /// `<ip>`
    Ip(IpMatch) = "ip", Ethernet;
    /// `<ipv6>`
    Ipv6(Ipv6Match) = "ipv6", Ethernet;
    /// `<tcp>`
    Tcp(TcpMatch) = "tcp", Ipv4;
    /// `<icmp>`
    Icmp(IcmpMatch) = "icmp", Ipv4;
    /// `<igmp>`
    Igmp(L3Match) = "igmp", Ipv4;
    /// `<udp>`
    Udp(PortMatch) = "udp", Ipv4;
    /// `<udplite>`
    Udplite(L3Match) = "udplite", Ipv4;
    /// `<esp>`
    Esp(L3Match) = "esp", Ipv4;
    /// `<ah>`
    Ah(L3Match) = "ah", Ipv4;
    /// `<sctp>`
    Sctp(PortMatch) = "sctp", Ipv4;
    /// `<all>`
    All(L3Match) = "all", Ipv4;
    /// `<tcp-ipv6>`
    TcpIpv6(TcpV6Match) = "tcp-ipv6", Ipv6;
    /// `<icmpv6>`
    Icmpv6(IcmpV6Match) = "icmpv6", Ipv6;
    /// `<udp-ipv6>`
    UdpIpv6(PortV6Match) = "udp-ipv6", Ipv6;
    /// `<udplite-ipv6>`
    UdpliteIpv6(L3V6Match) = "udplite-ipv6", Ipv6;
    /// `<esp-ipv6>`
    EspIpv6(L3V6Match) = "esp-ipv6", Ipv6;
    /// `<ah-ipv6>`
    AhIpv6(L3V6Match) = "ah-ipv6", Ipv6;
    /// `<sctp-ipv6>`
    SctpIpv6(PortV6Match) = "sctp-ipv6", Ipv6;
    /// `<all-ipv6>`
    AllIpv6(L3V6Match) = "all-ipv6", Ipv6;
}

impl ProtocolKind {
    /// The layer-4 protocol the element implies (`None` for the ethernet
    /// elements and `all`/`all-ipv6`).
    pub fn l4proto(self) -> Option<ir::L4Proto> {
        use ir::L4Proto as P;
        match self {
            ProtocolKind::Tcp | ProtocolKind::TcpIpv6 => Some(P::Tcp),
            ProtocolKind::Udp | ProtocolKind::UdpIpv6 => Some(P::Udp),
            ProtocolKind::Sctp | ProtocolKind::SctpIpv6 => Some(P::Sctp),
            ProtocolKind::Udplite | ProtocolKind::UdpliteIpv6 => Some(P::Udplite),
            ProtocolKind::Esp | ProtocolKind::EspIpv6 => Some(P::Esp),
            ProtocolKind::Ah | ProtocolKind::AhIpv6 => Some(P::Ah),
            ProtocolKind::Icmp => Some(P::Icmp),
            ProtocolKind::Icmpv6 => Some(P::Icmpv6),
            ProtocolKind::Igmp => Some(P::Igmp),
            _ => None,
        }
    }
}

/// Sets `dst`'s inversion to `src`'s (not inverted when `src` is absent).
fn copy_neg<T, U>(dst: &mut Option<Attr<T>>, src: &Option<Attr<U>>) {
    if let Some(d) = dst {
        d.negated = src.as_ref().is_some_and(|s| s.negated);
    }
}

macro_rules! copy_neg {
    ($m:ident; $($dst:ident <- $src:ident),* $(,)?) => {
        $(copy_neg(&mut $m.$dst, &$m.$src);)*
    };
}

macro_rules! l3_fixup {
    ($m:ident) => {
        copy_neg!($m; srcipmask <- srcipaddr, dstipmask <- dstipaddr,
                      srcipto <- srcipfrom, dstipto <- dstipfrom);
        if $m.ipset.is_some() && $m.ipsetflags.is_none() {
            $m.ipsetflags = Some(Attr::new(Template::Literal(IpsetFlags::default_src())));
        }
    };
}

macro_rules! port_fixup {
    ($m:ident) => {
        copy_neg!($m; srcportend <- srcportstart, dstportstart <- srcportstart,
                      dstportend <- srcportstart);
    };
}

/// Declares `fixup` (see [`ProtocolMatch::fixup`]) for the element structs
/// that share one.
macro_rules! fixup {
    ($($ty:ident),+ => |$m:ident| $body:block) => {$(
        impl $ty<Templated> {
            fn fixup(&mut self) {
                let $m = self;
                $body
            }
        }
    )+};
}

fixup!(MacMatch, VlanMatch => |m| {
    copy_neg!(m; srcmacmask <- srcmacaddr, dstmacmask <- dstmacaddr);
});

fixup!(StpMatch => |m| {
    copy_neg!(m;
        srcmacmask <- srcmacaddr,
        root_priority_hi <- root_priority,
        root_address_mask <- root_address,
        root_cost_hi <- root_cost,
        sender_priority_hi <- sender_priority,
        sender_address_mask <- sender_address,
        port_hi <- port,
        age_hi <- age,
        max_age_hi <- max_age,
        hello_time_hi <- hello_time,
        forward_delay_hi <- forward_delay,
    );
});

fixup!(ArpMatch => |_m| {});

fixup!(IpMatch => |m| {
    copy_neg!(m; srcipmask <- srcipaddr, dstipmask <- dstipaddr);
});

fixup!(Ipv6Match => |m| {
    copy_neg!(m;
        srcipmask <- srcipaddr,
        dstipmask <- dstipaddr,
        icmp_type_end <- icmp_type,
        icmp_code <- icmp_type,
        icmp_code_end <- icmp_type,
    );
});

fixup!(TcpMatch, PortMatch, TcpV6Match, PortV6Match => |m| {
    l3_fixup!(m);
    port_fixup!(m);
});

fixup!(IcmpMatch, IcmpV6Match => |m| {
    l3_fixup!(m);
    copy_neg!(m; icmp_code <- icmp_type);
});

fixup!(L3Match, L3V6Match => |m| {
    l3_fixup!(m);
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nwfilter::template::VarIndex;

    fn src() -> ir::Source {
        ir::Source {
            file: "t.xml".into(),
            line: 1,
            column: 1,
            element: "tcp".into(),
        }
    }

    fn lit(v: Value) -> Attr<Template<Value>> {
        Attr::new(Template::Literal(v))
    }

    fn var(name: &str, index: Option<VarIndex>) -> Attr<Template<Value>> {
        Attr::new(Template::Var(VarRef {
            name: name.into(),
            index,
            source: src(),
        }))
    }

    #[test]
    fn elements_round_trip_through_their_names() {
        assert_eq!(ProtocolKind::ALL.len(), 24);
        for &k in ProtocolKind::ALL {
            assert_eq!(ProtocolKind::from_element(k.element()), Some(k));
            assert_eq!(ProtocolMatch::new(k).kind(), Some(k));
        }
        assert_eq!(ProtocolKind::from_element("tcpx"), None);
        assert_eq!(ProtocolKind::Rarp.layer(), Layer::Ethernet);
        assert_eq!(ProtocolKind::All.layer(), Layer::Ipv4);
        assert_eq!(ProtocolKind::Icmpv6.layer(), Layer::Ipv6);
        assert_eq!(ProtocolMatch::<Templated>::Empty.layer(), Layer::Ethernet);
        assert_eq!(ProtocolKind::SctpIpv6.l4proto(), Some(ir::L4Proto::Sctp));
        assert_eq!(ProtocolKind::All.l4proto(), None);
    }

    #[test]
    fn each_element_accepts_exactly_its_attributes() {
        let names = |k: ProtocolKind| -> Vec<&str> {
            ProtocolMatch::new(k)
                .attributes()
                .iter()
                .map(|a| a.name)
                .collect()
        };
        assert_eq!(
            names(ProtocolKind::Mac),
            [
                "srcmacaddr",
                "srcmacmask",
                "dstmacaddr",
                "dstmacmask",
                "protocolid",
                "comment"
            ]
        );
        assert_eq!(names(ProtocolKind::Stp).len(), 25);
        assert!(names(ProtocolKind::Tcp).contains(&"flags"));
        assert!(!names(ProtocolKind::TcpIpv6).contains(&"flags"));
        assert!(!names(ProtocolKind::Ip).contains(&"state"));
        assert!(names(ProtocolKind::Udp).contains(&"connlimit-above"));
        assert!(!names(ProtocolKind::All).contains(&"srcportstart"));
        assert_eq!(names(ProtocolKind::Icmp).last(), Some(&"comment"));

        let mut m = ProtocolMatch::new(ProtocolKind::Mac);
        assert_eq!(
            m.set("dstportstart", lit(Value::U16(1))),
            Err(SetError::NotAllowed)
        );
        assert_eq!(
            m.set("protocolid", lit(Value::U16(1))),
            Err(SetError::WrongKind(ValueKind::MacProtocol))
        );
        assert_eq!(
            m.set("protocolid", lit(Value::EtherType(EtherType(0x806)))),
            Ok(())
        );
        let ProtocolMatch::Mac(mac) = &m else {
            panic!("a mac element stays one");
        };
        assert_eq!(
            mac.protocolid.as_ref().and_then(|a| a.value.literal()),
            Some(&EtherType(0x806))
        );
        assert_eq!(
            ProtocolMatch::<Templated>::Empty.set("srcmacaddr", lit(Value::Bool(true))),
            Err(SetError::NotAllowed)
        );
    }

    #[test]
    fn variables_are_listed_in_table_order_and_substituted() {
        let mut m = ProtocolMatch::new(ProtocolKind::Tcp);
        // Set in the reverse of table order: listing follows the table.
        m.set("dstportstart", var("C", Some(VarIndex::Iter(3))))
            .unwrap();
        m.set("srcportstart", var("B", None)).unwrap();
        m.set("srcipaddr", var("A", Some(VarIndex::Index(1))))
            .unwrap();
        m.set("dscp", lit(Value::Dscp(Dscp::new(4).unwrap())))
            .unwrap();
        let names: Vec<_> = m.var_refs().iter().map(|r| r.to_string()).collect();
        assert_eq!(names, ["$A[1]", "$B", "$C[@3]"]);

        let out = m
            .instantiate(&mut |r: &VarRef, kind| -> Result<Value, WrongKindError> {
                Ok(match (r.name.as_str(), kind) {
                    ("A", ValueKind::Ipv4) => Value::Ipv4("10.0.0.1".parse().unwrap()),
                    ("B", ValueKind::U16) => Value::U16(80),
                    ("C", ValueKind::U16) => Value::U16(1080),
                    other => panic!("unexpected {other:?}"),
                })
            })
            .unwrap();
        let text: Vec<_> = out
            .attrs()
            .into_iter()
            .map(|a| format!("{}={}", a.name, a.text))
            .collect();
        assert_eq!(
            text,
            [
                "srcipaddr=10.0.0.1",
                "dscp=4",
                "srcportstart=80",
                "dstportstart=1080"
            ]
        );

        // A syntax that returns the wrong type is reported, not trusted.
        let err = m
            .instantiate(&mut |_: &VarRef, _| -> Result<Value, WrongKindError> {
                Ok(Value::Bool(true))
            })
            .unwrap_err();
        assert_eq!(err.0.kind, ValueKind::Ipv4);
        assert_eq!(err.0.var.name, "A");
    }

    #[derive(Debug)]
    struct WrongKindError(WrongKind);

    impl From<WrongKind> for WrongKindError {
        fn from(w: WrongKind) -> Self {
            WrongKindError(w)
        }
    }

    #[test]
    fn fixup_copies_inversion_as_libvirt_does() {
        let neg = |v: Value| Attr {
            value: Template::Literal(v),
            negated: true,
        };
        let mut m = ProtocolMatch::new(ProtocolKind::Tcp);
        m.set("srcipmask", neg(Value::Ipv4Mask(Ipv4Mask::new(8).unwrap())))
            .unwrap();
        m.set("dstportstart", neg(Value::U16(22))).unwrap();
        m.set("ipset", neg(Value::IpsetName(IpsetName::new("s").unwrap())))
            .unwrap();
        m.fixup();
        let ProtocolMatch::Tcp(t) = &m else {
            panic!("still tcp");
        };
        // No srcipaddr and no srcportstart: their partners lose the inversion.
        assert!(!t.srcipmask.as_ref().unwrap().negated);
        assert!(!t.dstportstart.as_ref().unwrap().negated);
        assert!(t.ipset.as_ref().unwrap().negated);
        assert_eq!(
            t.ipsetflags.as_ref().unwrap().value,
            Template::Literal(IpsetFlags::default_src())
        );

        let mut m = ProtocolMatch::new(ProtocolKind::Udp);
        m.set("srcportstart", neg(Value::U16(1))).unwrap();
        m.set("dstportend", lit(Value::U16(2))).unwrap();
        m.fixup();
        let ProtocolMatch::Udp(u) = &m else {
            panic!("still udp");
        };
        assert!(u.dstportend.as_ref().unwrap().negated);
    }
}
