//! `nft -f` scripts as fwc writes them (one statement per line) back into
//! IR. Lines are recognised with nom; a rule is split into tokens with nom
//! and read by [`Reader`], which needs the table's declarations to type the
//! values.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_till, take_while1};
use nom::character::complete::{char, digit1, space0, space1};
use nom::combinator::{all_consuming, map, opt, recognize, value};
use nom::multi::many0;
use nom::sequence::{delimited, pair, preceded, terminated, tuple};
use nom::IResult;

use ir::{
    ChainKind, ChainType, CmpOp, CtStates, Family, Field, Ifname, IpFamily, KeyType, MacAddr, Map,
    MapRef, Match, Nat, Ownership, Policy, Provenance, RejectKind, Rule, Set, SetRef, Statement,
    Value, Verdict,
};

use super::build::{self, Builder, TableIdx};
use super::{lines, provenance, values, ReadError, Readback};

const WHAT: &str = "nft script";

/// Reads an `nft -f` script.
pub fn read(text: &str) -> Result<Readback, ReadError> {
    let mut st = State {
        b: Builder::default(),
        ctx: Ctx::Top,
    };
    lines::each_statement(WHAT, text, |line, pending| st.line(line, pending))?;
    if !matches!(st.ctx, Ctx::Top) {
        return Err(lines::at_end(WHAT, text, "the script ends inside a block"));
    }
    st.b.finish().map_err(|m| ReadError::new(WHAT, 0, m))
}

/// A set or map whose block is being read.
struct SetDecl {
    name: String,
    key: Vec<KeyType>,
    is_map: bool,
    interval: bool,
    elements: Vec<(Vec<Value>, Option<Verdict>)>,
}

enum Ctx {
    Top,
    Table(TableIdx),
    Chain(TableIdx, ir::ChainId),
    Set(TableIdx, SetDecl),
}

struct State {
    b: Builder,
    ctx: Ctx,
}

impl State {
    /// A statement line; `pending` is the provenance comment above it.
    fn line(&mut self, line: &str, pending: Option<Provenance>) -> Result<(), String> {
        match std::mem::replace(&mut self.ctx, Ctx::Top) {
            Ctx::Top => self.top(line),
            Ctx::Table(t) => self.in_table(t, line),
            Ctx::Chain(t, c) => self.in_chain(t, c, line, pending),
            Ctx::Set(t, decl) => self.in_set(t, decl, line),
        }
    }

    fn top(&mut self, line: &str) -> Result<(), String> {
        if let Ok((_, (family, name, open))) = all_consuming(table_head)(line) {
            let t = self.b.table(family, name, Ownership::Owned)?;
            if open {
                self.ctx = Ctx::Table(t);
            }
            return Ok(());
        }
        if let Ok((_, (family, name))) = all_consuming(delete_table)(line) {
            self.b.delete_table(family, name);
            return Ok(());
        }
        if all_consuming(flush_ruleset)(line).is_ok() {
            self.b.clear();
            return Ok(());
        }
        Err(format!("expected a table, found '{line}'"))
    }

    fn in_table(&mut self, t: TableIdx, line: &str) -> Result<(), String> {
        if line == "}" {
            return Ok(());
        }
        let (_, (kind, name)) = all_consuming(block_head)(line)
            .map_err(|_| format!("expected a chain, set or map, found '{line}'"))?;
        self.ctx = match kind {
            "chain" => {
                let c = self
                    .b
                    .declare_chain(t, name, ChainKind::Regular, Ownership::Owned)?;
                Ctx::Chain(t, c)
            }
            _ => Ctx::Set(
                t,
                SetDecl {
                    name: name.to_owned(),
                    key: Vec::new(),
                    is_map: kind == "map",
                    interval: false,
                    elements: Vec::new(),
                },
            ),
        };
        Ok(())
    }

