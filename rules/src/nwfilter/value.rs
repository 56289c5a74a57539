//! The value types of nwfilter attributes, and the kinds of text they are
//! read from.
//!
//! Each attribute of a protocol element has a [`ValueKind`]: the grammar its
//! text follows and the checks libvirt applies (`dscp` is a number up to 63,
//! `vlanid` up to 4095, a MAC mask has contiguous ones, ...). Parsing the
//! text is the front end's job (fwc's compiler does it with nom); it hands
//! back a [`Value`], which converts into the attribute's Rust type through
//! [`AttrValue`]. Variables are parsed the same way when they are
//! substituted, through the [`Syntax`] the caller of
//! [`crate::nwfilter::resolve`] passes, so both paths accept exactly the
//! same text.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ir::L4Proto;
pub use ir::MacAddr;

/// Turns the text of a variable's value into a typed [`Value`].
///
/// Implemented by the front end that owns the value grammars; `resolve`
/// calls it for every variable it substitutes.
pub trait Syntax {
    /// Parses `text` as a value of `kind`. The error says what was expected
    /// (e.g. "expected six ':'-separated hex bytes").
    fn parse(&self, kind: ValueKind, text: &str) -> Result<Value, String>;
}

/// The grammar and checks of an attribute's value (libvirt's `DATATYPE_*`
/// plus the per-attribute validators of `nwfilter_conf.c`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    /// `aa:bb:cc:dd:ee:ff`, one or two hex digits per byte.
    Mac,
    /// A MAC address whose bits are ones then zeros.
    MacMask,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// A prefix length 0-32 or a dotted-quad netmask.
    Ipv4Mask,
    /// An IPv6 address.
    Ipv6,
    /// A prefix length 0-128 or an IPv6 netmask.
    Ipv6Mask,
    /// 0-255, decimal or hex (`0x12`; libvirt also reads bare hex digits
    /// when the text is not decimal).
    U8,
    /// 0-65535, decimal or hex.
    U16,
    /// 0-65535, decimal only (`connlimit-above`).
    U16Decimal,
    /// 0-4294967295, decimal or hex.
    U32,
    /// A DSCP value 0-63, decimal or hex.
    Dscp,
    /// `true`/`false` (also `yes`/`no`, `1`/`0`).
    Bool,
    /// An ethertype at least 0x600, or `arp`, `rarp`, `ipv4`, `ipv6`, `vlan`
    /// (`<mac protocolid>`).
    MacProtocol,
    /// A VLAN id 0-4095.
    VlanId,
    /// An ethertype at least 0x3c, or a name as for [`ValueKind::MacProtocol`]
    /// (`<vlan encap-protocol>`).
    VlanEncap,
    /// An ARP opcode number, or `Request`, `Reply`, `Request_Reverse`, ...
    ArpOpcode,
    /// An IP protocol number, or `tcp`, `udp`, `udplite`, `esp`, `ah`,
    /// `icmp`, `igmp`, `sctp`, `icmpv6`.
    IpProtocol,
    /// A comma list of `NEW`, `ESTABLISHED`, `RELATED`, `INVALID`, or `NONE`.
    State,
    /// `MASK/SET`, each a comma list of `SYN`, `ACK`, `URG`, `PSH`, `FIN`,
    /// `RST`, or `ALL`/`NONE`.
    TcpFlags,
    /// An ipset name.
    IpsetName,
    /// One to six comma-separated `src`/`dst`.
    IpsetFlags,
    /// Free text up to 256 characters.
    Comment,
}

