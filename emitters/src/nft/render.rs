//! nft text of rules, chains, sets and maps, shared by the script and the
//! command form so that a rule is rendered once.
//!
//! A rule is first put into nft's shape by [`super::model`] (which the JSON
//! writer shares), then spelled here as a list of [`Token`]s: the script
//! joins them with spaces, the command form passes each as one argv element
//! (shell-quoted by [`crate::quote`]). The only difference between the forms
//! is how an interface name is spelled, which [`Token::Ifname`] keeps apart.

use std::borrow::Cow;

use ir::{ArpField, CmpOp, Field, KeyType, MapRef, Match, Rule, SetRef, Table, Value, Verdict};

use super::model::{self, Lhs, NatStmt, Stmt};
use crate::quote;

/// One word of an nft rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Printed as is in both forms.
    Word(String),
    /// An interface name: a quoted string in scripts (`"virbr0"`), bare in
    /// command lines (`virbr0`) as libvirt passes it. Safe either way because
    /// [`ir::Ifname`] admits no quote, space or control character.
    Ifname(String),
}

impl Token {
    fn word(s: impl Into<String>) -> Token {
        Token::Word(s.into())
    }

    /// The token in an `nft -f` script.
    pub(crate) fn script(&self) -> Cow<'_, str> {
        match self {
            Token::Word(w) => Cow::Borrowed(w),
            Token::Ifname(n) => Cow::Owned(format!("\"{n}\"")),
        }
    }

    /// The token as one argv element of an `nft` command.
    pub(crate) fn arg(&self) -> &str {
        match self {
            Token::Word(w) | Token::Ifname(w) => w,
        }
    }
}

/// Joins tokens the way a script spells them.
pub(crate) fn script_text(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.script())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rule's statements (see [`model::statements`]) and comment as tokens.
pub(crate) fn rule_tokens(table: &Table, rule: &Rule) -> Vec<Token> {
    let mut out = Vec::new();
    for s in model::statements(table.family, rule) {
        match s {
            Stmt::Match(m) => match_tokens(table, rule, m, &mut out),
            Stmt::Counter => out.push(Token::word("counter")),
            Stmt::Log(prefix) => {
                out.push(Token::word("log"));
                out.push(Token::word("prefix"));
                let text = quote::nft_log_prefix_text(prefix.as_str());
                out.push(Token::Word(format!("\"{text}\"")));
            }
            Stmt::Nat(nat) => nat_tokens(&nat, &mut out),
            Stmt::Verdict(v) => verdict_tokens(table, v, &mut out),
            Stmt::Continue => out.push(Token::word("continue")),
        }
    }
    if let Some(c) = &rule.comment {
        out.push(Token::word("comment"));
        out.push(Token::Word(quote::nft_string(c.as_str())));
    }
    out
}

fn field_tokens(field: Field, out: &mut Vec<Token>) {
    lhs_tokens(model::lhs(field), out);
}

fn lhs_tokens(lhs: Lhs, out: &mut Vec<Token>) {
    let words: Vec<String> = match lhs {
        Lhs::Meta { key, bare: true } => vec![key.into()],
        Lhs::Meta { key, bare: false } => vec!["meta".into(), key.into()],
        Lhs::Payload { protocol, field } => vec![protocol.into(), field.into()],
        Lhs::Ct { key } => vec!["ct".into(), key.into()],
        Lhs::Raw { base, offset, len } => vec![format!("@{base},{offset},{len}")],
    };
    // Some payload fields are two words (`arp saddr ether`).
    out.extend(
        words
            .iter()
            .flat_map(|w| w.split(' '))
            .map(|w| Token::word(w.to_owned())),
    );
}

fn op_word(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "==",
        CmpOp::Ne => "!=",
    }
}