    fn in_chain(
        &mut self,
        t: TableIdx,
        c: ir::ChainId,
        line: &str,
        pending: Option<Provenance>,
    ) -> Result<(), String> {
        if line == "}" {
            self.ctx = Ctx::Table(t);
            return Ok(());
        }
        self.ctx = Ctx::Chain(t, c);
        if line.starts_with("type ") {
            let family = self.b.get(t).family;
            let (_, (ty, hook, priority, policy)) = all_consuming(chain_spec)(line)
                .map_err(|_| format!("cannot read the chain specification '{line}'"))?;
            let kind = ChainKind::Base {
                hook: values::hook(hook)?,
                ty: chain_type(ty)?,
                priority: priority_of(family, priority)?,
                policy: match policy {
                    None | Some("accept") => Policy::Accept,
                    Some("drop") => Policy::Drop,
                    Some(p) => return Err(format!("unknown policy '{p}'")),
                },
            };
            *self.b.chain_kind_mut(t, c) = kind;
            return Ok(());
        }
        let toks = lex(line)?;
        let prov = pending.unwrap_or(provenance::UNKNOWN);
        let rule = Reader::new(&toks, &mut self.b, t).rule(prov)?;
        self.b.push_rule(t, c, rule, line.to_owned());
        Ok(())
    }

    fn in_set(&mut self, t: TableIdx, mut decl: SetDecl, line: &str) -> Result<(), String> {
        if line == "}" {
            return self.finish_set(t, decl);
        }
        let toks = lex(line)?;
        let mut r = Reader::new(&toks, &mut self.b, t);
        match r.word()? {
            "type" => {
                decl.key.push(key_type(r.word()?)?);
                while r.eat(".") {
                    decl.key.push(key_type(r.word()?)?);
                }
                if decl.is_map {
                    r.expect(":")?;
                    r.expect("verdict")?;
                }
            }
            "flags" => {
                decl.interval = r.word()? == "interval";
            }
            "elements" => {
                r.expect("=")?;
                r.expect_tok(&Tok::Open)?;
                loop {
                    let key = decl
                        .key
                        .iter()
                        .enumerate()
                        .map(|(i, k)| {
                            if i > 0 {
                                r.expect(".")?;
                            }
                            r.scalar(*k)
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    let v = if decl.is_map {
                        r.expect(":")?;
                        Some(r.verdict()?.ok_or("a map element needs a verdict")?)
                    } else {
                        None
                    };
                    decl.elements.push((key, v));
                    if !r.eat_tok(&Tok::Comma) {
                        break;
                    }
                }
                r.expect_tok(&Tok::Close)?;
            }
            other => return Err(format!("unexpected '{other}' in a set declaration")),
        }
        r.end()?;
        self.ctx = Ctx::Set(t, decl);
        Ok(())
    }

    fn finish_set(&mut self, t: TableIdx, decl: SetDecl) -> Result<(), String> {
        let name = build::name(&decl.name)?;
        if decl.key.is_empty() {
            return Err(format!("set {} has no type", decl.name));
        }
        if decl.is_map {
            let elements = decl
                .elements
                .into_iter()
                .map(|(k, v)| (k, v.expect("map elements have verdicts")))
                .collect();
            self.b.add_map(
                t,
                Map {
                    name,
                    key: decl.key,
                    interval: decl.interval,
                    elements,
                },
            );
        } else {
            let elements = decl.elements.into_iter().map(|(k, _)| k).collect();
            self.b.add_set(
                t,
                Set {
                    name,
                    key: decl.key,
                    interval: decl.interval,
                    elements,
                },
            );
        }
        self.ctx = Ctx::Table(t);
        Ok(())
    }
}

fn ident(i: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))(i)
}

fn family(i: &str) -> IResult<&str, Family> {
    alt((
        value(Family::Ip6, tag("ip6")),
        value(Family::Ip, tag("ip")),
        value(Family::Inet, tag("inet")),
        value(Family::Bridge, tag("bridge")),
        value(Family::Netdev, tag("netdev")),
    ))(i)
}

