//! Rules: matches, statements and one verdict.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::provenance::Provenance;
use crate::ruleset::{ChainId, MapId, SetId};
use crate::value::{
    AddrRange, Comment, CtDirection, CtStates, Ifname, IntRange, L4Proto, MacAddr, Name, PortRange,
    SetDir, TcpFlagSet,
};

/// An IP family, for fields that exist in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpFamily {
    /// IPv4 (`ip`).
    V4,
    /// IPv6 (`ip6`).
    V6,
}

impl IpFamily {
    /// The family of an address.
    pub fn of(addr: &IpAddr) -> IpFamily {
        if addr.is_ipv4() {
            IpFamily::V4
        } else {
            IpFamily::V6
        }
    }

    /// The family of a prefix.
    pub fn of_net(net: &IpNet) -> IpFamily {
        IpFamily::of(&net.addr())
    }
}

/// A packet field a rule can compare.
///
/// One enum for all fields keeps passes generic: "rules that differ only in
/// one field" is a comparison of `Match::field`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// Input interface by index (`iif`); the interface must exist at load time.
    Iif,
    /// Output interface by index (`oif`).
    Oif,
    /// Input interface by name (`iifname`).
    IifName,
    /// Output interface by name (`oifname`).
    OifName,
    /// Source address of the given family.
    Saddr(IpFamily),
    /// Destination address of the given family.
    Daddr(IpFamily),
    /// Layer-4 protocol, whatever the network family (`meta l4proto`).
    L4Proto,
    /// The protocol field of the IPv4 header or the next-header field of
    /// the IPv6 header (`ip protocol`, `ip6 nexthdr`): [`Value::Proto`], or
    /// [`Value::Int`] for protocols without a name. Unlike [`Field::L4Proto`]
    /// it does not skip IPv6 extension headers.
    IpProto(IpFamily),
    /// Source port of a protocol with ports.
    Sport(L4Proto),
    /// Destination port of a protocol with ports.
    Dport(L4Proto),
    /// Conntrack state (`ct state`).
    CtState,
    /// Ethernet source address.
    EtherSaddr,
    /// Ethernet destination address.
    EtherDaddr,
    /// Ethernet type (`ether type`; ebtables `-p`), compared with [`Value::Int`].
    EtherType,
    /// 802.1Q VLAN id (`vlan id`), [`Value::Int`].
    VlanId,
    /// The ether type an 802.1Q header encapsulates (`vlan type`), [`Value::Int`].
    VlanEtherType,
    /// A field of an ARP or RARP header.
    Arp(ArpField),
    /// A field of an STP bridge protocol data unit.
    Stp(StpField),
    /// DSCP of an IPv4 or IPv6 header, [`Value::Int`].
    Dscp(IpFamily),
    /// TCP flags, [`Value::TcpFlags`].
    TcpFlags,
    /// ICMP (V4) or ICMPv6 (V6) type, [`Value::Int`].
    IcmpType(IpFamily),
    /// ICMP (V4) or ICMPv6 (V6) code, [`Value::Int`].
    IcmpCode(IpFamily),
    /// The bridge port a bridged packet entered by (iptables `physdev-in`).
    PhysIn,
    /// The bridge port a bridged packet leaves by (iptables `physdev-out`).
    PhysOut,
    /// Whether the packet is being bridged (`physdev-is-bridged`), [`Value::Bool`].
    PhysIsBridged,
    /// The packet's direction in its connection, [`Value::CtDir`].
    CtDirection,
    /// How many connections the packet's source has open (connlimit),
    /// [`Value::Int`]: `connlimit-above N` is the range `N+1..=u32::MAX`.
    ConnCount,
    /// Membership in an external ipset, [`Value::IpSet`].
    IpSet,
}

/// A field of an ARP/RARP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArpField {
    /// Operation (request 1, reply 2, ...), [`Value::Int`].
    Opcode,
    /// Hardware type, [`Value::Int`].
    HwType,
    /// Protocol type, [`Value::Int`].
    ProtoType,
    /// Sender hardware address.
    SenderMac,
    /// Target hardware address.
    TargetMac,
    /// Sender protocol (IPv4) address.
    SenderIp,
    /// Target protocol (IPv4) address.
    TargetIp,
    /// Gratuitous ARP (sender IP equals target IP), [`Value::Bool`]. nft
    /// cannot compare two fields; it tests the IPs byte by byte against a
    /// set of equal pairs, which the table must hold as `same-ip-set`
    /// (key `ipv4_addr . ipv4_addr`, the pairs `x.0.0.0 . x.0.0.0`,
    /// `0.x.0.0 . 0.x.0.0`, ... for x in 0..=255), as libvirt's does.
    Gratuitous,
}

/// A field of an STP BPDU (ebtables' `--stp-*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StpField {
    /// BPDU type.
    Type,
    /// BPDU flags.
    Flags,
    /// Root bridge priority.
    RootPriority,
    /// Root bridge address, [`Value::Mac`] or [`Value::MacMasked`].
    RootAddress,
    /// Root path cost.
    RootCost,
    /// Sender bridge priority.
    SenderPriority,
    /// Sender bridge address, [`Value::Mac`] or [`Value::MacMasked`].
    SenderAddress,
    /// Port identifier.
    Port,
    /// Message age.
    MessageAge,
    /// Maximum age.
    MaxAge,
    /// Hello time.
    HelloTime,
    /// Forward delay.
    ForwardDelay,
}