impl ValueKind {
    /// What such a value is called in messages ("MAC address").
    pub fn noun(self) -> &'static str {
        match self {
            ValueKind::Mac => "MAC address",
            ValueKind::MacMask => "MAC mask",
            ValueKind::Ipv4 => "IPv4 address",
            ValueKind::Ipv4Mask => "IPv4 mask",
            ValueKind::Ipv6 => "IPv6 address",
            ValueKind::Ipv6Mask => "IPv6 mask",
            ValueKind::U8 => "8-bit number",
            ValueKind::U16 | ValueKind::U16Decimal => "16-bit number",
            ValueKind::U32 => "32-bit number",
            ValueKind::Dscp => "DSCP value",
            ValueKind::Bool => "boolean",
            ValueKind::MacProtocol => "ethernet protocol id",
            ValueKind::VlanId => "VLAN id",
            ValueKind::VlanEncap => "VLAN encapsulated protocol",
            ValueKind::ArpOpcode => "ARP opcode",
            ValueKind::IpProtocol => "IP protocol",
            ValueKind::State => "connection state list",
            ValueKind::TcpFlags => "TCP flags",
            ValueKind::IpsetName => "ipset name",
            ValueKind::IpsetFlags => "ipset flags",
            ValueKind::Comment => "comment",
        }
    }

    /// What a valid value looks like, for messages ("expected ...").
    pub fn expected(self) -> &'static str {
        match self {
            ValueKind::Mac => "six ':'-separated hex bytes, like 52:54:00:12:34:56",
            ValueKind::MacMask => "a MAC address of leading one bits, like ff:ff:ff:00:00:00",
            ValueKind::Ipv4 => "a dotted-quad IPv4 address",
            ValueKind::Ipv4Mask => "a prefix length from 0 to 32 or a netmask like 255.255.255.0",
            ValueKind::Ipv6 => "an IPv6 address",
            ValueKind::Ipv6Mask => "a prefix length from 0 to 128 or a contiguous IPv6 netmask",
            ValueKind::U8 => "a number from 0 to 255 (decimal or 0x hex)",
            ValueKind::U16 => "a number from 0 to 65535 (decimal or 0x hex)",
            ValueKind::U16Decimal => "a decimal number from 0 to 65535",
            ValueKind::U32 => "a number from 0 to 4294967295 (decimal or 0x hex)",
            ValueKind::Dscp => "a number from 0 to 63",
            ValueKind::Bool => "true or false",
            ValueKind::MacProtocol => {
                "arp, rarp, ipv4, ipv6, vlan or a number from 0x600 to 0xffff"
            }
            ValueKind::VlanId => "a number from 0 to 4095",
            ValueKind::VlanEncap => "arp, rarp, ipv4, ipv6, vlan or a number from 0x3c to 0xffff",
            ValueKind::ArpOpcode => {
                "a number from 0 to 65535 or one of Request, Reply, Request_Reverse, \
                 Reply_Reverse, DRARP_Request, DRARP_Reply, DRARP_Error, InARP_Request, ARP_NAK"
            }
            ValueKind::IpProtocol => {
                "a number from 0 to 255 or one of tcp, udp, udplite, esp, ah, icmp, igmp, \
                 sctp, icmpv6"
            }
            ValueKind::State => "NONE or a comma list of NEW, ESTABLISHED, RELATED, INVALID",
            ValueKind::TcpFlags => {
                "MASK/SET, each a comma list of SYN, ACK, URG, PSH, FIN, RST, or ALL or NONE"
            }
            ValueKind::IpsetName => {
                "up to 31 letters, digits and '_', '.', ':', '-', '+' or spaces"
            }
            ValueKind::IpsetFlags => "one to six comma-separated src or dst",
            ValueKind::Comment => "at most 256 characters",
        }
    }
}

