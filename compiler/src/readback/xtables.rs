//! `iptables-restore` / `ip6tables-restore` input back into IR.
//!
//! Each of iptables' tables becomes an IR table of the restore file's
//! family with the same name. A built-in chain becomes a base chain on its
//! hook at the priority nft gives that table (`filter` 0, `nat` -100 before
//! and 100 after routing, `mangle` -150, `raw` -300, `security` 50), with
//! the policy the file sets (accept if it sets none, as on a fresh host);
//! user chains are regular chains. Interfaces are matched by name, as
//! iptables does. Lines are split into words with nom.

use nom::branch::alt;
use nom::bytes::complete::{escaped, is_not, take_while1};
use nom::character::complete::{char, one_of, space0};
use nom::combinator::{all_consuming, recognize};
use nom::multi::many0;
use nom::sequence::{delimited, preceded, terminated};
use nom::IResult;

use ir::{
    ChainId, ChainKind, ChainType, CmpOp, CtStates, Family, Field, Hook, Ifname, IpFamily, L4Proto,
    MacAddr, Match, Nat, Ownership, Policy, Provenance, RejectKind, Rule, Statement, Value,
    Verdict,
};

use super::build::{Builder, TableIdx};
use super::{lines, provenance, values, ReadError, Readback};

/// Reads restore input of `family` (`Family::Ip` for iptables, `Ip6` for ip6tables).
pub fn read(text: &str, family: Family) -> Result<Readback, ReadError> {
    let what = if family == Family::Ip6 {
        "ip6tables-restore input"
    } else {
        "iptables-restore input"
    };
    let ip = if family == Family::Ip6 {
        IpFamily::V6
    } else {
        IpFamily::V4
    };
    let mut st = State {
        b: Builder::default(),
        family,
        ip,
        table: None,
    };
    lines::each_statement(what, text, |line, pending| st.line(line, pending))?;
    if st.table.is_some() {
        return Err(lines::at_end(what, text, "the last table has no COMMIT"));
    }
    st.b.finish().map_err(|m| ReadError::new(what, 0, m))
}

struct State {
    b: Builder,
    family: Family,
    ip: IpFamily,
    /// The table being read and its name.
    table: Option<(TableIdx, &'static str)>,
}

/// iptables' tables.
const TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// The hook, type and priority of a built-in chain of `table`.
fn builtin(table: &str, chain: &str) -> Option<(Hook, ChainType, i32)> {
    let hook = match chain {
        "PREROUTING" => Hook::Prerouting,
        "INPUT" => Hook::Input,
        "FORWARD" => Hook::Forward,
        "OUTPUT" => Hook::Output,
        "POSTROUTING" => Hook::Postrouting,
        _ => return None,
    };
    let filter_hooks = matches!(hook, Hook::Input | Hook::Forward | Hook::Output);
    Some(match table {
        "filter" if filter_hooks => (hook, ChainType::Filter, 0),
        "security" if filter_hooks => (hook, ChainType::Filter, 50),
        "raw" if matches!(hook, Hook::Prerouting | Hook::Output) => (hook, ChainType::Filter, -300),
        "mangle" if hook == Hook::Output => (hook, ChainType::Route, -150),
        "mangle" => (hook, ChainType::Filter, -150),
        "nat" if hook == Hook::Forward => return None,
        "nat" => {
            let before_routing = matches!(hook, Hook::Prerouting | Hook::Output);
            (
                hook,
                ChainType::Nat,
                if before_routing { -100 } else { 100 },
            )
        }
        _ => return None,
    })
}

/// A word of a restore line; quoted strings keep their quotes here.
fn word(i: &str) -> IResult<&str, &str> {
    preceded(
        space0,
        alt((
            recognize(delimited(
                char('"'),
                escaped(is_not("\"\\"), '\\', one_of("\"\\")),
                char('"'),
            )),
            recognize(nom::bytes::complete::tag("\"\"")),
            take_while1(|c: char| !c.is_whitespace()),
        )),
    )(i)
}

pub(crate) fn words(line: &str) -> Result<Vec<&str>, String> {
    all_consuming(terminated(many0(word), space0))(line)
        .map(|(_, w)| w)
        .map_err(|_| format!("cannot split '{line}' into words (an unterminated string?)"))
}

/// A word without its quotes and escapes.
pub(crate) fn unquote(w: &str) -> String {
    match w.strip_prefix('"').and_then(|w| w.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => w.to_owned(),
    }
}

impl State {
    /// A statement line; `pending` is the provenance comment above it.
    fn line(&mut self, line: &str, pending: Option<Provenance>) -> Result<(), String> {
        if let Some(name) = line.strip_prefix('*') {
            if self.table.is_some() {
                return Err("a table starts before the last one was committed".into());
            }
            let name = TABLES
                .iter()
                .find(|t| **t == name)
                .ok_or_else(|| format!("'{name}' is not one of iptables' tables"))?;
            let t = self.b.table(self.family, name, Ownership::External)?;
            self.table = Some((t, name));
            return Ok(());
        }
        let Some((t, table)) = self.table else {
            return Err(format!("expected '*TABLE', found '{line}'"));
        };
        if line == "COMMIT" {
            self.table = None;
            return Ok(());
        }
        if let Some(decl) = line.strip_prefix(':') {
            let w = words(decl)?;
            let (chain, policy) = match w[..] {
                [c, p, ..] => (c, p),
                _ => return Err(format!("cannot read the chain declaration '{line}'")),
            };
            return self.declare(t, table, chain, policy);
        }
        let w = words(line)?;
        let (op, chain, rest) = match w[..] {
            [op, chain, ref rest @ ..] => (op, chain, rest),
            _ => return Err(format!("cannot read '{line}'")),
        };
        match op {
            "-N" | "--new-chain" => self.declare(t, table, chain, "-"),
            "-P" | "--policy" => self.declare(t, table, chain, rest.first().copied().unwrap_or("")),
            "-A" | "--append" | "-I" | "--insert" => {
                let c = self.chain(t, table, chain)?;
                let (pos, args) = match (op, rest.first().map(|n| n.parse::<usize>())) {
                    ("-I" | "--insert", Some(Ok(n))) if n > 0 => (Some(n - 1), &rest[1..]),
                    ("-I" | "--insert", _) => (Some(0), rest),
                    _ => (None, rest),
                };
                let prov = pending.unwrap_or(provenance::UNKNOWN);
                let rule = self.rule(t, args, prov)?;
                let text = args.join(" ");
                match pos {
                    Some(p) => self.b.insert_rule(t, c, p, rule, text),
                    None => self.b.push_rule(t, c, rule, text),
                }
                Ok(())
            }
            other => Err(format!(
                "'{other}' is not read back (only setup artifacts are: -A, -I, -N, -P)"
            )),
        }
    }