fn match_tokens(table: &Table, rule: &Rule, m: &Match, out: &mut Vec<Token>) {
    match (m.field, &m.value) {
        // Refused by `model::inexpressible` unless positive and the table
        // holds the set.
        (Field::Arp(ArpField::Gratuitous), _) => {
            for mask in model::SAME_IP_MASKS {
                out.extend(
                    [
                        "arp", "saddr", "ip", "&", mask, ".", "arp", "daddr", "ip", "&", mask,
                    ]
                    .map(Token::word),
                );
                out.push(Token::Word(format!("@{}", model::SAME_IP_SET)));
            }
            return;
        }
        (Field::ConnCount, v) => {
            out.extend(["ct", "count"].map(Token::word));
            if m.op == CmpOp::Eq {
                out.push(Token::word("over"));
            }
            out.push(Token::Word(model::count_over(v).unwrap_or(0).to_string()));
            return;
        }
        (Field::TcpFlags, Value::TcpFlags { mask, set }) => {
            field_tokens(m.field, out);
            out.push(Token::word("&"));
            out.push(Token::Word(format!("({})", flag_list(*mask))));
            out.push(Token::word(op_word(m.op)));
            out.push(Token::Word(flag_list(*set)));
            return;
        }
        _ => {}
    }
    let lhs = model::rule_lhs(rule, m.field);
    lhs_tokens(lhs, out);
    if let Lhs::Raw { len, .. } = lhs {
        raw_value_tokens(m, len, out);
        return;
    }
    if let Value::MacMasked { addr, mask } = &m.value {
        if mask.0 != [0xff; 6] {
            out.push(Token::word("&"));
            out.push(Token::Word(mask.to_string()));
            out.push(Token::word(op_word(m.op)));
            out.push(Token::Word(addr.to_string()));
            return;
        }
    }
    if m.op == CmpOp::Ne {
        out.push(Token::word("!="));
    }
    out.push(match &m.value {
        Value::Ifname(n) => Token::Ifname(n.to_string()),
        Value::Int(r) if m.field == Field::EtherType => Token::Word(ether_type_text(r)),
        other => Token::Word(value_text(table, other, false)),
    });
}

/// TCP flags as nft writes a combination: `syn|ack`, `0` for none.
fn flag_list(flags: ir::TcpFlagSet) -> String {
    let names = model::tcp_flag_names(flags);
    if names.is_empty() {
        "0".into()
    } else {
        names.join("|")
    }
}

/// An ether type: its name when written by name, else four hex digits.
fn ether_type_text(r: &ir::IntRange) -> String {
    let hex = |v: u64| format!("0x{v:04x}");
    match (r.notation, model::ether_type_name(r.start)) {
        (ir::Notation::Name, Some(name)) if r.start == r.end => name.into(),
        _ if r.start == r.end => hex(r.start),
        _ => format!("{}-{}", hex(r.start), hex(r.end)),
    }
}

/// A number of a raw payload read, in hex.
pub(crate) fn raw_hex(v: u64) -> String {
    format!("0x{v:x}")
}

/// The value of a raw payload read of `len` bits: numbers and MACs in hex,
/// an address prefix as the masked bits.
fn raw_value_tokens(m: &Match, len: u32, out: &mut Vec<Token>) {
    let mac = |a: &ir::MacAddr| a.0.iter().fold(0u64, |acc, b| acc << 8 | u64::from(*b));
    let (mask, value) = match &m.value {
        Value::Int(r) if r.start == r.end => (None, raw_hex(r.start)),
        Value::Int(r) => (None, format!("{}-{}", raw_hex(r.start), raw_hex(r.end))),
        Value::Mac(a) => (None, raw_hex(mac(a))),
        Value::MacMasked { addr, mask } => (Some(raw_hex(mac(mask))), raw_hex(mac(addr))),
        Value::Prefix(n) => {
            let bits = match n.addr() {
                std::net::IpAddr::V4(a) => u64::from(u32::from(a)),
                std::net::IpAddr::V6(_) => 0,
            };
            let plen = u32::from(n.prefix_len());
            let full = if len >= 64 {
                u64::MAX
            } else {
                (1u64 << len) - 1
            };
            let keep = if plen == 0 {
                0
            } else {
                full & !((1u64 << (len - plen.min(len))) - 1)
            };
            if plen >= len {
                (None, raw_hex(bits))
            } else {
                (Some(raw_hex(keep)), raw_hex(bits & keep))
            }
        }
        other => (None, other.to_string()),
    };
    match mask {
        Some(mask) => {
            out.push(Token::word("&"));
            out.push(Token::Word(mask));
            out.push(Token::word(op_word(m.op)));
        }
        None if m.op == CmpOp::Ne => out.push(Token::word("!=")),
        None => {}
    }
    out.push(Token::Word(value));
}

