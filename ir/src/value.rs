//! Validated scalar values: interface names, object names, comments, MACs,
//! ports and address ranges.
//!
//! Every value that ends up in an emitted script is one of these types, and
//! each constructor rejects what a target could misread. That is how fwc keeps
//! input from injecting commands: emitters print these values verbatim (or
//! inside quotes they know are safe) and never escape anything themselves.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// Why a value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} '{value}' {reason}")]
pub struct ValueError {
    /// What kind of value it was meant to be ("interface name", ...).
    pub kind: &'static str,
    /// The rejected text, with control characters escaped for display.
    pub value: String,
    /// Why it was rejected, phrased to follow the value.
    pub reason: String,
}

impl ValueError {
    fn new(kind: &'static str, value: &str, reason: impl Into<String>) -> Self {
        ValueError {
            kind,
            value: value.escape_debug().to_string(),
            reason: reason.into(),
        }
    }
}

/// A Linux network interface name, as the kernel accepts it.
///
/// At most 15 bytes (`IFNAMSIZ - 1`), not empty, not `.` or `..`, and free of
/// `/`, `:`, whitespace, quotes, backslashes and control characters. Those
/// rules make the name safe to print unquoted in every target. An `Ifname`
/// names exactly one interface, so it also refuses what a target would read
/// as a pattern: `*` (nft's wildcard), `+` (iptables' and ebtables') and `%`
/// (the kernel makes `virbr%d` a template and never creates that name).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ifname(String);

impl Ifname {
    /// The kernel's limit on interface name length, in bytes.
    pub const MAX_LEN: usize = 15;