    /// `:CHAIN POLICY` (`-` for a user chain).
    fn declare(
        &mut self,
        t: TableIdx,
        table: &str,
        chain: &str,
        policy: &str,
    ) -> Result<(), String> {
        match builtin(table, chain) {
            Some(_) => {
                let id = self.chain(t, table, chain)?;
                let p = match policy {
                    "ACCEPT" => Policy::Accept,
                    "DROP" => Policy::Drop,
                    other => return Err(format!("unknown policy '{other}' of {chain}")),
                };
                if let ChainKind::Base { policy, .. } = self.b.chain_kind_mut(t, id) {
                    *policy = p;
                }
            }
            None if policy == "-" => {
                self.b
                    .declare_chain(t, chain, ChainKind::Regular, Ownership::Owned)?;
            }
            None => return Err(format!("user chain {chain} cannot have policy {policy}")),
        }
        Ok(())
    }

    /// A chain rules are added to: a built-in chain is declared on first use.
    fn chain(&mut self, t: TableIdx, table: &str, chain: &str) -> Result<ChainId, String> {
        self.b.builtin_or_chain(t, chain, builtin(table, chain))
    }

    fn rule(&mut self, t: TableIdx, args: &[&str], prov: Provenance) -> Result<Rule, String> {
        let mut rule = Rule::new(prov, Vec::new(), None);
        let mut it = args.iter().copied().peekable();
        let mut negate = false;
        let mut proto: Option<L4Proto> = None;
        let ip = self.ip;
        while let Some(opt) = it.next() {
            let mut arg = |what: &str| {
                it.next()
                    .map(unquote)
                    .ok_or_else(|| format!("{opt} needs {what}"))
            };
            let op = if std::mem::take(&mut negate) {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            };
            let mut push = |field, value| rule.matches.push(Match { field, op, value });
            match opt {
                "!" => negate = true,
                "-i" | "--in-interface" => push(Field::IifName, ifname(&arg("an interface")?)?),
                "-o" | "--out-interface" => push(Field::OifName, ifname(&arg("an interface")?)?),
                "-s" | "--source" | "--src" => push(
                    Field::Saddr(ip),
                    Value::Prefix(values::prefix_of(ip, &arg("an address")?)?),
                ),
                "-d" | "--destination" | "--dst" => push(
                    Field::Daddr(ip),
                    Value::Prefix(values::prefix_of(ip, &arg("an address")?)?),
                ),
                "-p" | "--protocol" => {
                    let p = values::proto(&arg("a protocol")?)?;
                    if op == CmpOp::Eq {
                        proto = Some(p);
                    }
                    push(Field::L4Proto, Value::Proto(p));
                }
                "--sport" | "--source-port" | "--dport" | "--destination-port" => {
                    let p = proto
                        .filter(|p| p.has_ports())
                        .ok_or_else(|| format!("{opt} needs a protocol with ports before it"))?;
                    let range = values::ports(&arg("a port")?)?;
                    let field = if opt.contains("source") || opt == "--sport" {
                        Field::Sport(p)
                    } else {
                        Field::Dport(p)
                    };
                    push(field, Value::Ports(range));
                }
                "-m" | "--match" => {
                    let m = arg("a match name")?;
                    if !matches!(
                        m.as_str(),
                        "conntrack"
                            | "state"
                            | "mac"
                            | "comment"
                            | "tcp"
                            | "udp"
                            | "sctp"
                            | "udplite"
                            | "icmp"
                            | "icmp6"
                    ) {
                        return Err(format!("match '{m}' is not read back"));
                    }
                }
                "--ctstate" | "--state" => {
                    let mut states = CtStates::default();
                    for s in arg("states")?.split(',') {
                        super::nft_text::ct_state(&mut states, s)?;
                    }
                    push(Field::CtState, Value::CtStates(states));
                }
                "--mac-source" => {
                    let mac: MacAddr = arg("a MAC address")?
                        .parse()
                        .map_err(|e: ir::ValueError| e.to_string())?;
                    push(Field::EtherSaddr, Value::Mac(mac));
                }
                "--comment" => {
                    let c = arg("a comment")?;
                    rule.comment = Some(ir::Comment::new(&c).map_err(|e| e.to_string())?);
                }
                "-j" | "--jump" => {
                    let target = arg("a target")?;
                    let rest: Vec<&str> = it.by_ref().collect();
                    self.target(t, &target, &rest, &mut rule)?;
                }
                "-g" | "--goto" => {
                    let c = self.b.chain(t, &arg("a chain")?)?;
                    rule.verdict = Some(Verdict::Goto(c));
                }
                other => return Err(format!("option '{other}' is not read back")),
            }
        }
        Ok(rule)
    }

