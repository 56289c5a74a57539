//! The value grammars of nwfilter attributes and variables, in nom.
//!
//! [`parse`] reads the text of an attribute (or of a variable substituted
//! into one) as the [`ValueKind`] the attribute wants, following libvirt's
//! `virNWFilterRuleDetailsParse`: numbers are tried as decimal, then as hex
//! (`0x12`, or bare hex digits that are not decimal), then as a name where
//! the attribute has names; MACs take one or two hex digits per byte; masks
//! are a prefix length or a contiguous netmask. [`var_ref`] reads `$NAME`,
//! `$NAME[@n]` and `$NAME[n]` as `virNWFilterVarAccessParse` does
//! (whitespace allowed inside the brackets). [`NomSyntax`] hands [`parse`]
//! to `rules::nwfilter::resolve` so variables are read by the same grammar.

use std::net::{Ipv4Addr, Ipv6Addr};

use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while1, take_while_m_n};
use nom::character::complete::{char, digit1, hex_digit1, multispace0};
use nom::combinator::{all_consuming, map, map_opt, opt, value, verify};
use nom::multi::{separated_list0, separated_list1};
use nom::sequence::{delimited, pair, preceded, separated_pair, terminated, tuple};
use nom::IResult;
use rules::nwfilter::value::{
    ArpOpcode, Dscp, EtherType, IpProtocol, IpsetDir, IpsetFlags, IpsetName, Ipv4Mask, Ipv6Mask,
    MacAddr, MacMask, RuleComment, StateSet, TcpFlags, VlanId,
};
use rules::nwfilter::{Syntax, Value, ValueKind, VarIndex, VarRef};

/// The value grammar as `rules::nwfilter::resolve` wants it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NomSyntax;

impl Syntax for NomSyntax {
    fn parse(&self, kind: ValueKind, text: &str) -> Result<Value, String> {
        parse(kind, text)
    }
}

/// Runs `p` over all of `text`.
fn whole<'a, T>(p: impl FnMut(&'a str) -> IResult<&'a str, T>, text: &'a str) -> Option<T> {
    all_consuming(p)(text).ok().map(|(_, v)| v)
}

/// A decimal number up to `max`, after optional whitespace (as `strtoul`).
fn decimal(max: u64) -> impl FnMut(&str) -> IResult<&str, u64> {
    move |i| {
        map_opt(preceded(multispace0, digit1), |d: &str| {
            d.parse::<u64>().ok().filter(|v| *v <= max)
        })(i)
    }
}

/// A hex number up to `max`, with or without `0x`, after optional whitespace.
fn hex(max: u64) -> impl FnMut(&str) -> IResult<&str, u64> {
    move |i| {
        map_opt(
            preceded(pair(multispace0, opt(tag_no_case("0x"))), hex_digit1),
            |d: &str| u64::from_str_radix(d, 16).ok().filter(|v| *v <= max),
        )(i)
    }
}

/// libvirt's numbers: decimal first, then (if `hex_too`) hex.
fn number(text: &str, max: u64, hex_too: bool) -> Option<u64> {
    whole(decimal(max), text).or_else(|| if hex_too { whole(hex(max), text) } else { None })
}

fn mac_byte(i: &str) -> IResult<&str, u8> {
    map_opt(take_while_m_n(1, 2, |c: char| c.is_ascii_hexdigit()), |h| {
        u8::from_str_radix(h, 16).ok()
    })(i)
}

/// `a:b:c:d:e:f` with one or two hex digits per byte; trailing whitespace
/// is allowed (libvirt stops at any character up to space).
fn mac(i: &str) -> IResult<&str, MacAddr> {
    map(
        terminated(
            tuple((
                terminated(mac_byte, char(':')),
                terminated(mac_byte, char(':')),
                terminated(mac_byte, char(':')),
                terminated(mac_byte, char(':')),
                terminated(mac_byte, char(':')),
                mac_byte,
            )),
            multispace0,
        ),
        |(a, b, c, d, e, f)| MacAddr([a, b, c, d, e, f]),
    )(i)
}