/// A parsed attribute value, tagged by type. [`AttrValue::from_value`]
/// takes the variant that belongs to each Rust type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// [`ValueKind::Mac`].
    Mac(MacAddr),
    /// [`ValueKind::MacMask`].
    MacMask(MacMask),
    /// [`ValueKind::Ipv4`].
    Ipv4(Ipv4Addr),
    /// [`ValueKind::Ipv4Mask`].
    Ipv4Mask(Ipv4Mask),
    /// [`ValueKind::Ipv6`].
    Ipv6(Ipv6Addr),
    /// [`ValueKind::Ipv6Mask`].
    Ipv6Mask(Ipv6Mask),
    /// [`ValueKind::U8`].
    U8(u8),
    /// [`ValueKind::U16`] and [`ValueKind::U16Decimal`].
    U16(u16),
    /// [`ValueKind::U32`].
    U32(u32),
    /// [`ValueKind::Dscp`].
    Dscp(Dscp),
    /// [`ValueKind::Bool`].
    Bool(bool),
    /// [`ValueKind::MacProtocol`] and [`ValueKind::VlanEncap`].
    EtherType(EtherType),
    /// [`ValueKind::VlanId`].
    VlanId(VlanId),
    /// [`ValueKind::ArpOpcode`].
    ArpOpcode(ArpOpcode),
    /// [`ValueKind::IpProtocol`].
    IpProtocol(IpProtocol),
    /// [`ValueKind::State`].
    State(StateSet),
    /// [`ValueKind::TcpFlags`].
    TcpFlags(TcpFlags),
    /// [`ValueKind::IpsetName`].
    IpsetName(IpsetName),
    /// [`ValueKind::IpsetFlags`].
    IpsetFlags(IpsetFlags),
    /// [`ValueKind::Comment`].
    Comment(RuleComment),
}

/// A Rust type an attribute can hold.
///
/// `Display` prints the value the way libvirt normalises it when it writes
/// a filter back out (MACs with two lowercase digits, masks as prefix
/// lengths, known protocol numbers by name).
pub trait AttrValue: Clone + fmt::Debug + fmt::Display + PartialEq + Eq + Sized {
    /// The value, if `v` is of this type's variant.
    fn from_value(v: Value) -> Option<Self>;
}

macro_rules! attr_value {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl AttrValue for $ty {
            fn from_value(v: Value) -> Option<Self> {
                match v {
                    Value::$variant(x) => Some(x),
                    _ => None,
                }
            }
        })*
    };
}

attr_value! {
    MacAddr => Mac,
    MacMask => MacMask,
    Ipv4Addr => Ipv4,
    Ipv4Mask => Ipv4Mask,
    Ipv6Addr => Ipv6,
    Ipv6Mask => Ipv6Mask,
    u8 => U8,
    u16 => U16,
    u32 => U32,
    Dscp => Dscp,
    bool => Bool,
    EtherType => EtherType,
    VlanId => VlanId,
    ArpOpcode => ArpOpcode,
    IpProtocol => IpProtocol,
    StateSet => State,
    TcpFlags => TcpFlags,
    IpsetName => IpsetName,
    IpsetFlags => IpsetFlags,
    RuleComment => Comment,
}

/// Whether the low `width` bits of `bits` (most significant first) are ones
/// followed by zeros.
fn contiguous(bits: u128, width: u32) -> bool {
    let top = bits << (128 - width);
    let ones = top.leading_ones();
    ones == 128 || top << ones == 0
}

/// A MAC mask: ones then zeros (libvirt's `checkValidMask`), like
/// `ff:ff:ff:ff:ff:00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MacMask(MacAddr);

impl MacMask {
    /// The all-ones mask ebtables assumes when none is given.
    pub const EXACT: MacMask = MacMask(MacAddr([0xff; 6]));

    /// The mask, if its bits are contiguous.
    pub fn new(mask: MacAddr) -> Option<MacMask> {
        let bits = mask
            .0
            .iter()
            .fold(0u128, |acc, b| acc << 8 | u128::from(*b));
        contiguous(bits, 48).then_some(MacMask(mask))
    }

    /// The mask as a MAC address (how ebtables and nft print it).
    pub fn addr(self) -> MacAddr {
        self.0
    }

    /// The number of leading one bits (0-48).
    pub fn prefix_len(self) -> u8 {
        let ones: u32 = self.0 .0.iter().map(|b| b.count_ones()).sum();
        ones as u8
    }
}