/// `table F N {` (opens the block) or `table F N {}` (declares it empty).
fn table_head(i: &str) -> IResult<&str, (Family, &str, bool)> {
    map(
        tuple((
            tag("table"),
            space1,
            family,
            space1,
            ident,
            space0,
            alt((value(false, tag("{}")), value(true, tag("{")))),
        )),
        |(_, _, f, _, n, _, open)| (f, n, open),
    )(i)
}

fn flush_ruleset(i: &str) -> IResult<&str, ()> {
    value((), tuple((tag("flush"), space1, tag("ruleset"))))(i)
}

fn delete_table(i: &str) -> IResult<&str, (Family, &str)> {
    map(
        tuple((
            tag("delete"),
            space1,
            tag("table"),
            space1,
            family,
            space1,
            ident,
        )),
        |(_, _, _, _, f, _, n)| (f, n),
    )(i)
}

fn block_head(i: &str) -> IResult<&str, (&str, &str)> {
    map(
        tuple((
            alt((tag("chain"), tag("set"), tag("map"))),
            space1,
            ident,
            space0,
            char('{'),
        )),
        |(k, _, n, _, _)| (k, n),
    )(i)
}

/// `type T hook H priority P; [policy X;]`
type Spec<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);
fn chain_spec(i: &str) -> IResult<&str, Spec<'_>> {
    let word = || take_while1(|c: char| c.is_ascii_alphanumeric() || c == '-');
    map(
        tuple((
            preceded(pair(tag("type"), space1), word()),
            preceded(tuple((space1, tag("hook"), space1)), word()),
            preceded(
                tuple((space1, tag("priority"), space1)),
                alt((recognize(pair(opt(char('-')), digit1)), word())),
            ),
            preceded(space0, char(';')),
            opt(delimited(
                tuple((space0, tag("policy"), space1)),
                word(),
                pair(space0, char(';')),
            )),
            space0,
        )),
        |(ty, hook, prio, _, policy, _)| (ty, hook, prio, policy),
    )(i)
}

fn chain_type(text: &str) -> Result<ChainType, String> {
    Ok(match text {
        "filter" => ChainType::Filter,
        "nat" => ChainType::Nat,
        "route" => ChainType::Route,
        other => return Err(format!("unknown chain type '{other}'")),
    })
}

/// A priority as a number or by nft's name for it.
pub(crate) fn priority_of(family: Family, text: &str) -> Result<i32, String> {
    if let Ok(n) = text.parse() {
        return Ok(n);
    }
    let bridge = family == Family::Bridge;
    Ok(match text {
        "raw" => -300,
        "mangle" => -150,
        "dstnat" if bridge => -300,
        "dstnat" => -100,
        "filter" if bridge => -200,
        "filter" => 0,
        "security" => 50,
        "srcnat" if bridge => 300,
        "srcnat" => 100,
        "out" if bridge => 100,
        other => return Err(format!("unknown priority '{other}'")),
    })
}

pub(crate) fn key_type(text: &str) -> Result<KeyType, String> {
    Ok(match text {
        "iface_index" => KeyType::IfIndex,
        "ifname" => KeyType::Ifname,
        "ipv4_addr" => KeyType::Ipv4Addr,
        "ipv6_addr" => KeyType::Ipv6Addr,
        "inet_proto" => KeyType::InetProto,
        "inet_service" => KeyType::InetService,
        "ct_state" => KeyType::CtState,
        "ether_addr" => KeyType::EtherAddr,
        other => return Err(format!("unknown key type '{other}'")),
    })
}

/// One token of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Quoted(&'a str),
    Open,
    Close,
    Comma,
}

fn token(i: &str) -> IResult<&str, Tok<'_>> {
    preceded(
        space0,
        alt((
            value(Tok::Open, char('{')),
            value(Tok::Close, char('}')),
            value(Tok::Comma, char(',')),
            map(
                delimited(char('"'), take_till(|c| c == '"'), char('"')),
                Tok::Quoted,
            ),
            map(
                take_while1(|c: char| !c.is_whitespace() && !matches!(c, '{' | '}' | ',' | '"')),
                Tok::Word,
            ),
        )),
    )(i)
}

