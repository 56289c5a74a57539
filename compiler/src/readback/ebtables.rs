//! `ebtables-restore` input back into IR, as `bridge` family tables.
//!
//! Built-in chains become base chains at the priorities nft gives
//! ebtables' tables (`filter` -200; `nat` -300 before bridging, 100 for
//! local output, 300 after; `broute` before all of them). A user chain's
//! policy (`ACCEPT`/`DROP`) becomes a last rule with that verdict; `RETURN`
//! is what a regular chain does anyway. `-p` is an ether-type match.

use ir::{
    ChainId, ChainKind, ChainType, CmpOp, Family, Field, Hook, IntRange, IpFamily, L4Proto,
    MacAddr, Match, Ownership, Policy, Provenance, Rule, Value, Verdict,
};

use super::build::{Builder, TableIdx};
use super::xtables::{ifname, unquote, words};
use super::{lines, provenance, values, ReadError, Readback};

const WHAT: &str = "ebtables-restore input";

/// Reads ebtables-restore input.
pub fn read(text: &str) -> Result<Readback, ReadError> {
    let mut st = State {
        b: Builder::default(),
        table: None,
        policies: Vec::new(),
    };
    lines::each_statement(WHAT, text, |line, pending| st.line(line, pending))?;
    st.end_table();
    st.b.finish().map_err(|m| ReadError::new(WHAT, 0, m))
}

struct State {
    b: Builder,
    table: Option<(TableIdx, &'static str)>,
    /// User chains whose policy becomes a last rule when the table ends.
    policies: Vec<(TableIdx, ChainId, Verdict)>,
}

/// The hook and priority of a built-in chain of `table`.
fn builtin(table: &str, chain: &str) -> Option<(Hook, i32)> {
    Some(match (table, chain) {
        ("filter", "INPUT") => (Hook::Input, -200),
        ("filter", "FORWARD") => (Hook::Forward, -200),
        ("filter", "OUTPUT") => (Hook::Output, -200),
        ("nat", "PREROUTING") => (Hook::Prerouting, -300),
        ("nat", "OUTPUT") => (Hook::Output, 100),
        ("nat", "POSTROUTING") => (Hook::Postrouting, 300),
        // ebtables' broute chain decides before any other bridge chain.
        ("broute", "BROUTING") => (Hook::Prerouting, -400),
        _ => return None,
    })
}

const POLICY: Provenance = Provenance::Layout("the user chain's policy");

impl State {
    fn end_table(&mut self) {
        for (t, c, v) in std::mem::take(&mut self.policies) {
            let target = if v == Verdict::Drop { "DROP" } else { "ACCEPT" };
            let text = format!("-j {target} (the chain's policy)");
            self.b
                .push_rule(t, c, Rule::new(POLICY, Vec::new(), Some(v)), text);
        }
        self.table = None;
    }

    /// A statement line; `pending` is the provenance comment above it.
    fn line(&mut self, line: &str, pending: Option<Provenance>) -> Result<(), String> {
        if let Some(name) = line.strip_prefix('*') {
            self.end_table();
            let name = ["filter", "nat", "broute"]
                .into_iter()
                .find(|t| *t == name)
                .ok_or_else(|| format!("ebtables table '{name}' is not read back"))?;
            let t = self.b.table(Family::Bridge, name, Ownership::External)?;
            self.table = Some((t, name));
            return Ok(());
        }
        let Some((t, table)) = self.table else {
            return Err(format!("expected '*TABLE', found '{line}'"));
        };
        if line == "COMMIT" {
            self.end_table();
            return Ok(());
        }
        if let Some(decl) = line.strip_prefix(':') {
            let w = words(decl)?;
            let [chain, policy, ..] = w[..] else {
                return Err(format!("cannot read the chain declaration '{line}'"));
            };
            return self.declare(t, table, chain, policy);
        }
        let w = words(line)?;
        let [op, chain, ref args @ ..] = w[..] else {
            return Err(format!("cannot read '{line}'"));
        };
        let c = self.chain(t, table, chain)?;
        let rule = self.rule(t, args, pending.unwrap_or(provenance::UNKNOWN))?;
        let text = args.join(" ");
        match op {
            "-A" | "--append" => self.b.push_rule(t, c, rule, text),
            "-I" | "--insert" => self.b.insert_rule(t, c, 0, rule, text),
            other => return Err(format!("'{other}' is not read back")),
        }
        Ok(())
    }