impl fmt::Display for MacMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv4 mask, kept as a prefix length (0-32). libvirt reads a prefix
/// length or a dotted netmask and stores the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Mask(u8);

impl Ipv4Mask {
    /// A mask of `len` leading ones, if `len <= 32`.
    pub fn new(len: u8) -> Option<Ipv4Mask> {
        (len <= 32).then_some(Ipv4Mask(len))
    }

    /// The mask of a contiguous netmask like `255.255.128.0`.
    pub fn from_netmask(mask: Ipv4Addr) -> Option<Ipv4Mask> {
        let bits = u32::from(mask);
        contiguous(u128::from(bits), 32).then_some(Ipv4Mask(bits.leading_ones() as u8))
    }

    /// The prefix length.
    pub fn prefix_len(self) -> u8 {
        self.0
    }

    /// The mask as a dotted netmask.
    pub fn netmask(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(self.0)).unwrap_or(0))
    }
}

impl fmt::Display for Ipv4Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An IPv6 mask, kept as a prefix length (0-128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6Mask(u8);

impl Ipv6Mask {
    /// A mask of `len` leading ones, if `len <= 128`.
    pub fn new(len: u8) -> Option<Ipv6Mask> {
        (len <= 128).then_some(Ipv6Mask(len))
    }

    /// The mask of a contiguous netmask like `ffff:ffff:ffff:ffff:8000::`.
    pub fn from_netmask(mask: Ipv6Addr) -> Option<Ipv6Mask> {
        let bits = u128::from(mask);
        contiguous(bits, 128).then_some(Ipv6Mask(bits.leading_ones() as u8))
    }

    /// The prefix length.
    pub fn prefix_len(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Ipv6Mask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A DSCP value (0-63). ebtables prints it shifted into the TOS byte,
/// iptables and nft as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Dscp(u8);

impl Dscp {
    /// The value, if it is at most 63.
    pub fn new(v: u8) -> Option<Dscp> {
        (v <= 63).then_some(Dscp(v))
    }

    /// The 6-bit value.
    pub fn value(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Dscp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A VLAN id (0-4095).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanId(u16);

impl VlanId {
    /// The id, if it is at most 4095.
    pub fn new(v: u16) -> Option<VlanId> {
        (v <= 4095).then_some(VlanId(v))
    }

    /// The 12-bit id.
    pub fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Display for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An ethernet protocol id (ethertype).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    /// The names libvirt accepts (case-insensitively) and prints.
    pub const NAMES: [(&'static str, u16); 5] = [
        ("arp", 0x0806),
        ("rarp", 0x8035),
        ("ipv4", 0x0800),
        ("ipv6", 0x86dd),
        ("vlan", 0x8100),
    ];

    /// The ethertype called `name` (any case).
    pub fn from_name(name: &str) -> Option<EtherType> {
        ir::value_named(&Self::NAMES, name).map(EtherType)
    }

    /// libvirt's name for it, if it has one.
    pub fn name(self) -> Option<&'static str> {
        ir::name_of_value(&Self::NAMES, self.0)
    }
}

impl fmt::Display for EtherType {
    /// The name, or `0x` and lowercase hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{:#x}", self.0),
        }
    }
}

/// An ARP/RARP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ArpOpcode(pub u16);

impl ArpOpcode {
    /// The names libvirt accepts (case-insensitively), as `ebtables -h arp` spells them.
    pub const NAMES: [(&'static str, u16); 9] = [
        ("Request", 1),
        ("Reply", 2),
        ("Request_Reverse", 3),
        ("Reply_Reverse", 4),
        ("DRARP_Request", 5),
        ("DRARP_Reply", 6),
        ("DRARP_Error", 7),
        ("InARP_Request", 8),
        ("ARP_NAK", 9),
    ];

    /// The opcode called `name` (any case).
    pub fn from_name(name: &str) -> Option<ArpOpcode> {
        ir::value_named(&Self::NAMES, name).map(ArpOpcode)
    }

    /// libvirt's name for it, if it has one.
    pub fn name(self) -> Option<&'static str> {
        ir::name_of_value(&Self::NAMES, self.0)
    }
}

impl fmt::Display for ArpOpcode {
    /// The name, or the decimal number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => self.0.fmt(f),
        }
    }
}

/// An IP protocol number (`<ip protocol>`, `<ipv6 protocol>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// The names libvirt accepts (case-insensitively) and prints.
    pub const NAMES: [(&'static str, u8); 9] = [
        ("tcp", 6),
        ("udp", 17),
        ("udplite", 136),
        ("esp", 50),
        ("ah", 51),
        ("icmp", 1),
        ("igmp", 2),
        ("sctp", 132),
        ("icmpv6", 58),
    ];

    /// The protocol called `name` (any case).
    pub fn from_name(name: &str) -> Option<IpProtocol> {
        ir::value_named(&Self::NAMES, name).map(IpProtocol)
    }

    /// libvirt's name for it, if it has one.
    pub fn name(self) -> Option<&'static str> {
        ir::name_of_value(&Self::NAMES, self.0)
    }

    /// The IR's protocol, for the protocols the IR knows.
    pub fn l4proto(self) -> Option<L4Proto> {
        L4Proto::ALL.into_iter().find(|p| p.number() == self.0)
    }

    /// Whether libvirt allows port attributes with this protocol (tcp, udp,
    /// dccp, sctp).
    pub fn has_ports(self) -> bool {
        matches!(self.0, 6 | 17 | 33 | 132)
    }
}