/// A value as script text (`in_set`: inside a set, see
/// [`model::bare_address`]).
pub(crate) fn value_text(table: &Table, v: &Value, in_set: bool) -> String {
    match v {
        Value::Ifname(n) => format!("\"{n}\""),
        Value::Prefix(n) if model::bare_address(n, in_set) => n.addr().to_string(),
        Value::Prefix(n) => n.to_string(),
        Value::Proto(p) => p.name().to_owned(),
        Value::Ports(p) => p.to_string(),
        Value::CtStates(s) => s.to_string(),
        Value::Mac(m) | Value::MacMasked { addr: m, .. } => m.to_string(),
        Value::AddrRange(r) => r.to_string(),
        Value::Int(r) => r.to_string(),
        Value::CtDir(ir::CtDirection::Original) => "original".into(),
        Value::CtDir(ir::CtDirection::Reply) => "reply".into(),
        // Refused by `model::inexpressible` before anything is printed.
        Value::Bool(b) => b.to_string(),
        Value::TcpFlags { set, .. } => set.0.to_string(),
        Value::IpSet { name, .. } => name.to_string(),
        Value::Set(SetRef::Anonymous(items)) => {
            let items: Vec<_> = items.iter().map(|i| value_text(table, i, true)).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Value::Set(SetRef::Named(id)) => format!("@{}", table.sets[id.0].name),
    }
}

/// `masquerade [to :P]`, `snat [ip] to S[-E][:P]`.
fn nat_tokens(nat: &NatStmt<'_>, out: &mut Vec<Token>) {
    out.push(Token::word(nat.kind.keyword()));
    if let Some(f) = nat.family {
        out.push(Token::word(ip_keyword(f)));
    }
    let target = match (nat.addr, nat.ports) {
        (Some(addr), ports) => crate::nat::target_text(addr, ports),
        (None, Some(p)) => format!(":{p}"),
        (None, None) => return,
    };
    out.push(Token::word("to"));
    out.push(Token::Word(target));
}

fn ip_keyword(f: ir::IpFamily) -> &'static str {
    if f == ir::IpFamily::V4 {
        "ip"
    } else {
        "ip6"
    }
}

fn chain_name(table: &Table, id: ir::ChainId) -> String {
    table.chain(id).name.to_string()
}

/// A verdict's tokens; chain, set and map handles resolve through `table`.
fn verdict_tokens(table: &Table, v: &Verdict, out: &mut Vec<Token>) {
    match v {
        Verdict::Accept => out.push(Token::word("accept")),
        Verdict::Drop => out.push(Token::word("drop")),
        Verdict::Reject(kind) => {
            out.push(Token::word("reject"));
            if let Some(with) = model::reject(table.family, *kind) {
                out.push(Token::word("with"));
                out.push(Token::word(with.ty));
                if let Some(code) = with.code {
                    out.push(Token::word("type"));
                    out.push(Token::word(code));
                }
            }
        }
        Verdict::Return => out.push(Token::word("return")),
        Verdict::Jump(c) => {
            out.push(Token::word("jump"));
            out.push(Token::Word(chain_name(table, *c)));
        }
        Verdict::Goto(c) => {
            out.push(Token::word("goto"));
            out.push(Token::Word(chain_name(table, *c)));
        }
        Verdict::Vmap { key, map } => {
            for (i, f) in key.iter().enumerate() {
                if i > 0 {
                    out.push(Token::word("."));
                }
                field_tokens(*f, out);
            }
            out.push(Token::word("vmap"));
            out.push(Token::Word(match map {
                MapRef::Named(id) => format!("@{}", table.maps[id.0].name),
                MapRef::Anonymous(elems) => format!("{{ {} }}", map_elements(table, elems)),
            }));
        }
    }
}

/// A verdict as script text (for map elements).
pub(crate) fn verdict_text(table: &Table, v: &Verdict) -> String {
    let mut t = Vec::new();
    verdict_tokens(table, v, &mut t);
    script_text(&t)
}

/// One set element or map key: its values joined by ` . `.
pub(crate) fn element_text(table: &Table, values: &[Value]) -> String {
    values
        .iter()
        .map(|v| value_text(table, v, true))
        .collect::<Vec<_>>()
        .join(" . ")
}

