//! What the ebtables and iptables emitters share: a rule's arguments, the
//! tables of chains their models are made of, and the step into
//! [`crate::appended`] for tables built by appends.

use std::collections::BTreeSet;

use ir::{ChainId, ChainKind, Commands, MapRef, Notation, Step, Value, Verdict};

use crate::{appended, Error};

/// One argument of an ebtables or iptables rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    /// An option or a value that never needs quoting in a restore file.
    Word(String),
    /// Free text (a comment or log prefix, validated as [`ir::Comment`]):
    /// double-quoted in restore files, shell-quoted in command lines.
    Text(String),
}

impl Arg {
    /// A [`Arg::Word`].
    pub(crate) fn word(s: impl Into<String>) -> Arg {
        Arg::Word(s.into())
    }

    /// The argument in an `iptables-restore` or `ebtables-restore` file.
    pub(crate) fn restore(&self) -> String {
        match self {
            Arg::Word(w) => w.clone(),
            Arg::Text(t) => crate::quote::restore_string(t),
        }
    }

    /// The argument as one argv element.
    pub(crate) fn argv(&self) -> &str {
        match self {
            Arg::Word(w) | Arg::Text(w) => w,
        }
    }
}

/// A number or range as ebtables and iptables write it: `a`, or `a:b` for a
/// range (also one whose ends are equal when it was written as a range);
/// `None` for any other value.
pub(crate) fn colon_range(v: &Value) -> Option<String> {
    let (start, end, range) = match v {
        Value::Ports(p) => (u64::from(p.start), u64::from(p.end), false),
        Value::Int(r) => (r.start, r.end, r.notation == Notation::Range),
        _ => return None,
    };
    Some(if start == end && !range {
        start.to_string()
    } else {
        format!("{start}:{end}")
    })
}

/// A chain of a [`Table`], holding rules `R`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Chain<R> {
    /// The chain's name.
    pub name: String,
    /// A user chain fwc creates and deletes, or a chain that exists already
    /// (a built-in chain).
    pub owned: bool,
    /// For an ebtables user chain: `RETURN`, `DROP` or `ACCEPT` (ebtables'
    /// default). iptables user chains have none.
    pub policy: Option<&'static str>,
    /// The name command lines build it under.
    pub staging: Option<String>,
    /// In evaluation order.
    pub rules: Vec<R>,
}

/// One of the tool's built-in tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table<R> {
    /// `filter`, `nat`, ...
    pub name: &'static str,
    /// In creation order.
    pub chains: Vec<Chain<R>>,
    /// For a table built by appends ([`ir::Commands::Append`]), the chain
    /// creations of its sequence.
    pub steps: Option<Vec<(u32, String)>>,
}

/// Everything one emit installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Model<R> {
    /// In order of first use.
    pub tables: Vec<Table<R>>,
}

impl<R> Default for Model<R> {
    fn default() -> Self {
        Model { tables: Vec::new() }
    }
}

impl<R> Model<R> {
    /// The table `name`, added if new.
    pub(crate) fn table(&mut self, name: &'static str) -> &mut Table<R> {
        let pos = match self.tables.iter().position(|t| t.name == name) {
            Some(p) => p,
            None => {
                self.tables.push(Table {
                    name,
                    chains: Vec::new(),
                    steps: None,
                });
                self.tables.len() - 1
            }
        };
        &mut self.tables[pos]
    }

    /// The chain `name` of table `table`, declared if new. A user chain that
    /// two IR tables both declare cannot be told apart by `target`.
    pub(crate) fn chain(
        &mut self,
        target: &'static str,
        table: &'static str,
        name: &str,
        owned: bool,
        policy: Option<&'static str>,
    ) -> Result<&mut Chain<R>, Error> {
        let t = self.table(table);
        match t.chains.iter().position(|c| c.name == name) {
            Some(p) if owned || t.chains[p].owned => Err(Error::Unsupported {
                target,
                reason: format!(
                    "chain {name} of {target} table {table} would be declared twice (two IR \
                     tables use the name)"
                ),
            }),
            Some(p) => Ok(&mut t.chains[p]),
            None => {
                t.chains.push(Chain {
                    name: name.to_owned(),
                    owned,
                    policy,
                    staging: None,
                    rules: Vec::new(),
                });
                Ok(t.chains.last_mut().expect("just pushed"))
            }
        }
    }
}