impl fmt::Display for IpProtocol {
    /// The name, or the decimal number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => self.0.fmt(f),
        }
    }
}

/// The `state` attribute: connection-tracking states to match, or `NONE`
/// (all false), which turns off libvirt's implicit state matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StateSet {
    /// `NEW`
    pub new: bool,
    /// `ESTABLISHED`
    pub established: bool,
    /// `RELATED`
    pub related: bool,
    /// `INVALID`
    pub invalid: bool,
}

impl StateSet {
    /// `NONE`: no state match at all.
    pub const NONE: StateSet = StateSet {
        new: false,
        established: false,
        related: false,
        invalid: false,
    };

    /// Whether this is `NONE`.
    pub fn is_none(self) -> bool {
        self == Self::NONE
    }

    /// The states in libvirt's order and spelling (`NEW`, `ESTABLISHED`,
    /// `RELATED`, `INVALID`); empty for `NONE`.
    pub fn names(self) -> Vec<&'static str> {
        [
            (self.new, "NEW"),
            (self.established, "ESTABLISHED"),
            (self.related, "RELATED"),
            (self.invalid, "INVALID"),
        ]
        .into_iter()
        .filter_map(|(on, n)| on.then_some(n))
        .collect()
    }

    /// The IR's state set, or `None` for `NONE`.
    pub fn ct_states(self) -> Option<ir::CtStates> {
        (!self.is_none()).then_some(ir::CtStates {
            new: self.new,
            established: self.established,
            related: self.related,
            invalid: self.invalid,
            untracked: false,
        })
    }
}

impl fmt::Display for StateSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            f.write_str("NONE")
        } else {
            f.write_str(&self.names().join(","))
        }
    }
}

/// The `flags` attribute of `<tcp>`: examine the `mask` bits, require the
/// `flags` bits among them to be set (iptables `--tcp-flags MASK SET`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpFlags {
    /// The flags examined (bits as in the TCP header: FIN 0x01 ... URG 0x20).
    pub mask: u8,
    /// The flags that must be set.
    pub flags: u8,
}