    /// `--jump TARGET [options]`: the rule's statement or verdict.
    fn target(
        &mut self,
        t: TableIdx,
        target: &str,
        opts: &[&str],
        rule: &mut Rule,
    ) -> Result<(), String> {
        let opt = |name: &str| -> Option<String> {
            opts.iter()
                .position(|o| *o == name)
                .and_then(|i| opts.get(i + 1))
                .map(|v| unquote(v))
        };
        let known: &[&str] = match target {
            "REJECT" => &["--reject-with"],
            "MASQUERADE" => &["--to-ports"],
            "SNAT" => &["--to-source"],
            "DNAT" => &["--to-destination"],
            "LOG" => &["--log-prefix"],
            "CHECKSUM" => &["--checksum-fill"],
            _ => &[],
        };
        let mut i = 0;
        while i < opts.len() {
            if !known.contains(&opts[i]) {
                return Err(format!("option '{}' of {target} is not read back", opts[i]));
            }
            i += if opts[i] == "--checksum-fill" { 1 } else { 2 };
        }
        match target {
            "ACCEPT" => rule.verdict = Some(Verdict::Accept),
            "DROP" => rule.verdict = Some(Verdict::Drop),
            "RETURN" => rule.verdict = Some(Verdict::Return),
            "REJECT" => {
                let kind = match opt("--reject-with").as_deref() {
                    None => RejectKind::Default,
                    Some("tcp-reset") => RejectKind::TcpReset,
                    Some("icmp-port-unreachable" | "icmp6-port-unreachable") => {
                        RejectKind::PortUnreachable
                    }
                    Some("icmp-admin-prohibited" | "icmp6-adm-prohibited") => {
                        RejectKind::AdminProhibited
                    }
                    Some(other) => return Err(format!("reject-with '{other}' is not in fwc's IR")),
                };
                rule.verdict = Some(Verdict::Reject(kind));
            }
            "MASQUERADE" => {
                let ports = opt("--to-ports").map(|p| values::ports(&p)).transpose()?;
                rule.statements
                    .push(Statement::Nat(Nat::Masquerade { ports }));
            }
            "SNAT" | "DNAT" => {
                let key = if target == "SNAT" {
                    "--to-source"
                } else {
                    "--to-destination"
                };
                let text = opt(key).ok_or_else(|| format!("{target} needs {key}"))?;
                let (addr, ports) = values::nat_target(&text)?;
                rule.statements.push(Statement::Nat(if target == "SNAT" {
                    Nat::Snat { addr, ports }
                } else {
                    Nat::Dnat { addr, ports }
                }));
            }
            "LOG" => {
                let prefix = opt("--log-prefix").unwrap_or_default();
                let prefix = ir::Comment::new(&prefix).map_err(|e| e.to_string())?;
                rule.statements.push(Statement::Log { prefix });
            }
            "CHECKSUM" => rule.statements.push(Statement::ChecksumFill),
            chain => {
                if !opts.is_empty() {
                    return Err(format!("a jump to {chain} takes no options"));
                }
                let c = self.b.chain(t, chain)?;
                rule.verdict = Some(Verdict::Jump(c));
            }
        }
        Ok(())
    }
}

pub(crate) fn ifname(text: &str) -> Result<Value, String> {
    if text.ends_with('+') {
        return Err(format!(
            "interface pattern '{text}' is not in fwc's IR (names only)"
        ));
    }
    Ifname::new(text)
        .map(Value::Ifname)
        .map_err(|e| e.to_string())
}