/// A decimal octet without leading zeros (which C would read as octal).
fn octet(i: &str) -> IResult<&str, u8> {
    map_opt(
        verify(digit1, |d: &str| d == "0" || !d.starts_with('0')),
        |d: &str| d.parse::<u8>().ok(),
    )(i)
}

fn ipv4(i: &str) -> IResult<&str, Ipv4Addr> {
    map(
        tuple((
            terminated(octet, char('.')),
            terminated(octet, char('.')),
            terminated(octet, char('.')),
            octet,
        )),
        |(a, b, c, d)| Ipv4Addr::new(a, b, c, d),
    )(i)
}

fn ipv6(i: &str) -> IResult<&str, Ipv6Addr> {
    map_opt(
        take_while1(|c: char| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        |t: &str| t.parse::<Ipv6Addr>().ok(),
    )(i)
}

/// A word from `names` (any case), longest first so `rarp` is not read as `r…`.
fn name_of<'n, T: Copy>(
    names: &'n [(&'static str, T)],
) -> impl FnMut(&str) -> IResult<&str, T> + 'n {
    move |i: &str| {
        let word: IResult<&str, &str> =
            take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_')(i);
        let (rest, w) = word?;
        ir::value_named(names, w)
            .map(|v| (rest, v))
            .ok_or_else(|| nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Tag)))
    }
}