    /// Checks `name` against the kernel's rules for interface names.
    pub fn new(name: &str) -> Result<Self, ValueError> {
        const KIND: &str = "interface name";
        if name.is_empty() {
            return Err(ValueError::new(KIND, name, "is empty"));
        }
        if name.len() > Self::MAX_LEN {
            return Err(ValueError::new(
                KIND,
                name,
                format!("is longer than {} bytes", Self::MAX_LEN),
            ));
        }
        if name == "." || name == ".." {
            return Err(ValueError::new(KIND, name, "is reserved"));
        }
        let pattern = |c: char| match c {
            '*' => Some("'*' is a wildcard in nft"),
            '+' => Some("'+' is a wildcard in iptables and ebtables"),
            '%' => Some("'%' makes it a name template the kernel fills in"),
            _ => None,
        };
        if let Some(why) = name.chars().find_map(pattern) {
            return Err(ValueError::new(
                KIND,
                name,
                format!("is not a valid interface name ({why})"),
            ));
        }
        if let Some(c) = name.chars().find(|&c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '/' | ':' | '"' | '\'' | '\\' | '`' | '$' | ';' | '!')
                || !c.is_ascii()
        }) {
            return Err(ValueError::new(
                KIND,
                name,
                format!(
                    "is not a valid interface name ('{}' is not allowed)",
                    c.escape_debug()
                ),
            ));
        }
        Ok(Ifname(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ifname {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Ifname {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ifname::new(s)
    }
}

/// The name of a table, chain, set or map.
///
/// An identifier every target accepts unquoted: an ASCII letter or `_`, then
/// letters, digits, `_`, `-` and `.`, at most [`Name::MAX_LEN`] bytes. Shorter
/// per-target limits (28 bytes for an iptables chain) are checked by
/// [`crate::validate`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(String);

impl Name {
    /// nftables' limit on object names (`NFT_NAME_MAXLEN - 1`).
    pub const MAX_LEN: usize = 255;

    /// Checks `name` against the identifier rules.
    pub fn new(name: &str) -> Result<Self, ValueError> {
        const KIND: &str = "object name";
        let mut chars = name.chars();
        match chars.next() {
            None => return Err(ValueError::new(KIND, name, "is empty")),
            Some(c) if !(c.is_ascii_alphabetic() || c == '_') => {
                return Err(ValueError::new(
                    KIND,
                    name,
                    "must start with an ASCII letter or '_'",
                ))
            }
            _ => {}
        }
        if let Some(c) =
            chars.find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')))
        {
            return Err(ValueError::new(
                KIND,
                name,
                format!("contains '{}'", c.escape_debug()),
            ));
        }
        if name.len() > Self::MAX_LEN {
            return Err(ValueError::new(
                KIND,
                name,
                format!("is longer than {} bytes", Self::MAX_LEN),
            ));
        }
        Ok(Name(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Name {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Name::new(s)
    }
}

/// Free text attached to a rule (a comment, a log prefix): any characters
/// but control characters, at most [`Comment::MAX_LEN`] bytes.
///
/// Quotes, backslashes and shell metacharacters are allowed — libvirt's
/// nwfilter comments carry them — so emitters never print a comment
/// themselves: each target quotes it through `emitters::quote`, and shortens
/// it (with a note) where the target's limit is lower (nft: 128 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Comment(String);

impl Comment {
    /// libvirt's limit on nwfilter comments, and iptables' (`XT_MAX_COMMENT_LEN` less the NUL).
    pub const MAX_LEN: usize = 255;

    /// Checks `text` against the comment rules.
    pub fn new(text: &str) -> Result<Self, ValueError> {
        const KIND: &str = "comment";
        if text.len() > Self::MAX_LEN {
            return Err(ValueError::new(
                KIND,
                text,
                format!("is longer than {} bytes", Self::MAX_LEN),
            ));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(ValueError::new(
                KIND,
                text,
                format!("contains the control character '{}'", c.escape_debug()),
            ));
        }
        Ok(Comment(text.to_owned()))
    }

    /// Builds a comment from arbitrary text for comments fwc writes itself
    /// (provenance, whose file name the user chose): control characters,
    /// quotes and backslashes become `_`, and the text is cut to
    /// [`Comment::SAFE_LEN`] bytes, so the result fits every target unquoted
    /// in a `#` line or inside double quotes. Losing a character beats failing.
    pub fn lossy(text: &str) -> Self {
        let mut out = String::new();
        for c in text.chars() {
            let c = if c.is_control() || matches!(c, '"' | '\\') {
                '_'
            } else {
                c
            };
            if out.len() + c.len_utf8() > Self::SAFE_LEN {
                break;
            }
            out.push(c);
        }
        Comment(out)
    }

    /// The length every target accepts (nft's limit on comments).
    pub const SAFE_LEN: usize = 128;

    /// The comment as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Comment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An inclusive range of ports, `start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PortRange {
    /// First port of the range.
    pub start: u16,
    /// Last port of the range (inclusive).
    pub end: u16,
}

impl PortRange {
    /// A range; fails when `start > end`.
    pub fn new(start: u16, end: u16) -> Result<Self, ValueError> {
        if start > end {
            return Err(ValueError::new(
                "port range",
                &format!("{start}-{end}"),
                "starts after it ends",
            ));
        }
        Ok(PortRange { start, end })
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.start <= port && port <= self.end
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// An inclusive range of numbers (`start <= end`); a single number is a
/// range of one. Used for the many numeric header fields (ether type, VLAN
/// id, DSCP, ICMP type, STP fields, ...).
///
/// The [`Notation`] says how the number was written where it came from;
/// it is presentation only: ranges compare, order and hash by their bounds
/// alone.
#[derive(Debug, Clone, Copy)]
pub struct IntRange {
    /// First value.
    pub start: u64,
    /// Last value (inclusive).
    pub end: u64,
    /// How artifacts that reproduce another tool's text write the number
    /// (libvirt's command lines); canonical output ignores it.
    pub notation: Notation,
}

/// How a number is written: the spelling a layout reproduces when its
/// source tool writes numbers of one field in several ways (libvirt's
/// nwfilter driver prints ether types as `ip`, `0x806` or `0x0806`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Notation {
    /// Decimal (`2054`).
    #[default]
    Decimal,
    /// Lowercase hex with `0x` and at least `width` digits (`0x806`,
    /// `0x0806` with width 4).
    Hex {
        /// The minimum number of digits.
        width: u8,
    },
    /// The target's symbolic name when it has one (`ip` for ether type
    /// 0x0800), else decimal.
    Name,
    /// Decimal, and a range even when both ends are equal (`65535-65535`).
    Range,
}

impl IntRange {
    /// A range; fails when `start > end`.
    pub fn new(start: u64, end: u64) -> Result<Self, ValueError> {
        if start > end {
            return Err(ValueError::new(
                "range",
                &format!("{start}-{end}"),
                "starts after it ends",
            ));
        }
        Ok(IntRange {
            start,
            end,
            notation: Notation::Decimal,
        })
    }

    /// A range of one value.
    pub fn single(v: u64) -> Self {
        IntRange {
            start: v,
            end: v,
            notation: Notation::Decimal,
        }
    }

    /// The same range, written in `notation` (builder style).
    pub fn written(mut self, notation: Notation) -> Self {
        self.notation = notation;
        self
    }

    /// Whether `v` lies in the range.
    pub fn contains(&self, v: u64) -> bool {
        self.start <= v && v <= self.end
    }

    /// The bounds, which decide equality and order.
    fn bounds(&self) -> (u64, u64) {
        (self.start, self.end)
    }
}

impl PartialEq for IntRange {
    fn eq(&self, other: &Self) -> bool {
        self.bounds() == other.bounds()
    }
}

impl Eq for IntRange {}

impl std::hash::Hash for IntRange {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bounds().hash(state);
    }
}

impl PartialOrd for IntRange {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for IntRange {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bounds().cmp(&other.bounds())
    }
}

impl fmt::Display for IntRange {
    /// Canonical decimal (`80`, `80-90`), whatever the notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// TCP flags as a bit set (FIN=0x01, SYN=0x02, RST=0x04, PSH=0x08, ACK=0x10,
/// URG=0x20, ECE=0x40, CWR=0x80).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TcpFlagSet(pub u8);

impl TcpFlagSet {
    /// Flag names in bit order, as iptables spells them.
    pub const NAMES: [(&'static str, u8); 8] = [
        ("FIN", 0x01),
        ("SYN", 0x02),
        ("RST", 0x04),
        ("PSH", 0x08),
        ("ACK", 0x10),
        ("URG", 0x20),
        ("ECE", 0x40),
        ("CWR", 0x80),
    ];

    /// The names of the flags set, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(_, bit)| self.0 & bit != 0)
            .map(|(n, _)| *n)
            .collect()
    }
}

/// The value called `name` (any ASCII case) in a table of names, the way
/// libvirt and the tools read symbolic names (protocols, ethertypes, flags).
pub fn value_named<T: Copy>(names: &[(&str, T)], name: &str) -> Option<T> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// The first name `value` has in a table of names, for printing it back.
pub fn name_of_value<T: Copy + PartialEq>(
    names: &[(&'static str, T)],
    value: T,
) -> Option<&'static str> {
    names.iter().find(|(_, v)| *v == value).map(|(n, _)| *n)
}

/// The direction of a packet within its connection (`ct direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CtDirection {
    /// From the side that opened the connection.
    Original,
    /// From the other side.
    Reply,
}

/// Which packet address an ipset dimension is looked up with (`src`/`dst`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SetDir {
    /// The source address.
    Src,
    /// The destination address.
    Dst,
}

/// An inclusive range of addresses of one family (`start <= end`), as used by
/// `snat to S-E`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddrRange {
    /// First address.
    pub start: IpAddr,
    /// Last address (inclusive); equal to `start` for a single address.
    pub end: IpAddr,
}

impl AddrRange {
    /// A range; fails when the families differ or `start > end`.
    pub fn new(start: IpAddr, end: IpAddr) -> Result<Self, ValueError> {
        let text = format!("{start}-{end}");
        if start.is_ipv4() != end.is_ipv4() {
            return Err(ValueError::new(
                "address range",
                &text,
                "mixes IPv4 and IPv6",
            ));
        }
        if start > end {
            return Err(ValueError::new(
                "address range",
                &text,
                "starts after it ends",
            ));
        }
        Ok(AddrRange { start, end })
    }

    /// A range of one address.
    pub fn single(addr: IpAddr) -> Self {
        AddrRange {
            start: addr,
            end: addr,
        }
    }

    /// Whether this is a range of IPv4 addresses.
    pub fn is_ipv4(&self) -> bool {
        self.start.is_ipv4()
    }
}

impl fmt::Display for AddrRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.start == self.end {
            write!(f, "{}", self.start)
        } else {
            write!(f, "{}-{}", self.start, self.end)
        }
    }
}

/// A MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl FromStr for MacAddr {
    type Err = ValueError;
    /// Parses `a:b:c:d:e:f` with one or two hex digits per byte, as libvirt does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ValueError::new("MAC address", s, "is not six ':'-separated hex bytes");
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for byte in &mut out {
            let p = parts.next().ok_or_else(err)?;
            if p.is_empty() || p.len() > 2 {
                return Err(err());
            }
            *byte = u8::from_str_radix(p, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

/// A layer-4 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// UDP-Lite (136).
    Udplite,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// IGMP (2).
    Igmp,
    /// ESP (50).
    Esp,
    /// AH (51).
    Ah,
}

impl L4Proto {
    /// Every protocol, in declaration order.
    pub const ALL: [L4Proto; 9] = [
        L4Proto::Tcp,
        L4Proto::Udp,
        L4Proto::Sctp,
        L4Proto::Udplite,
        L4Proto::Icmp,
        L4Proto::Icmpv6,
        L4Proto::Igmp,
        L4Proto::Esp,
        L4Proto::Ah,
    ];

    /// The name nft and iptables both use.
    pub fn name(self) -> &'static str {
        match self {
            L4Proto::Tcp => "tcp",
            L4Proto::Udp => "udp",
            L4Proto::Sctp => "sctp",
            L4Proto::Udplite => "udplite",
            L4Proto::Icmp => "icmp",
            L4Proto::Icmpv6 => "icmpv6",
            L4Proto::Igmp => "igmp",
            L4Proto::Esp => "esp",
            L4Proto::Ah => "ah",
        }
    }

    /// The IANA protocol number.
    pub fn number(self) -> u8 {
        match self {
            L4Proto::Tcp => 6,
            L4Proto::Udp => 17,
            L4Proto::Sctp => 132,
            L4Proto::Udplite => 136,
            L4Proto::Icmp => 1,
            L4Proto::Icmpv6 => 58,
            L4Proto::Igmp => 2,
            L4Proto::Esp => 50,
            L4Proto::Ah => 51,
        }
    }

    /// Whether the protocol has ports (so `dport`/`sport` apply).
    pub fn has_ports(self) -> bool {
        matches!(
            self,
            L4Proto::Tcp | L4Proto::Udp | L4Proto::Sctp | L4Proto::Udplite
        )
    }
}

impl fmt::Display for L4Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of conntrack states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CtStates {
    /// `new`
    pub new: bool,
    /// `established`
    pub established: bool,
    /// `related`
    pub related: bool,
    /// `invalid`
    pub invalid: bool,
    /// `untracked`
    pub untracked: bool,
}

impl CtStates {
    /// `related,established`, the state libvirt accepts back into guests.
    pub const RELATED_ESTABLISHED: CtStates = CtStates {
        new: false,
        established: true,
        related: true,
        invalid: false,
        untracked: false,
    };

    /// The states in nft's order and spelling (`related,established`).
    pub fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.invalid {
            v.push("invalid");
        }
        if self.new {
            v.push("new");
        }
        if self.related {
            v.push("related");
        }
        if self.established {
            v.push("established");
        }
        if self.untracked {
            v.push("untracked");
        }
        v
    }

    /// Whether no state is set (a match on it can never succeed).
    pub fn is_empty(&self) -> bool {
        self.names().is_empty()
    }
}

impl fmt::Display for CtStates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ifname_accepts_kernel_names() {
        for ok in ["virbr0", "enp0s7", "a", "vnet-12_x.y", "abcdefghijklmno"] {
            assert_eq!(Ifname::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn ifname_rejects_injection_and_kernel_violations() {
        for bad in [
            "",
            ".",
            "..",
            "abcdefghijklmnop",
            "a/b",
            "a b",
            "virbr0\"; flush",
            "x;y",
            "x\ny",
            "x\0",
            "x'y",
            "a:1",
            "é",
            "br*",
            "*",
            "vnet+",
            "virbr%d",
        ] {
            assert!(Ifname::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn ifname_refuses_patterns_with_the_reason() {
        let e = Ifname::new("vnet+").unwrap_err();
        assert_eq!(
            e.to_string(),
            "interface name 'vnet+' is not a valid interface name ('+' is a wildcard in iptables and ebtables)"
        );
    }

    #[test]
    fn ifname_error_names_the_value() {
        let e = Ifname::new("virbr0\"; flush").unwrap_err();
        assert_eq!(
            e.to_string(),
            "interface name 'virbr0\\\"; flush' is not a valid interface name ('\\\"' is not allowed)"
        );
    }

    #[test]
    fn names_are_identifiers() {
        assert!(Name::new("libvirt_network").is_ok());
        assert!(Name::new("LIBVIRT_FWO").is_ok());
        assert!(Name::new("n-vnet0-in").is_ok());
        for bad in ["", "1abc", "a b", "a;b", "a}", "-x", &"a".repeat(256)] {
            assert!(Name::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn comments_take_any_text_but_control_characters() {
        let hostile = "`ls`;${COLUMNS};$(ls);\"test\";&'3   spaces' \\ é";
        assert_eq!(Comment::new(hostile).unwrap().as_str(), hostile);
        assert!(Comment::new("a\nb").is_err());
        assert!(Comment::new("a\0b").is_err());
        assert!(Comment::new(&"x".repeat(256)).is_err());
        assert!(Comment::new(&"x".repeat(255)).is_ok());
        assert_eq!(Comment::lossy("a\"b\nc\\d").as_str(), "a_b_c_d");
        assert_eq!(Comment::lossy(&"y".repeat(300)).as_str().len(), 128);
        assert_eq!(Comment::lossy(&"é".repeat(100)).as_str().len(), 128);
    }

    #[test]
    fn ranges_are_ordered() {
        assert!(PortRange::new(1000, 500).is_err());
        assert_eq!(
            PortRange::new(1024, 65535).unwrap().to_string(),
            "1024-65535"
        );
        assert!(AddrRange::new("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap()).is_err());
        assert!(AddrRange::new("10.0.0.1".parse().unwrap(), "::1".parse().unwrap()).is_err());
    }

    #[test]
    fn notation_is_presentation_only() {
        let hex = IntRange::single(0x806).written(Notation::Hex { width: 4 });
        assert_eq!(hex, IntRange::single(0x806));
        assert_eq!(hex.to_string(), "2054");
        let mut set = std::collections::HashSet::new();
        set.insert(hex);
        assert!(set.contains(&IntRange::single(0x806)));
    }

    #[test]
    fn mac_parses_short_bytes() {
        let m: MacAddr = "1:2:3:a:bb:CC".parse().unwrap();
        assert_eq!(m.to_string(), "01:02:03:0a:bb:cc");
        assert!("1:2:3:4:5".parse::<MacAddr>().is_err());
        assert!("1:2:3:4:5:6:7".parse::<MacAddr>().is_err());
        assert!("1:2:3:4:5:1ff".parse::<MacAddr>().is_err());
    }

    #[test]
    fn ct_states_in_nft_order() {
        assert_eq!(
            CtStates::RELATED_ESTABLISHED.to_string(),
            "related,established"
        );
    }
}