    fn declare(
        &mut self,
        t: TableIdx,
        table: &str,
        chain: &str,
        policy: &str,
    ) -> Result<(), String> {
        let verdict = match policy {
            "ACCEPT" => Some(Verdict::Accept),
            "DROP" => Some(Verdict::Drop),
            "RETURN" => None,
            other => return Err(format!("unknown policy '{other}' of {chain}")),
        };
        let id = self.chain(t, table, chain)?;
        if builtin(table, chain).is_some() {
            let p = match verdict {
                Some(Verdict::Drop) => Policy::Drop,
                Some(_) => Policy::Accept,
                None => return Err(format!("built-in chain {chain} cannot have policy RETURN")),
            };
            if let ChainKind::Base { policy, .. } = self.b.chain_kind_mut(t, id) {
                *policy = p;
            }
            return Ok(());
        }
        self.b
            .declare_chain(t, chain, ChainKind::Regular, Ownership::Owned)?;
        if let Some(v) = verdict {
            self.policies.push((t, id, v));
        }
        Ok(())
    }

    fn chain(&mut self, t: TableIdx, table: &str, chain: &str) -> Result<ChainId, String> {
        let base = builtin(table, chain).map(|(hook, prio)| (hook, ChainType::Filter, prio));
        self.b.builtin_or_chain(t, chain, base)
    }