fn lex(line: &str) -> Result<Vec<Tok<'_>>, String> {
    all_consuming(terminated(many0(token), space0))(line)
        .map(|(_, t)| t)
        .map_err(|_| format!("cannot split '{line}' into words (an unterminated string?)"))
}

/// Reads rule tokens into IR, resolving names in table `t`.
struct Reader<'t, 'b> {
    toks: &'t [Tok<'t>],
    pos: usize,
    b: &'b mut Builder,
    t: TableIdx,
}

impl<'t, 'b> Reader<'t, 'b> {
    fn new(toks: &'t [Tok<'t>], b: &'b mut Builder, t: TableIdx) -> Self {
        Reader { toks, pos: 0, b, t }
    }

    fn peek(&self) -> Option<&Tok<'t>> {
        self.toks.get(self.pos)
    }

    fn peek_word(&self) -> Option<&'t str> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w),
            _ => None,
        }
    }

    fn here(&self) -> String {
        match self.peek() {
            None => "the end of the line".into(),
            Some(Tok::Word(w)) => format!("'{w}'"),
            Some(Tok::Quoted(q)) => format!("'\"{q}\"'"),
            Some(Tok::Open) => "'{'".into(),
            Some(Tok::Close) => "'}'".into(),
            Some(Tok::Comma) => "','".into(),
        }
    }

    fn word(&mut self) -> Result<&'t str, String> {
        match self.peek_word() {
            Some(w) => {
                self.pos += 1;
                Ok(w)
            }
            None => Err(format!("expected a word, found {}", self.here())),
        }
    }

    fn eat(&mut self, w: &str) -> bool {
        if self.peek_word() == Some(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, w: &str) -> Result<(), String> {
        if self.eat(w) {
            Ok(())
        } else {
            Err(format!("expected '{w}', found {}", self.here()))
        }
    }

    fn eat_tok(&mut self, t: &Tok<'_>) -> bool {
        if self.peek() == Some(t) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_tok(&mut self, t: &Tok<'_>) -> Result<(), String> {
        if self.eat_tok(t) {
            Ok(())
        } else {
            Err(format!("expected {t:?}, found {}", self.here()))
        }
    }

    fn end(&self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(format!("unexpected {}", self.here())),
        }
    }

    fn text(&mut self) -> Result<&'t str, String> {
        match self.peek() {
            Some(Tok::Quoted(q) | Tok::Word(q)) => {
                let q = *q;
                self.pos += 1;
                Ok(q)
            }
            _ => Err(format!("expected a string, found {}", self.here())),
        }
    }

    fn rule(mut self, provenance: Provenance) -> Result<Rule, String> {
        let mut rule = Rule::new(provenance, Vec::new(), None);
        while let Some(tok) = self.peek() {
            let Tok::Word(w) = tok else {
                return Err(format!("unexpected {}", self.here()));
            };
            let w = *w;
            match w {
                "counter" => {
                    self.pos += 1;
                    // `nft list` adds the counts.
                    if self.eat("packets") {
                        self.word()?;
                        self.expect("bytes")?;
                        self.word()?;
                    }
                    rule.statements.push(Statement::Counter);
                }
                "log" => {
                    self.pos += 1;
                    let prefix = if self.eat("prefix") { self.text()? } else { "" };
                    let prefix = ir::Comment::new(prefix).map_err(|e| e.to_string())?;
                    rule.statements.push(Statement::Log { prefix });
                }
                "masquerade" => {
                    self.pos += 1;
                    let ports = if self.eat("to") {
                        let p = self.word()?;
                        let p = p.strip_prefix(':').ok_or("expected ':PORTS'")?;
                        Some(values::ports(p)?)
                    } else {
                        None
                    };
                    rule.statements
                        .push(Statement::Nat(Nat::Masquerade { ports }));
                }
                "snat" | "dnat" => {
                    self.pos += 1;
                    if !self.eat("ip") {
                        self.eat("ip6");
                    }
                    self.expect("to")?;
                    let (addr, ports) = values::nat_target(self.word()?)?;
                    rule.statements.push(Statement::Nat(if w == "snat" {
                        Nat::Snat { addr, ports }
                    } else {
                        Nat::Dnat { addr, ports }
                    }));
                }
                "comment" => {
                    self.pos += 1;
                    let c = self.text()?;
                    rule.comment = Some(ir::Comment::new(c).map_err(|e| e.to_string())?);
                }
                "accept" | "drop" | "return" | "continue" | "jump" | "goto" | "reject" => {
                    rule.verdict = self.verdict()?;
                }
                _ => {
                    let mut key = vec![self.field()?];
                    while self.eat(".") {
                        key.push(self.field()?);
                    }
                    if self.eat("vmap") {
                        let map = self.map_ref(&key)?;
                        rule.verdict = Some(Verdict::Vmap { key, map });
                        continue;
                    }
                    let [field] = key[..] else {
                        return Err("a concatenation is only read before 'vmap'".into());
                    };
                    let op = if self.eat("!=") {
                        CmpOp::Ne
                    } else {
                        self.eat("==");
                        CmpOp::Eq
                    };
                    let value = self.value(field.key_type())?;
                    rule.matches.push(Match { field, op, value });
                }
            }
        }
        Ok(rule)
    }

    fn field(&mut self) -> Result<Field, String> {
        let at = self.here();
        let w = self.word()?;
        Ok(match w {
            "iif" => Field::Iif,
            "oif" => Field::Oif,
            "iifname" => Field::IifName,
            "oifname" => Field::OifName,
            "meta" => match self.word()? {
                "l4proto" => Field::L4Proto,
                "iif" => Field::Iif,
                "oif" => Field::Oif,
                "iifname" => Field::IifName,
                "oifname" => Field::OifName,
                other => return Err(format!("unknown meta key '{other}'")),
            },
            "ct" => match self.word()? {
                "state" => Field::CtState,
                "direction" => Field::CtDirection,
                other => return Err(format!("unknown ct key '{other}'")),
            },
            proto => {
                let Some(mut field) = self.peek_word().map(str::to_owned) else {
                    return Err(format!("unknown expression {at}"));
                };
                self.pos += 1;
                // ARP addresses take two words: `arp saddr ip`.
                if proto == "arp" && matches!(field.as_str(), "saddr" | "daddr") {
                    field = format!("{field} {}", self.word()?);
                }
                values::payload_field(proto, &field)
                    .map_err(|e| format!("unknown expression {at}: {e}"))?
            }
        })
    }

    /// A value compared with a field: a scalar, `{ ... }` or `@set`.
    fn value(&mut self, key: KeyType) -> Result<Value, String> {
        if self.eat_tok(&Tok::Open) {
            let mut items = Vec::new();
            loop {
                items.push(self.scalar(key)?);
                if !self.eat_tok(&Tok::Comma) {
                    break;
                }
            }
            self.expect_tok(&Tok::Close)?;
            return Ok(Value::Set(SetRef::Anonymous(items)));
        }
        if let Some(name) = self.peek_word().and_then(|w| w.strip_prefix('@')) {
            self.pos += 1;
            return Ok(Value::Set(SetRef::Named(self.b.set_id(self.t, name)?)));
        }
        self.scalar(key)
    }

    fn scalar(&mut self, key: KeyType) -> Result<Value, String> {
        let text = self.text()?;
        Ok(match key {
            KeyType::IfIndex | KeyType::Ifname => {
                Value::Ifname(Ifname::new(text).map_err(|e| e.to_string())?)
            }
            KeyType::Ipv4Addr => values::address_value(IpFamily::V4, text)?,
            KeyType::Ipv6Addr => values::address_value(IpFamily::V6, text)?,
            KeyType::InetProto => Value::Proto(values::proto(text)?),
            KeyType::InetService => Value::Ports(values::ports(text)?),
            KeyType::EtherAddr => Value::Mac(text.parse::<MacAddr>().map_err(|e| e.to_string())?),
            KeyType::Integer => Value::Int(values::ether_type_int(text)?),
            KeyType::CtDirection => Value::CtDir(values::ct_direction(text)?),
            KeyType::Bool | KeyType::TcpFlags | KeyType::IpSetRef => {
                return Err(format!("values of type {key:?} are not read back"))
            }
            KeyType::CtState => {
                let mut states = CtStates::default();
                ct_state(&mut states, text)?;
                // `related,established` arrives as words and commas.
                while self.peek() == Some(&Tok::Comma)
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Word(_)))
                {
                    self.pos += 1;
                    let w = self.word()?;
                    ct_state(&mut states, w)?;
                }
                Value::CtStates(states)
            }
        })
    }

    fn map_ref(&mut self, key: &[Field]) -> Result<MapRef, String> {
        if let Some(name) = self.peek_word().and_then(|w| w.strip_prefix('@')) {
            self.pos += 1;
            return Ok(MapRef::Named(self.b.map_id(self.t, name)?));
        }
        self.expect_tok(&Tok::Open)?;
        let mut elems = Vec::new();
        loop {
            let mut k = Vec::new();
            for (i, f) in key.iter().enumerate() {
                if i > 0 {
                    self.expect(".")?;
                }
                k.push(self.scalar(f.key_type())?);
            }
            self.expect(":")?;
            let v = self.verdict()?.ok_or("a map element needs a verdict")?;
            elems.push((k, v));
            if !self.eat_tok(&Tok::Comma) {
                break;
            }
        }
        self.expect_tok(&Tok::Close)?;
        Ok(MapRef::Anonymous(elems))
    }

    /// A verdict; `continue` is none.
    fn verdict(&mut self) -> Result<Option<Verdict>, String> {
        let w = self.word()?;
        Ok(Some(match w {
            "accept" => Verdict::Accept,
            "drop" => Verdict::Drop,
            "return" => Verdict::Return,
            "continue" => return Ok(None),
            "jump" | "goto" => {
                let name = self.word()?;
                let c = self.b.chain(self.t, name)?;
                if w == "jump" {
                    Verdict::Jump(c)
                } else {
                    Verdict::Goto(c)
                }
            }
            "reject" => Verdict::Reject(if self.eat("with") {
                match self.word()? {
                    "tcp" => {
                        self.expect("reset")?;
                        RejectKind::TcpReset
                    }
                    "icmp" | "icmpv6" | "icmpx" => {
                        self.eat("type");
                        reject_code(self.word()?)?
                    }
                    other => return Err(format!("unknown reject kind '{other}'")),
                }
            } else {
                RejectKind::Default
            }),
            other => return Err(format!("unknown verdict '{other}'")),
        }))
    }
}

/// An ICMP reject code as fwc's IR knows it.
pub(crate) fn reject_code(text: &str) -> Result<RejectKind, String> {
    match text {
        "port-unreachable" => Ok(RejectKind::PortUnreachable),
        "admin-prohibited" => Ok(RejectKind::AdminProhibited),
        other => Err(format!("reject code '{other}' is not in fwc's IR")),
    }
}

/// Adds the state called `name` to `states`.
pub(crate) fn ct_state(states: &mut CtStates, name: &str) -> Result<(), String> {
    let flag = match name.to_ascii_lowercase().as_str() {
        "new" => &mut states.new,
        "established" => &mut states.established,
        "related" => &mut states.related,
        "invalid" => &mut states.invalid,
        "untracked" => &mut states.untracked,
        _ => return Err(format!("unknown conntrack state '{name}'")),
    };
    *flag = true;
    Ok(())
}