/// The type of a field's values, also the key type of sets and maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// An interface index (`iface_index`).
    IfIndex,
    /// An interface name (`ifname`).
    Ifname,
    /// An IPv4 address or prefix (`ipv4_addr`).
    Ipv4Addr,
    /// An IPv6 address or prefix (`ipv6_addr`).
    Ipv6Addr,
    /// A protocol number (`inet_proto`).
    InetProto,
    /// A port (`inet_service`).
    InetService,
    /// A conntrack state (`ct_state`).
    CtState,
    /// A MAC address (`ether_addr`).
    EtherAddr,
    /// A number of a header field (never a set key in fwc's layouts).
    Integer,
    /// A flag.
    Bool,
    /// TCP flags with a mask.
    TcpFlags,
    /// A conntrack direction.
    CtDirection,
    /// An external ipset reference.
    IpSetRef,
}

impl Field {
    /// The type of the values this field is compared with.
    pub fn key_type(self) -> KeyType {
        match self {
            Field::Iif | Field::Oif => KeyType::IfIndex,
            Field::IifName | Field::OifName => KeyType::Ifname,
            Field::Saddr(IpFamily::V4) | Field::Daddr(IpFamily::V4) => KeyType::Ipv4Addr,
            Field::Saddr(IpFamily::V6) | Field::Daddr(IpFamily::V6) => KeyType::Ipv6Addr,
            Field::L4Proto | Field::IpProto(_) => KeyType::InetProto,
            Field::Sport(_) | Field::Dport(_) => KeyType::InetService,
            Field::CtState => KeyType::CtState,
            Field::EtherSaddr | Field::EtherDaddr => KeyType::EtherAddr,
            Field::Arp(ArpField::SenderMac | ArpField::TargetMac)
            | Field::Stp(StpField::RootAddress | StpField::SenderAddress) => KeyType::EtherAddr,
            Field::Arp(ArpField::SenderIp | ArpField::TargetIp) => KeyType::Ipv4Addr,
            Field::Arp(ArpField::Gratuitous) | Field::PhysIsBridged => KeyType::Bool,
            Field::PhysIn | Field::PhysOut => KeyType::Ifname,
            Field::TcpFlags => KeyType::TcpFlags,
            Field::CtDirection => KeyType::CtDirection,
            Field::IpSet => KeyType::IpSetRef,
            Field::EtherType
            | Field::VlanId
            | Field::VlanEtherType
            | Field::Arp(_)
            | Field::Stp(_)
            | Field::Dscp(_)
            | Field::IcmpType(_)
            | Field::IcmpCode(_)
            | Field::ConnCount => KeyType::Integer,
        }
    }

    /// The IP family the field implies, if any: a rule matching it only sees
    /// packets of that family.
    pub fn ip_family(self) -> Option<IpFamily> {
        match self {
            Field::Saddr(f)
            | Field::Daddr(f)
            | Field::IpProto(f)
            | Field::Dscp(f)
            | Field::IcmpType(f)
            | Field::IcmpCode(f) => Some(f),
            _ => None,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// Equal to, or contained in (prefix, range, set).
    Eq,
    /// Not equal to, or not contained in.
    Ne,
}

/// A value a field is compared with.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Value {
    /// An interface name (for index and name fields alike).
    Ifname(Ifname),
    /// An address prefix; a single address is a full-length prefix.
    Prefix(IpNet),
    /// A protocol.
    Proto(L4Proto),
    /// A port range; a single port is a range of one.
    Ports(PortRange),
    /// Conntrack states (the match succeeds if the packet is in any of them).
    CtStates(CtStates),
    /// A MAC address.
    Mac(MacAddr),
    /// A MAC address under a mask: the field ANDed with `mask` equals `addr`.
    MacMasked {
        /// The address (bits outside the mask are ignored).
        addr: MacAddr,
        /// Which bits are compared.
        mask: MacAddr,
    },
    /// An inclusive address range (iptables' `iprange`).
    AddrRange(AddrRange),
    /// A number or range of numbers.
    Int(IntRange),
    /// A flag.
    Bool(bool),
    /// TCP flags: among the flags in `mask`, exactly those in `set` are set.
    TcpFlags {
        /// The flags examined.
        mask: TcpFlagSet,
        /// Which of them must be set.
        set: TcpFlagSet,
    },
    /// A conntrack direction.
    CtDir(CtDirection),
    /// An external ipset, and which packet address each of its dimensions
    /// is looked up with (`--match-set NAME src,dst`).
    IpSet {
        /// The ipset's name.
        name: Name,
        /// One direction per dimension, 1 to 6 of them.
        dirs: Vec<SetDir>,
    },
    /// Membership in a set.
    Set(SetRef),
}

/// The set a [`Value::Set`] refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SetRef {
    /// An anonymous set written inline (`{ a, b }`); elements are scalars.
    Anonymous(Vec<Value>),
    /// A named set of the same table.
    Named(SetId),
}