    fn rule(&mut self, t: TableIdx, args: &[&str], prov: Provenance) -> Result<Rule, String> {
        let mut rule = Rule::new(prov, Vec::new(), None);
        let mut ethertype: Option<IpFamily> = None;
        let mut proto: Option<L4Proto> = None;
        let mut i = 0;
        let mut negate = false;
        // The log watcher runs before the rule's target.
        let mut log: Option<String> = None;
        while i < args.len() {
            let opt = args[i];
            i += 1;
            if opt == "!" {
                negate = true;
                continue;
            }
            // Old ebtables puts the '!' after the option.
            if args.get(i) == Some(&"!") {
                negate = true;
                i += 1;
            }
            let mut arg = || -> Result<String, String> {
                let a = args.get(i).ok_or_else(|| format!("{opt} needs a value"))?;
                i += 1;
                Ok(unquote(a))
            };
            let op = if std::mem::take(&mut negate) {
                CmpOp::Ne
            } else {
                CmpOp::Eq
            };
            let field_value = match opt {
                "-i" | "--in-interface" | "--in-if" => Some((Field::IifName, ifname(&arg()?)?)),
                "-o" | "--out-interface" | "--out-if" => Some((Field::OifName, ifname(&arg()?)?)),
                "-s" | "--source" | "--src" => Some((Field::EtherSaddr, mac(&arg()?)?)),
                "-d" | "--destination" | "--dst" => Some((Field::EtherDaddr, mac(&arg()?)?)),
                "-p" | "--protocol" => {
                    let t = ether_type(&arg()?)?;
                    if op == CmpOp::Eq {
                        ethertype = match t {
                            0x0800 => Some(IpFamily::V4),
                            0x86dd => Some(IpFamily::V6),
                            _ => None,
                        };
                    }
                    Some((Field::EtherType, Value::Int(IntRange::single(t.into()))))
                }
                "--ip-src" | "--ip-source" | "--ip6-src" | "--ip6-source" => {
                    let f = family_of(opt, ethertype)?;
                    Some((
                        Field::Saddr(f),
                        Value::Prefix(values::prefix_of(f, &arg()?)?),
                    ))
                }
                "--ip-dst" | "--ip-destination" | "--ip6-dst" | "--ip6-destination" => {
                    let f = family_of(opt, ethertype)?;
                    Some((
                        Field::Daddr(f),
                        Value::Prefix(values::prefix_of(f, &arg()?)?),
                    ))
                }
                "--ip-proto" | "--ip-protocol" | "--ip6-proto" | "--ip6-protocol" => {
                    family_of(opt, ethertype)?;
                    let p = values::proto(&arg()?)?;
                    if op == CmpOp::Eq {
                        proto = Some(p);
                    }
                    Some((Field::L4Proto, Value::Proto(p)))
                }
                "--ip-sport"
                | "--ip-source-port"
                | "--ip6-sport"
                | "--ip6-source-port"
                | "--ip-dport"
                | "--ip-destination-port"
                | "--ip6-dport"
                | "--ip6-destination-port" => {
                    family_of(opt, ethertype)?;
                    let p = proto
                        .filter(|p| p.has_ports())
                        .ok_or_else(|| format!("{opt} needs a protocol with ports before it"))?;
                    let range = Value::Ports(values::ports(&arg()?)?);
                    let source = opt.contains("sport") || opt.contains("source-port");
                    Some((
                        if source {
                            Field::Sport(p)
                        } else {
                            Field::Dport(p)
                        },
                        range,
                    ))
                }
                "--log" => {
                    log = Some(log.unwrap_or_default());
                    None
                }
                "--log-level" => {
                    arg()?;
                    log = Some(log.unwrap_or_default());
                    None
                }
                "--log-prefix" => {
                    log = Some(arg()?);
                    None
                }
                "-c" | "--set-counters" => {
                    arg()?;
                    arg()?;
                    None
                }
                "-j" | "--jump" => {
                    let target = arg()?;
                    rule.verdict = match target.as_str() {
                        "ACCEPT" => Some(Verdict::Accept),
                        "DROP" => Some(Verdict::Drop),
                        "RETURN" => Some(Verdict::Return),
                        "CONTINUE" => None,
                        chain => Some(Verdict::Jump(self.b.chain(t, chain)?)),
                    };
                    None
                }
                other => return Err(format!("option '{other}' is not read back")),
            };
            if let Some((field, value)) = field_value {
                rule.matches.push(Match { field, op, value });
            }
        }
        if let Some(prefix) = log {
            let prefix = ir::Comment::new(&prefix).map_err(|e| e.to_string())?;
            rule.statements.push(ir::Statement::Log { prefix });
        }
        Ok(rule)
    }
}

/// An ether type by ebtables' name for it or in hexadecimal (as ebtables
/// reads numbers, with or without `0x`).
fn ether_type(text: &str) -> Result<u16, String> {
    let lower = text.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "ipv4" => 0x0800,
        "ipv6" => 0x86dd,
        "arp" => 0x0806,
        "rarp" => 0x8035,
        "802_1q" => 0x8100,
        hex => u16::from_str_radix(hex.trim_start_matches("0x"), 16)
            .map_err(|_| format!("'{text}' is not an ether type"))?,
    })
}

/// The family an `--ip-*`/`--ip6-*` option needs; ebtables demands the
/// matching `-p` before it.
fn family_of(opt: &str, ethertype: Option<IpFamily>) -> Result<IpFamily, String> {
    let f = if opt.starts_with("--ip6") {
        IpFamily::V6
    } else {
        IpFamily::V4
    };
    if ethertype != Some(f) {
        let p = if f == IpFamily::V4 { "IPv4" } else { "IPv6" };
        return Err(format!("{opt} needs '-p {p}' before it"));
    }
    Ok(f)
}

fn mac(text: &str) -> Result<Value, String> {
    let (addr, mask) = match text.split_once('/') {
        Some((a, m)) => (a, Some(m)),
        None => (text, None),
    };
    let mac = |s: &str| s.parse::<MacAddr>().map_err(|e| e.to_string());
    match mask {
        None => Ok(Value::Mac(mac(addr)?)),
        Some(m) if m.eq_ignore_ascii_case("ff:ff:ff:ff:ff:ff") => Ok(Value::Mac(mac(addr)?)),
        Some(m) => Ok(Value::MacMasked {
            addr: mac(addr)?,
            mask: mac(m)?,
        }),
    }
}