/// The chain creations of an IR table built by appends, by name.
pub(crate) fn chain_creations(t: &ir::Table) -> Option<Vec<(u32, String)>> {
    let Commands::Append { steps, .. } = &t.commands else {
        return None;
    };
    let creates = steps
        .iter()
        .filter_map(|(seq, step)| match step {
            Step::CreateChain(c) => Some((*seq, t.chain(*c).name.to_string())),
            Step::ReplaceElement { .. } => None,
        })
        .collect();
    Some(creates)
}

/// What [`appended_table`] reads of one model rule.
pub(crate) struct RuleView<'r> {
    /// Everything after `-A CHAIN`.
    pub args: &'r [Arg],
    /// `args` with staging names.
    pub staged: &'r [Arg],
    /// The rule's sequence number.
    pub seq: Option<u32>,
    /// The chain it enters, by name.
    pub enters: Option<&'r str>,
    /// Whether it comes from an input.
    pub input: bool,
}

/// A table built by appends, for [`appended`], behind the words `prefix`;
/// `view` reads a rule.
pub(crate) fn appended_table<R>(
    t: &Table<R>,
    prefix: Vec<String>,
    view: impl Fn(&R) -> RuleView<'_>,
) -> appended::Table {
    let index = |name: &str| t.chains.iter().position(|c| c.name == name);
    let words = |args: &[Arg]| args.iter().map(|a| a.argv().to_owned()).collect();
    appended::Table {
        prefix,
        chains: t
            .chains
            .iter()
            .map(|c| appended::Chain {
                name: c.name.clone(),
                staging: c.staging.clone(),
                owned: c.owned,
                // `-N` gives a chain ACCEPT.
                policy: c.policy.filter(|p| *p != "ACCEPT").map(str::to_owned),
                rules: c
                    .rules
                    .iter()
                    .map(|r| {
                        let r = view(r);
                        appended::Rule {
                            args: words(r.args),
                            staged: words(r.staged),
                            seq: r.seq,
                            enters: r.enters.and_then(index),
                            input: r.input,
                        }
                    })
                    .collect(),
            })
            .collect(),
        steps: t
            .steps
            .iter()
            .flatten()
            .filter_map(|(seq, name)| Some((*seq, index(name)?)))
            .collect(),
    }
}

/// Where an IR chain lives in ebtables or iptables.
pub(crate) struct Placement {
    /// Its table(s): a regular chain of an nft-style table exists in every
    /// table whose base chains reach it.
    pub tables: Vec<&'static str>,
    /// For a base chain fwc owns: the built-in chain that jumps to it.
    pub builtin: Option<&'static str>,
}

/// Puts each regular chain of `t` in every table whose base chains reach
/// it, and one that nothing reaches in `filter`, so nothing vanishes.
pub(crate) fn spread(t: &ir::Table, places: &mut [Placement]) {
    for (i, c) in t.chains.iter().enumerate() {
        if let ChainKind::Base { .. } = c.kind {
            let table = places[i].tables[0];
            for reached in reachable(t, ChainId(i)) {
                let p = &mut places[reached.0];
                if p.builtin.is_none() && !p.tables.contains(&table) {
                    p.tables.push(table);
                }
            }
        }
    }
    for p in places {
        if p.tables.is_empty() {
            p.tables.push("filter");
        }
    }
}

/// Every chain reachable from `start` by jumps, gotos and verdict maps
/// (itself excluded unless on a path).
fn reachable(t: &ir::Table, start: ChainId) -> BTreeSet<ChainId> {
    fn targets(t: &ir::Table, v: &Verdict, out: &mut Vec<ChainId>) {
        match v {
            Verdict::Jump(c) | Verdict::Goto(c) => out.push(*c),
            Verdict::Vmap { map, .. } => {
                let elems = match map {
                    MapRef::Anonymous(e) => e,
                    MapRef::Named(id) => &t.maps[id.0].elements,
                };
                elems.iter().for_each(|(_, v)| targets(t, v, out));
            }
            _ => {}
        }
    }
    let mut seen = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(c) = todo.pop() {
        for r in &t.chain(c).rules {
            if let Some(v) = &r.verdict {
                let mut next = Vec::new();
                targets(t, v, &mut next);
                todo.extend(next.into_iter().filter(|n| seen.insert(*n)));
            }
        }
    }
    seen
}