/// A comma list, with optional whitespace around the commas and ends.
fn comma_list<'a, T>(
    item: impl FnMut(&'a str) -> IResult<&'a str, T>,
) -> impl FnMut(&'a str) -> IResult<&'a str, Vec<T>> {
    delimited(
        multispace0,
        separated_list1(delimited(multispace0, char(','), multispace0), item),
        multispace0,
    )
}

const STATES: [(&str, u8); 5] = [
    ("NEW", 1),
    ("ESTABLISHED", 2),
    ("RELATED", 4),
    ("INVALID", 8),
    ("NONE", 16),
];

fn state(text: &str) -> Option<StateSet> {
    let bits: u8 = whole(comma_list(name_of(&STATES)), text)?
        .into_iter()
        .fold(0, |a, b| a | b);
    // NONE overrides everything else, as in libvirt's parseStateMatch.
    if bits & 16 != 0 {
        return Some(StateSet::NONE);
    }
    Some(StateSet {
        new: bits & 1 != 0,
        established: bits & 2 != 0,
        related: bits & 4 != 0,
        invalid: bits & 8 != 0,
    })
}

/// The words `flags='...'` accepts: libvirt's six flag names, `ALL` and
/// `NONE`.
const TCP_FLAGS: [(&str, u8); 8] = {
    let [fin, syn, rst, psh, ack, urg] = TcpFlags::NAMES;
    [
        fin,
        syn,
        rst,
        psh,
        ack,
        urg,
        ("ALL", TcpFlags::ALL),
        ("NONE", 0),
    ]
};

/// `MASK/SET`; an empty side is no flags (libvirt reads `PSH/` as `PSH/NONE`).
fn tcp_flags(text: &str) -> Option<TcpFlags> {
    let side = || {
        map(
            delimited(
                multispace0,
                separated_list0(
                    delimited(multispace0, char(','), multispace0),
                    name_of(&TCP_FLAGS),
                ),
                multispace0,
            ),
            |v: Vec<u8>| v.into_iter().fold(0, |a, b| a | b),
        )
    };
    let (mask, flags) = whole(separated_pair(side(), char('/'), side()), text)?;
    Some(TcpFlags {
        mask: mask & TcpFlags::ALL,
        flags: flags & TcpFlags::ALL,
    })
}

fn ipset_flags(text: &str) -> Option<Vec<IpsetDir>> {
    whole(
        separated_list1(
            char(','),
            alt((
                value(IpsetDir::Src, tag_no_case("src")),
                value(IpsetDir::Dst, tag_no_case("dst")),
            )),
        ),
        text,
    )
}

/// A number in `0..=max` (decimal, else hex), or one of `names`.
fn number_or_name(text: &str, max: u64, names: &[(&'static str, u64)]) -> Option<u64> {
    number(text, max, true).or_else(|| whole(name_of(names), text))
}

/// A name table with its values widened for [`number_or_name`].
fn widened<T: Copy + Into<u64>>(names: &[(&'static str, T)]) -> Vec<(&'static str, u64)> {
    names.iter().map(|(n, v)| (*n, (*v).into())).collect()
}

/// Parses `text` as a value of `kind`, as libvirt reads that attribute.
/// The error says what was expected.
pub fn parse(kind: ValueKind, text: &str) -> Result<Value, String> {
    let expected = || format!("expected {}", kind.expected());
    let v = match kind {
        ValueKind::Mac => whole(mac, text).map(Value::Mac),
        ValueKind::MacMask => {
            let m = whole(mac, text).ok_or_else(expected)?;
            return MacMask::new(m)
                .map(Value::MacMask)
                .ok_or_else(|| "a mask's one bits must all come before its zero bits".into());
        }
        ValueKind::Ipv4 => whole(ipv4, text).map(Value::Ipv4),
        ValueKind::Ipv4Mask => {
            return mask(
                text,
                32,
                ipv4,
                Ipv4Mask::new,
                Ipv4Mask::from_netmask,
                Value::Ipv4Mask,
            )
        }
        ValueKind::Ipv6 => whole(ipv6, text).map(Value::Ipv6),
        ValueKind::Ipv6Mask => {
            return mask(
                text,
                128,
                ipv6,
                Ipv6Mask::new,
                Ipv6Mask::from_netmask,
                Value::Ipv6Mask,
            )
        }
        ValueKind::U8 => number(text, 0xff, true).map(|n| Value::U8(n as u8)),
        ValueKind::U16 => number(text, 0xffff, true).map(|n| Value::U16(n as u16)),
        ValueKind::U16Decimal => number(text, 0xffff, false).map(|n| Value::U16(n as u16)),
        ValueKind::U32 => number(text, u64::from(u32::MAX), true).map(|n| Value::U32(n as u32)),
        ValueKind::Dscp => number(text, 0xff, true)
            .and_then(|n| Dscp::new(n as u8))
            .map(Value::Dscp),
        ValueKind::Bool => match text {
            "true" | "yes" | "1" => Some(Value::Bool(true)),
            "false" | "no" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        ValueKind::MacProtocol => number_or_name(text, 0xffff, &widened(&EtherType::NAMES))
            .filter(|n| *n >= 0x600)
            .map(|n| Value::EtherType(EtherType(n as u16))),
        ValueKind::VlanId => number(text, 0xffff, true)
            .and_then(|n| VlanId::new(n as u16))
            .map(Value::VlanId),
        ValueKind::VlanEncap => number_or_name(text, 0xffff, &widened(&EtherType::NAMES))
            .filter(|n| *n >= 0x3c)
            .map(|n| Value::EtherType(EtherType(n as u16))),
        ValueKind::ArpOpcode => number_or_name(text, 0xffff, &widened(&ArpOpcode::NAMES))
            .map(|n| Value::ArpOpcode(ArpOpcode(n as u16))),
        ValueKind::IpProtocol => number_or_name(text, 0xff, &widened(&IpProtocol::NAMES))
            .map(|n| Value::IpProtocol(IpProtocol(n as u8))),
        ValueKind::State => state(text).map(Value::State),
        ValueKind::TcpFlags => tcp_flags(text).map(Value::TcpFlags),
        ValueKind::IpsetName => IpsetName::new(text).map(Value::IpsetName),
        ValueKind::IpsetFlags => {
            let dirs = ipset_flags(text).ok_or_else(expected)?;
            return IpsetFlags::new(dirs)
                .map(Value::IpsetFlags)
                .ok_or_else(|| format!("at most {} directions are allowed", IpsetFlags::MAX));
        }
        ValueKind::Comment => RuleComment::new(text).map(Value::Comment),
    };
    v.ok_or_else(expected)
}

/// A mask: a decimal prefix length up to `max_len` (a larger number is an
/// error, not a netmask), else a contiguous netmask.
fn mask<A, M>(
    text: &str,
    max_len: u8,
    addr: fn(&str) -> IResult<&str, A>,
    from_len: fn(u8) -> Option<M>,
    from_netmask: fn(A) -> Option<M>,
    wrap: fn(M) -> Value,
) -> Result<Value, String> {
    if let Some(n) = whole(decimal(u64::MAX), text) {
        return u8::try_from(n)
            .ok()
            .and_then(from_len)
            .map(wrap)
            .ok_or_else(|| format!("a prefix length is at most {max_len}"));
    }
    let a = whole(addr, text)
        .ok_or_else(|| format!("expected a prefix length from 0 to {max_len} or a netmask"))?;
    from_netmask(a)
        .map(wrap)
        .ok_or_else(|| "a netmask's one bits must all come before its zero bits".into())
}

/// Whether `name` is a valid variable name (`[A-Za-z0-9_]+`).
pub fn is_var_name(name: &str) -> bool {
    whole(var_name, name).is_some()
}

/// Whether `value` is a valid variable value (letters, digits, `_.:`, not
/// empty), as libvirt requires of `<parameter value>`.
pub fn is_var_value(value: &str) -> bool {
    whole(
        take_while1(|c: char| c.is_ascii_alphanumeric() || "_.:".contains(c)),
        value,
    )
    .is_some()
}

fn var_name(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || c == '_')(i)
}

fn u32_decimal(i: &str) -> IResult<&str, u32> {
    map_opt(digit1, |d: &str| d.parse::<u32>().ok())(i)
}

/// `[@n]` or `[n]`, whitespace allowed inside.
fn var_index(i: &str) -> IResult<&str, VarIndex> {
    delimited(
        pair(char('['), multispace0),
        alt((
            map(
                preceded(pair(char('@'), multispace0), u32_decimal),
                VarIndex::Iter,
            ),
            map(u32_decimal, VarIndex::Index),
        )),
        pair(multispace0, char(']')),
    )(i)
}

/// Reads a variable reference: `text` is an attribute value starting with
/// `$`. Trailing whitespace is allowed (libvirt ignores what follows `]`).
pub fn var_ref(text: &str) -> Result<(String, Option<VarIndex>), String> {
    let parsed = whole(
        preceded(
            char('$'),
            terminated(pair(var_name, opt(var_index)), multispace0),
        ),
        text,
    );
    let (name, index) = parsed.ok_or_else(|| {
        "expected $NAME, $NAME[@ITERATOR] or $NAME[INDEX] (names are letters, digits and '_')"
            .to_string()
    })?;
    if let Some(VarIndex::Iter(id)) = index {
        if id > VarRef::MAX_ITER_ID {
            return Err(format!(
                "iterator ids go up to {}, not {id}",
                VarRef::MAX_ITER_ID
            ));
        }
    }
    Ok((name.to_owned(), index))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(kind: ValueKind, text: &str) -> String {
        match parse(kind, text) {
            Ok(v) => format!("{v:?}"),
            Err(e) => panic!("{kind:?} {text:?}: {e}"),
        }
    }

    fn bad(kind: ValueKind, text: &str) -> String {
        parse(kind, text).expect_err(text)
    }

    #[test]
    fn numbers_are_decimal_then_hex() {
        assert_eq!(parse(ValueKind::U16, "65535"), Ok(Value::U16(65535)));
        assert_eq!(parse(ValueKind::U16, "0x123"), Ok(Value::U16(0x123)));
        assert_eq!(parse(ValueKind::U16, "0X4567"), Ok(Value::U16(0x4567)));
        // Not decimal, so libvirt reads it as hex.
        assert_eq!(parse(ValueKind::U16, "ff"), Ok(Value::U16(255)));
        assert_eq!(parse(ValueKind::U16, " 80"), Ok(Value::U16(80)));
        assert_eq!(
            parse(ValueKind::U32, "0x22334455"),
            Ok(Value::U32(0x2233_4455))
        );
        assert_eq!(parse(ValueKind::U8, "255"), Ok(Value::U8(255)));
        bad(ValueKind::U8, "256");
        bad(ValueKind::U16, "65536");
        bad(ValueKind::U16, "80 ");
        bad(ValueKind::U16, "-1");
        bad(ValueKind::U16, "0x");
        bad(ValueKind::U16, "");
        assert_eq!(parse(ValueKind::U16Decimal, "2"), Ok(Value::U16(2)));
        bad(ValueKind::U16Decimal, "0x2");
        assert_eq!(ok(ValueKind::Dscp, "0x32"), "Dscp(Dscp(50))");
        assert_eq!(bad(ValueKind::Dscp, "64"), "expected a number from 0 to 63");
        bad(ValueKind::Dscp, "0x40");
    }

    #[test]
    fn macs_and_masks() {
        assert_eq!(
            parse(ValueKind::Mac, "1:2:3:a:bb:CC"),
            Ok(Value::Mac(MacAddr([1, 2, 3, 0xa, 0xbb, 0xcc])))
        );
        assert_eq!(
            bad(ValueKind::Mac, "00:11:22:33:44:gg"),
            "expected six ':'-separated hex bytes, like 52:54:00:12:34:56"
        );
        bad(ValueKind::Mac, "1:2:3:4:5");
        bad(ValueKind::Mac, "1:2:3:4:5:6:7");
        bad(ValueKind::Mac, "1:2:3:4:5:100");
        bad(ValueKind::Mac, " 1:2:3:4:5:6");
        assert!(parse(ValueKind::Mac, "1:2:3:4:5:6 ").is_ok());
        assert!(parse(ValueKind::MacMask, "ff:ff:ff:ff:ff:80").is_ok());
        assert!(bad(ValueKind::MacMask, "ff:00:ff:00:00:00").contains("one bits"));
    }

    #[test]
    fn addresses_and_prefixes() {
        assert_eq!(
            parse(ValueKind::Ipv4, "10.1.2.3"),
            Ok(Value::Ipv4(Ipv4Addr::new(10, 1, 2, 3)))
        );
        for b in [
            "10.1.2",
            "10.1.2.256",
            "010.1.2.3",
            "a:b::",
            "10.1.2.3/8",
            "",
        ] {
            bad(ValueKind::Ipv4, b);
        }
        assert!(parse(ValueKind::Ipv6, "::ffff:10.1.2.3").is_ok());
        assert!(parse(ValueKind::Ipv6, "FE80::").is_ok());
        bad(ValueKind::Ipv6, "a:b:c");
        bad(ValueKind::Ipv6, "10.1.2.3");
        let len = |k, t| match parse(k, t) {
            Ok(Value::Ipv4Mask(m)) => m.prefix_len(),
            Ok(Value::Ipv6Mask(m)) => m.prefix_len(),
            other => panic!("{t}: {other:?}"),
        };
        assert_eq!(len(ValueKind::Ipv4Mask, "22"), 22);
        assert_eq!(len(ValueKind::Ipv4Mask, "255.255.128.0"), 17);
        assert_eq!(len(ValueKind::Ipv6Mask, "ffff:ffff:ffff:ffff:8000::"), 65);
        assert_eq!(len(ValueKind::Ipv6Mask, "128"), 128);
        assert_eq!(
            bad(ValueKind::Ipv4Mask, "33"),
            "a prefix length is at most 32"
        );
        assert_eq!(
            bad(ValueKind::Ipv6Mask, "129"),
            "a prefix length is at most 128"
        );
        assert!(bad(ValueKind::Ipv4Mask, "255.255.255.127").contains("one bits"));
        bad(ValueKind::Ipv4Mask, "0x10");
    }

    #[test]
    fn names_and_numbers() {
        use ValueKind::*;
        for (kind, text, want) in [
            (MacProtocol, "arp", "EtherType(EtherType(2054))"),
            (MacProtocol, "IPv6", "EtherType(EtherType(34525))"),
            (MacProtocol, "1536", "EtherType(EtherType(1536))"),
            (MacProtocol, "0x835", "EtherType(EtherType(2101))"),
            (VlanEncap, "0x3c", "EtherType(EtherType(60))"),
            (VlanId, "0x123", "VlanId(VlanId(291))"),
            (ArpOpcode, "Request_Reverse", "ArpOpcode(ArpOpcode(3))"),
            (ArpOpcode, "11", "ArpOpcode(ArpOpcode(11))"),
            (IpProtocol, "udp", "IpProtocol(IpProtocol(17))"),
            (IpProtocol, "icmpv6", "IpProtocol(IpProtocol(58))"),
            (IpProtocol, "255", "IpProtocol(IpProtocol(255))"),
        ] {
            assert_eq!(ok(kind, text), want);
        }
        for (kind, text) in [
            (MacProtocol, "15"),
            (MacProtocol, "tcp"),
            (VlanEncap, "59"),
            (VlanId, "0xffff"),
            (ArpOpcode, "65536"),
            (ArpOpcode, "Request_"),
            (IpProtocol, "256"),
            (Bool, "maybe"),
        ] {
            bad(kind, text);
        }
        assert_eq!(parse(Bool, "true"), Ok(Value::Bool(true)));
        assert_eq!(parse(Bool, "0"), Ok(Value::Bool(false)));
    }

    /// The parsed list-of-words value, shown as its `Display`.
    fn shown(kind: ValueKind, t: &str) -> String {
        match parse(kind, t) {
            Ok(Value::State(s)) => s.to_string(),
            Ok(Value::TcpFlags(f)) => f.to_string(),
            Ok(Value::IpsetFlags(f)) => f.to_string(),
            other => panic!("{t}: {other:?}"),
        }
    }

    #[test]
    fn lists_of_words() {
        use ValueKind::*;
        for (kind, text, want) in [
            (State, "ESTABLISHED,RELATED", "ESTABLISHED,RELATED"),
            (State, "related , new", "NEW,RELATED"),
            (State, "NEW,NONE", "NONE"),
            (TcpFlags, "SYN/ALL", "SYN/ALL"),
            (TcpFlags, "SYN/SYN,ACK", "SYN/SYN,ACK"),
            (TcpFlags, "PSH/", "PSH/NONE"),
            (TcpFlags, "ack,fin/none", "FIN,ACK/NONE"),
            (IpsetFlags, "SRC,dSt,SRC", "src,dst,src"),
        ] {
            assert_eq!(shown(kind, text), want);
        }
        for (kind, text) in [
            (State, ""),
            (State, "NEW,,RELATED"),
            (State, "NEWISH"),
            (TcpFlags, "SYN"),
            (TcpFlags, "SYN/XMAS"),
            (IpsetFlags, "src, dst"),
            (IpsetFlags, ""),
            (IpsetName, "a/b"),
        ] {
            bad(kind, text);
        }
        assert_eq!(
            bad(IpsetFlags, "src,src,src,src,src,src,src"),
            "at most 6 directions are allowed"
        );
        assert!(parse(IpsetName, "test:_.-+").is_ok());
        assert!(parse(Comment, "`ls`;${COLUMNS}").is_ok());
        bad(Comment, &"x".repeat(257));
    }

    #[test]
    fn variable_references() {
        assert_eq!(var_ref("$IP"), Ok(("IP".into(), None)));
        assert_eq!(var_ref("$A[@1]"), Ok(("A".into(), Some(VarIndex::Iter(1)))));
        assert_eq!(
            var_ref("$B[  @0 ] "),
            Ok(("B".into(), Some(VarIndex::Iter(0))))
        );
        assert_eq!(
            var_ref("$A[ 1 ] "),
            Ok(("A".into(), Some(VarIndex::Index(1))))
        );
        assert_eq!(
            var_ref("$A[1 ]"),
            Ok(("A".into(), Some(VarIndex::Index(1))))
        );
        for b in [
            "$", "$IP.x", "$A[", "$A[@]", "$A[x]", "$A[1]x", "IP", "$A[@-1]",
        ] {
            assert!(var_ref(b).is_err(), "{b}");
        }
        assert_eq!(
            var_ref("$A[@1001]"),
            Err("iterator ids go up to 1000, not 1001".into())
        );
        assert!(is_var_name("DHCPSERVER_2") && !is_var_name("A-B") && !is_var_name(""));
        assert!(is_var_value("fe80::1") && is_var_value("10.0.0.1"));
        assert!(!is_var_value("10.0.0.0/8") && !is_var_value(""));
    }

    #[test]
    fn variables_go_through_the_same_grammar() {
        assert_eq!(
            NomSyntax.parse(ValueKind::Ipv4, "1.1.1.1"),
            parse(ValueKind::Ipv4, "1.1.1.1")
        );
        assert!(NomSyntax.parse(ValueKind::U16, "x").is_err());
    }
}