/// One comparison: `field op value`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Match {
    /// What is compared.
    pub field: Field,
    /// How.
    pub op: CmpOp,
    /// With what.
    pub value: Value,
}

impl Match {
    /// `field == value`.
    pub fn eq(field: Field, value: Value) -> Self {
        Match {
            field,
            op: CmpOp::Eq,
            value,
        }
    }

    /// `field != value`.
    pub fn ne(field: Field, value: Value) -> Self {
        Match {
            field,
            op: CmpOp::Ne,
            value,
        }
    }
}

/// Address translation.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Nat {
    /// Source NAT to the output interface's address, optionally to a port range.
    Masquerade {
        /// Port range to map source ports into.
        ports: Option<PortRange>,
    },
    /// Source NAT to an address range, optionally to a port range.
    Snat {
        /// Addresses to translate to.
        addr: AddrRange,
        /// Port range to map source ports into.
        ports: Option<PortRange>,
    },
    /// Destination NAT to an address range, optionally to a port range.
    Dnat {
        /// Addresses to translate to.
        addr: AddrRange,
        /// Port range to translate to.
        ports: Option<PortRange>,
    },
}

/// A non-terminal action.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Statement {
    /// Count packets and bytes.
    Counter,
    /// Log the packet with a prefix.
    Log {
        /// Log prefix.
        prefix: Comment,
    },
    /// Address translation (only in NAT chains). Ends evaluation of the hook
    /// for the packet like `accept`, without being a verdict in nft's grammar.
    Nat(Nat),
    /// Fill in the layer-4 checksum of the packet (libvirt's fix for DHCP
    /// clients that reject the partial checksums of offloaded packets).
    /// iptables says `-j CHECKSUM --checksum-fill` in table mangle; nft has no
    /// such statement, so the nft target realises it as a `tc ... action csum`
    /// on the output device or reports a lowering note.
    ChecksumFill,
}

/// How a `reject` answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RejectKind {
    /// The target's default (ICMP port unreachable, TCP reset in nft's `inet`).
    #[default]
    Default,
    /// A TCP reset.
    TcpReset,
    /// ICMP/ICMPv6 port unreachable.
    PortUnreachable,
    /// ICMP/ICMPv6 administratively prohibited.
    AdminProhibited,
}

/// What happens to a packet that matched.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Accept for this hook.
    Accept,
    /// Drop.
    Drop,
    /// Drop and answer.
    Reject(RejectKind),
    /// Return to the calling chain.
    Return,
    /// Call a chain of the same table.
    Jump(ChainId),
    /// Continue in a chain of the same table, never returning.
    Goto(ChainId),
    /// Look up the packet's key in a verdict map; no verdict if absent.
    Vmap {
        /// The fields concatenated into the key (`iifname . oifname`).
        key: Vec<Field>,
        /// The map.
        map: MapRef,
    },
}

/// The verdict map a [`Verdict::Vmap`] refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MapRef {
    /// An anonymous map written inline; each key has one value per key field.
    Anonymous(Vec<(Vec<Value>, Verdict)>),
    /// A named map of the same table.
    Named(MapId),
}

/// A rule: if every match holds, run the statements, then the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rule {
    /// All must hold (an empty list matches every packet). Order is kept:
    /// emitters print matches in this order.
    pub matches: Vec<Match>,
    /// Run in order when the rule matches.
    pub statements: Vec<Statement>,
    /// `None`: evaluation continues with the next rule (unless a
    /// [`Statement::Nat`] ended it).
    pub verdict: Option<Verdict>,
    /// An optional comment for the emitted rule.
    pub comment: Option<Comment>,
    /// Where the rule came from.
    pub provenance: Provenance,
    /// In layouts that add rules one command at a time (libvirt's), the rule's
    /// place in that sequence. Such rules are *inserted* at the head of their
    /// chain, so within a chain `seq` decreases along `Chain::rules` — or, in
    /// a table built by appends ([`crate::Commands::Append`]), appended, so
    /// that it increases. `None` for declarative layouts.
    pub seq: Option<u32>,
}

impl Rule {
    /// A rule with the given matches and verdict, no statements.
    pub fn new(provenance: Provenance, matches: Vec<Match>, verdict: Option<Verdict>) -> Self {
        Rule {
            matches,
            statements: Vec::new(),
            verdict,
            comment: None,
            provenance,
            seq: None,
        }
    }

    /// Adds a statement (builder style).
    pub fn with(mut self, statement: Statement) -> Self {
        self.statements.push(statement);
        self
    }

    /// Sets the command sequence number (builder style).
    pub fn at_seq(mut self, seq: u32) -> Self {
        self.seq = Some(seq);
        self
    }

    /// The NAT statement of the rule, if any.
    pub fn nat(&self) -> Option<&Nat> {
        self.statements.iter().find_map(|s| match s {
            Statement::Nat(n) => Some(n),
            _ => None,
        })
    }
}