/// A set's elements, `a, b, ...` without braces.
pub(crate) fn set_elements(table: &Table, elems: &[Vec<Value>]) -> String {
    elems
        .iter()
        .map(|e| element_text(table, e))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `k : verdict, ...` without braces.
pub(crate) fn map_elements(table: &Table, elems: &[(Vec<Value>, Verdict)]) -> String {
    elems
        .iter()
        .map(|(k, v)| format!("{} : {}", element_text(table, k), verdict_text(table, v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// nft's name for a key type, concatenations joined by ` . `.
pub(crate) fn key_type_text(key: &[KeyType]) -> String {
    model::key_type_names(key).join(" . ")
}

/// The specification of a base chain, `type filter hook forward priority 0;
/// policy accept;`, or `None` for a regular chain.
pub(crate) fn chain_spec(kind: &ir::ChainKind) -> Option<String> {
    match kind {
        ir::ChainKind::Base {
            hook,
            ty,
            priority,
            policy,
        } => Some(format!(
            "type {} hook {} priority {priority}; policy {};",
            ty.keyword(),
            hook.keyword(),
            policy.keyword()
        )),
        ir::ChainKind::Regular => None,
    }
}

#[cfg(test)]
mod tests {
    use ir::*;

    use super::*;
    use crate::testutil::*;
    use crate::{Direction, Format, Target};

    fn table(family: Family) -> Table {
        let mut t = Table::new(family, name("t"), Ownership::Owned);
        regular(&mut t, "other");
        t
    }

    fn text(t: &Table, r: &Rule) -> String {
        script_text(&rule_tokens(t, r))
    }

    fn p() -> Provenance {
        from("r.xml", 1, "rule")
    }

    #[test]
    fn ifnames_are_quoted_in_scripts_and_bare_in_argv() {
        let t = table(Family::Ip);
        let r = Rule::new(
            p(),
            vec![
                Match::eq(Field::Iif, ifname("virbr0")),
                Match::ne(Field::OifName, ifname("eth0")),
            ],
            Some(Verdict::Accept),
        );
        assert_eq!(text(&t, &r), "iif \"virbr0\" oifname != \"eth0\" accept");
        let argv: Vec<_> = rule_tokens(&t, &r)
            .iter()
            .map(|t| t.arg().to_owned())
            .collect();
        assert_eq!(argv, ["iif", "virbr0", "oifname", "!=", "eth0", "accept"]);
    }

    #[test]
    fn reject_kinds_follow_the_table_family() {
        let kinds = [
            RejectKind::Default,
            RejectKind::TcpReset,
            RejectKind::PortUnreachable,
            RejectKind::AdminProhibited,
        ];
        let got = |fam| -> Vec<String> {
            let t = table(fam);
            kinds
                .iter()
                .map(|k| text(&t, &Rule::new(p(), vec![], Some(Verdict::Reject(*k)))))
                .collect()
        };
        assert_eq!(
            got(Family::Ip),
            [
                "reject",
                "reject with tcp reset",
                "reject with icmp type port-unreachable",
                "reject with icmp type admin-prohibited"
            ]
        );
        assert_eq!(
            got(Family::Ip6)[3],
            "reject with icmpv6 type admin-prohibited"
        );
        assert_eq!(
            got(Family::Inet)[2],
            "reject with icmpx type port-unreachable"
        );
    }

    #[test]
    fn statements_sets_and_verdicts() {
        let t = table(Family::Inet);
        let other = t.chain_id("other").unwrap();
        let addr = AddrRange::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::1".parse().unwrap(),
        )
        .unwrap();
        let mut r = Rule::new(
            p(),
            vec![
                Match::eq(Field::L4Proto, Value::Proto(L4Proto::Udp)),
                Match::eq(
                    Field::Dport(L4Proto::Udp),
                    Value::Set(SetRef::Anonymous(vec![ports(53, 53), ports(67, 68)])),
                ),
                Match::eq(
                    Field::Daddr(IpFamily::V6),
                    Value::Set(SetRef::Anonymous(vec![
                        net("2001:db8::1/128"),
                        net("2001:db8:1::/48"),
                    ])),
                ),
                Match::ne(
                    Field::CtState,
                    Value::CtStates(CtStates {
                        new: true,
                        ..CtStates::default()
                    }),
                ),
                Match::eq(
                    Field::EtherSaddr,
                    Value::Mac("52:54:00:00:00:01".parse().unwrap()),
                ),
            ],
            None,
        )
        .with(Statement::Log {
            prefix: Comment::new("fwc: ").unwrap(),
        })
        .with(Statement::Counter)
        .with(Statement::Nat(Nat::Dnat {
            addr,
            ports: Some(PortRange::new(8080, 8080).unwrap()),
        }));
        r.comment = Some(Comment::new("from r.xml").unwrap());
        assert_eq!(
            text(&t, &r),
            "meta l4proto udp udp dport { 53, 67-68 } ip6 daddr { 2001:db8::1, 2001:db8:1::/48 } ct state != new \
             ether saddr 52:54:00:00:00:01 log prefix \"fwc: \" counter dnat ip6 to [2001:db8::1]:8080 comment \"from r.xml\""
        );
        let vmap = Rule::new(
            p(),
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::IifName, Field::Saddr(IpFamily::V4)],
                map: MapRef::Anonymous(vec![(
                    vec![ifname("virbr0"), net("192.168.122.0/24")],
                    Verdict::Goto(other),
                )]),
            }),
        );
        assert_eq!(
            text(&t, &vmap),
            "iifname . ip saddr vmap { \"virbr0\" . 192.168.122.0/24 : goto other }"
        );
        assert_eq!(text(&t, &Rule::new(p(), vec![], None)), "continue");
    }

    /// A script using every construct above loads into the kernel.
    #[test]
    fn kernel_accepts_every_construct() {
        let rs = every_construct();
        let setup = temp_file(
            &emit_as(&rs, Target::Nft, Format::Script, Direction::Setup)
                .unwrap()
                .text,
        );
        let sh = format!(
            "set -e; nft -f {s}; nft -f {s}; nft list table inet fwc | grep -c 'jump guests'",
            s = setup.path().display()
        );
        let Some(out) = in_netns(&sh, &["nft"]) else {
            return;
        };
        assert_succeeded(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    }
}