impl TcpFlags {
    /// Flag names and bits, in libvirt's printing order: the IR's
    /// [`ir::TcpFlagSet::NAMES`] without ECE and CWR, which libvirt does
    /// not know.
    pub const NAMES: [(&'static str, u8); 6] = {
        let [fin, syn, rst, psh, ack, urg, _ece, _cwr] = ir::TcpFlagSet::NAMES;
        [fin, syn, rst, psh, ack, urg]
    };
    /// All six flags.
    pub const ALL: u8 = 0x3f;

    /// `bits` as libvirt prints them: `NONE`, `ALL`, or a comma list.
    pub fn names(bits: u8) -> String {
        match bits & Self::ALL {
            0 => "NONE".into(),
            Self::ALL => "ALL".into(),
            b => Self::NAMES
                .iter()
                .filter(|(_, bit)| b & bit != 0)
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", Self::names(self.mask), Self::names(self.flags))
    }
}

/// An ipset name: at most 31 bytes of letters, digits and `_.:-+` or space
/// (libvirt's `VALID_IPSETNAME`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpsetName(String);

impl IpsetName {
    /// The longest name (`MAX_IPSET_NAME_LENGTH` less the terminating NUL).
    pub const MAX_LEN: usize = 31;

    /// The name, if libvirt accepts it. An empty name is refused.
    pub fn new(name: &str) -> Option<IpsetName> {
        let ok = !name.is_empty()
            && name.len() <= Self::MAX_LEN
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.:-+ ".contains(c));
        ok.then(|| IpsetName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IpsetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One direction of an ipset match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpsetDir {
    /// `src`
    Src,
    /// `dst`
    Dst,
}

/// The `ipsetflags` attribute: one to six directions, matched against the
/// set's dimensions in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IpsetFlags(Vec<IpsetDir>);

impl IpsetFlags {
    /// The most directions libvirt accepts.
    pub const MAX: usize = 6;

    /// The flags, if there are one to six.
    pub fn new(dirs: Vec<IpsetDir>) -> Option<IpsetFlags> {
        (1..=Self::MAX)
            .contains(&dirs.len())
            .then_some(IpsetFlags(dirs))
    }

    /// libvirt's default when `ipset` is given without flags: `src`.
    pub fn default_src() -> IpsetFlags {
        IpsetFlags(vec![IpsetDir::Src])
    }

    /// The directions in order.
    pub fn dirs(&self) -> &[IpsetDir] {
        &self.0
    }

    /// Every `src` turned into `dst` and back, as libvirt writes the
    /// reversed (reply-direction) copy of a rule.
    pub fn swapped(&self) -> IpsetFlags {
        IpsetFlags(
            self.0
                .iter()
                .map(|d| match d {
                    IpsetDir::Src => IpsetDir::Dst,
                    IpsetDir::Dst => IpsetDir::Src,
                })
                .collect(),
        )
    }
}

impl fmt::Display for IpsetFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words: Vec<_> = self
            .0
            .iter()
            .map(|d| match d {
                IpsetDir::Src => "src",
                IpsetDir::Dst => "dst",
            })
            .collect();
        f.write_str(&words.join(","))
    }
}

/// A rule's `comment`: any text of at most 256 characters, kept as
/// written. Emitters must quote it: it may hold quotes, `$`, backquotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RuleComment(String);

impl RuleComment {
    /// libvirt's `MAX_COMMENT_LENGTH`.
    pub const MAX_LEN: usize = 256;

    /// The comment, if it is at most 256 characters long.
    pub fn new(text: &str) -> Option<RuleComment> {
        (text.chars().count() <= Self::MAX_LEN).then(|| RuleComment(text.to_owned()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RuleComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_must_be_contiguous() {
        let m = |s: &str| MacMask::new(s.parse().unwrap());
        assert_eq!(m("ff:ff:ff:ff:ff:fe").unwrap().prefix_len(), 47);
        assert_eq!(m("ff:ff:ff:ff:ff:80").unwrap().prefix_len(), 41);
        assert_eq!(m("00:00:00:00:00:00").unwrap().prefix_len(), 0);
        assert_eq!(m("ff:ff:ff:ff:ff:ff"), Some(MacMask::EXACT));
        assert!(m("ff:00:ff:00:00:00").is_none());
        assert!(m("7f:ff:ff:ff:ff:ff").is_none());

        let v4 = |s: &str| Ipv4Mask::from_netmask(s.parse().unwrap()).map(Ipv4Mask::prefix_len);
        assert_eq!(v4("255.255.128.0"), Some(17));
        assert_eq!(v4("255.255.255.255"), Some(32));
        assert_eq!(v4("0.0.0.0"), Some(0));
        assert_eq!(v4("255.255.255.127"), None);
        assert_eq!(
            Ipv4Mask::new(24).unwrap().netmask().to_string(),
            "255.255.255.0"
        );
        assert_eq!(Ipv4Mask::new(0).unwrap().netmask().to_string(), "0.0.0.0");
        assert!(Ipv4Mask::new(33).is_none());

        let v6 = |s: &str| Ipv6Mask::from_netmask(s.parse().unwrap()).map(Ipv6Mask::prefix_len);
        assert_eq!(v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:8000"), Some(113));
        assert_eq!(v6("ffff:ffff:ffff:ffff:8000::"), Some(65));
        assert_eq!(v6("ffff::1"), None);
        assert!(Ipv6Mask::new(129).is_none());
    }

    #[test]
    fn names_print_as_libvirt_formats_them() {
        assert_eq!(EtherType(0x0806).to_string(), "arp");
        assert_eq!(EtherType(0x1234).to_string(), "0x1234");
        assert_eq!(EtherType::from_name("IPv4"), Some(EtherType(0x0800)));
        assert_eq!(ArpOpcode(3).to_string(), "Request_Reverse");
        assert_eq!(ArpOpcode(11).to_string(), "11");
        assert_eq!(ArpOpcode::from_name("request"), Some(ArpOpcode(1)));
        assert_eq!(IpProtocol(17).to_string(), "udp");
        assert_eq!(IpProtocol(18).to_string(), "18");
        assert_eq!(IpProtocol(136).l4proto(), Some(L4Proto::Udplite));
        assert!(IpProtocol(33).has_ports() && !IpProtocol(1).has_ports());
        let st = StateSet {
            new: true,
            related: true,
            ..StateSet::NONE
        };
        assert_eq!(st.to_string(), "NEW,RELATED");
        assert_eq!(StateSet::NONE.to_string(), "NONE");
        assert!(StateSet::NONE.ct_states().is_none());
        let f = TcpFlags {
            mask: 0x12,
            flags: 0x3f,
        };
        assert_eq!(f.to_string(), "SYN,ACK/ALL");
        let fl = IpsetFlags::new(vec![IpsetDir::Src, IpsetDir::Dst, IpsetDir::Src]).unwrap();
        assert_eq!(fl.to_string(), "src,dst,src");
        assert_eq!(fl.swapped().to_string(), "dst,src,dst");
        assert!(IpsetFlags::new(vec![]).is_none());
        assert!(IpsetFlags::new(vec![IpsetDir::Src; 7]).is_none());
    }

    #[test]
    fn bounded_values_refuse_what_libvirt_refuses() {
        assert!(Dscp::new(63).is_some() && Dscp::new(64).is_none());
        assert!(VlanId::new(4095).is_some() && VlanId::new(4096).is_none());
        assert!(IpsetName::new("test:_.-+ x").is_some());
        assert!(IpsetName::new("").is_none());
        assert!(IpsetName::new("a/b").is_none());
        assert!(IpsetName::new(&"x".repeat(32)).is_none());
        assert!(RuleComment::new(&"é".repeat(256)).is_some());
        assert!(RuleComment::new(&"x".repeat(257)).is_none());
        assert_eq!(
            u16::from_value(Value::U16(7)),
            Some(7),
            "a value converts into its own type"
        );
        assert_eq!(u16::from_value(Value::U8(7)), None);
    }
}
