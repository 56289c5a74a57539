//! The analysis: which of the live ruleset is fwc's and which foreign, the
//! ruleset the kernel would run with fwc's compiled rules in place of its
//! live ones, and what that ruleset does to every flow.
//!
//! Only `ip`, `ip6` and `inet` tables are evaluated: `bridge` and `netdev`
//! chains sit on other hooks (bridged frames, ingress) than the routed
//! packets of the flows, and `arp` tables see no IP at all.

use std::collections::{BTreeMap, BTreeSet};

use ir::eval::{evaluate, DecidedBy, Decision, Packet};
use ir::{ChainId, ChainKind, Family, Hook, Ownership, Provenance, Ruleset, Table};

use super::compiled::Compiled;
use super::drift;
use super::finding::{Blocked, Cause, Diagnosis, Drift, Manager};
use super::flows::{self, Host};
use super::live::{key, Live};
use crate::readback::render;

/// Everything the analysis found, with remarks for the report's footer.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// The findings.
    pub diagnosis: Diagnosis,
    /// What the report should add: what was not evaluated, what could not
    /// be read, whether drift was checked.
    pub notes: Vec<String>,
}

/// Whether tables of `family` see the flows' packets.
pub fn evaluated(family: Family) -> bool {
    matches!(family, Family::Ip | Family::Ip6 | Family::Inet)
}

/// The analysis of `live` against `compiled`. `expected` is fwc's setup as
/// the kernel lists it (see [`super::live::expected`]); without it, fwc's
/// rules are recognised in shared chains by their compiled text and drift
/// is not checked (`why_no_expected` says why, for the report).
pub fn analyse(
    compiled: &Compiled,
    live: &Live,
    expected: Result<&Live, &str>,
    host: &Host,
) -> Analysis {
    let fallback;
    let (exp, mut notes) = match expected {
        Ok(e) => (e, Vec::new()),
        Err(why) => {
            fallback = Live::from_readback(compiled.readback.clone());
            (
                &fallback,
                vec![format!(
                    "drift not checked: fwc's setup could not be loaded into a throwaway namespace to see its live form ({why})"
                )],
            )
        }
    };
    let part = Partition::new(compiled, live, exp);
    let eval = EvalSet::new(compiled, live, &part);
    let fwc_only = FwcOnly::new(compiled);
    let flows = flows::flows(&compiled.networks, host);
    let mut d = Diagnosis {
        flows,
        ..Diagnosis::default()
    };
    for (fi, flow) in d.flows.iter().enumerate() {
        for (hook, packet) in &flow.steps {
            let found = eval.judge(*hook, packet, live, compiled);
            for b in found.blocked {
                d.blocked.push(Blocked {
                    flow: fi,
                    fwc_rule: fwc_only.accepting_rule(*hook, packet, compiled),
                    ..b
                });
            }
            for (object, what) in found.fwc_drops {
                d.drift.push(Drift {
                    object,
                    problem: format!(
                        "fwc's own rules {what} {} at the {} hook, which the inputs must allow",
                        flow.description,
                        hook.keyword()
                    ),
                });
            }
        }
    }
    if expected.is_ok() {
        d.drift.extend(drift::drift(compiled, live, exp));
    }
    d.unjudged = part.unjudged(live);
    notes.extend(part.notes(live));
    Analysis {
        diagnosis: d,
        notes,
    }
}

/// Which objects of the live ruleset are fwc's.
struct Partition {
    /// fwc's own tables: (family, table).
    tables: BTreeSet<(String, String)>,
    /// fwc's own chains in tables it shares: (family, table, chain).
    chains: BTreeSet<(String, String, String)>,
    /// fwc's rules in chains it shares: index into the live listing → the
    /// rule's index in its chain of the compiled readback.
    rules: BTreeMap<usize, usize>,
}

/// The live rules of a shared chain that are fwc's, as (index into the
/// live listing, index of the expected rule in its chain), and the texts of
/// fwc's rules not found there: each expected rule takes the first live
/// rule with its [`key`] not taken yet. The expected listing holds the
/// compiled chain's rules in their order, so the second index is also the
/// compiled rule's.
pub fn match_shared(
    live: &Live,
    expected: &Live,
    family: Family,
    table: &str,
    chain: &str,
) -> (Vec<(usize, usize)>, Vec<String>) {
    let live_rules = live.chain_rules(family, table, chain);
    let mut taken = vec![false; live_rules.len()];
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for (j, (_, want)) in expected
        .chain_rules(family, table, chain)
        .into_iter()
        .enumerate()
    {
        let k = key(&want.text);
        match (0..live_rules.len()).find(|&i| !taken[i] && key(&live_rules[i].1.text) == k) {
            Some(i) => {
                taken[i] = true;
                found.push((live_rules[i].0, j));
            }
            None => missing.push(want.text.clone()),
        }
    }
    (found, missing)
}

impl Partition {
    fn new(compiled: &Compiled, live: &Live, expected: &Live) -> Partition {
        let mut p = Partition {
            tables: BTreeSet::new(),
            chains: BTreeSet::new(),
            rules: BTreeMap::new(),
        };
        for t in &compiled.readback.ruleset.tables {
            let (fam, name) = (t.family.keyword().to_owned(), t.name.to_string());
            if t.ownership == Ownership::Owned {
                p.tables.insert((fam, name));
                continue;
            }
            for c in &t.chains {
                if c.ownership == Ownership::Owned {
                    p.chains
                        .insert((fam.clone(), name.clone(), c.name.to_string()));
                } else {
                    let (found, _) = match_shared(live, expected, t.family, &name, c.name.as_str());
                    p.rules.extend(found);
                }
            }
        }
        p
    }

    /// Whether a rule of the live listing is fwc's.
    fn is_fwc(&self, live: &Live, listed: usize) -> bool {
        let r = &live.listing.rules[listed];
        self.tables.contains(&(r.family.clone(), r.table.clone()))
            || self
                .chains
                .contains(&(r.family.clone(), r.table.clone(), r.chain.clone()))
            || self.rules.contains_key(&listed)
    }

    /// The foreign rules of evaluated tables that could not be read.
    fn unjudged(&self, live: &Live) -> Vec<String> {
        let evaluated = ["ip", "ip6", "inet"];
        live.listing
            .rules
            .iter()
            .enumerate()
            .filter(|(i, r)| {
                r.unread.is_some()
                    && evaluated.contains(&r.family.as_str())
                    && !self.is_fwc(live, *i)
            })
            .map(|(i, r)| {
                format!(
                    "{} {} {}: rule {}{}: {}",
                    r.family,
                    r.table,
                    r.chain,
                    live.position_of(i) + 1,
                    handle_text(r.handle),
                    r.text
                )
            })
            .collect()
    }

    /// Footer remarks: tables on other hooks, objects that could not be read.
    fn notes(&self, live: &Live) -> Vec<String> {
        let mut out = Vec::new();
        let other: Vec<String> = live
            .ruleset()
            .tables
            .iter()
            .filter(|t| !evaluated(t.family))
            .map(|t| format!("{} {}", t.family, t.name))
            .collect();
        if !other.is_empty() {
            out.push(format!(
                "not evaluated (bridge and netdev chains sit on other hooks than routed packets): {}",
                other.join(", ")
            ));
        }
        for s in &live.listing.skipped {
            let family = s.split(' ').next().unwrap_or("");
            if ["ip", "ip6", "inet"].contains(&family) {
                out.push(format!("could not be read, left out: {s}"));
            }
        }
        out
    }
}

/// ` (handle N)`, or nothing when the listing gave none.
pub fn handle_text(handle: Option<u64>) -> String {
    handle.map(|h| format!(" (handle {h})")).unwrap_or_default()
}

/// Where a rule of the evaluation ruleset comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// A foreign rule: its place in the live readback.
    Foreign(usize, ChainId, usize),
    /// One of fwc's: its place in the compiled readback.
    Fwc(usize, ChainId, usize),
}

/// The ruleset the kernel would run: the live foreign rules with fwc's
/// compiled rules where its setup puts them.
struct EvalSet {
    rs: Ruleset,
    /// `origins[table][chain][rule]`.
    origins: Vec<Vec<Vec<Origin>>>,
    /// The live table each table is (`None`: one of fwc's own).
    live_table: Vec<Option<usize>>,
    /// fwc's chains within foreign tables: (table, chain).
    fwc_chains: BTreeSet<(usize, usize)>,
    /// Shared chains holding fwc's rules live: the chain's rules in live
    /// order, foreign ones and fwc's (by compiled index), so that fwc's
    /// compiled rules take their live places.
    slots: BTreeMap<(usize, usize), Vec<Slot>>,
}

/// A place in a shared chain as listed live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The next foreign rule kept.
    Foreign,
    /// fwc's rule at this index of the compiled chain.
    Fwc(usize),
}

/// What one step of a flow met.
#[derive(Default)]
struct Judgement {
    /// Foreign chains that drop or reject it (flow index and fwc rule
    /// unset).
    blocked: Vec<Blocked>,
    /// fwc's chains that do: (`family table chain`, "drop"/"reject").
    fwc_drops: Vec<(String, String)>,
}

impl EvalSet {
    fn new(compiled: &Compiled, live: &Live, part: &Partition) -> EvalSet {
        let mut e = EvalSet {
            rs: Ruleset::default(),
            origins: Vec::new(),
            live_table: Vec::new(),
            fwc_chains: BTreeSet::new(),
            slots: BTreeMap::new(),
        };
        for (lti, lt) in live.ruleset().tables.iter().enumerate() {
            let fam = lt.family.keyword().to_owned();
            if !evaluated(lt.family) || part.tables.contains(&(fam.clone(), lt.name.to_string())) {
                continue;
            }
            let mut t = lt.clone();
            let mut origins = Vec::new();
            let ti = e.rs.tables.len();
            for (ci, c) in t.chains.iter_mut().enumerate() {
                let id = ChainId(ci);
                let fwc_chain =
                    part.chains
                        .contains(&(fam.clone(), lt.name.to_string(), c.name.to_string()));
                if fwc_chain {
                    e.fwc_chains.insert((ti, ci));
                }
                let mut kept = Vec::new();
                let mut o = Vec::new();
                for (ri, r) in std::mem::take(&mut c.rules).into_iter().enumerate() {
                    let theirs = live
                        .listed_index(lti, id, ri)
                        .is_some_and(|i| part.rules.contains_key(&i));
                    if !fwc_chain && !theirs {
                        kept.push(r);
                        o.push(Origin::Foreign(lti, id, ri));
                    }
                }
                c.rules = kept;
                origins.push(o);
                if !fwc_chain {
                    let mut slots = Vec::new();
                    for (i, listed) in
                        live.chain_rules(lt.family, lt.name.as_str(), c.name.as_str())
                    {
                        match part.rules.get(&i) {
                            Some(j) => slots.push(Slot::Fwc(*j)),
                            None if listed.unread.is_none() => slots.push(Slot::Foreign),
                            None => {}
                        }
                    }
                    if slots.contains(&Slot::Foreign) && slots.iter().any(|s| *s != Slot::Foreign) {
                        e.slots.insert((ti, ci), slots);
                    }
                }
            }
            e.rs.tables.push(t);
            e.origins.push(origins);
            e.live_table.push(Some(lti));
        }
        for (cti, ct) in compiled.readback.ruleset.tables.iter().enumerate() {
            if !evaluated(ct.family) {
                continue;
            }
            let shared = (ct.ownership == Ownership::External)
                .then(|| {
                    e.rs.tables
                        .iter()
                        .position(|t| t.family == ct.family && t.name == ct.name)
                })
                .flatten();
            match shared {
                Some(ti) => {
                    let appended = compiled
                        .appended
                        .contains(&(ct.family, ct.name.to_string()));
                    e.add_to(ti, cti, ct, appended);
                }
                None => {
                    e.rs.tables.push(ct.clone());
                    e.origins.push(
                        ct.chains
                            .iter()
                            .enumerate()
                            .map(|(ci, c)| {
                                (0..c.rules.len())
                                    .map(|ri| Origin::Fwc(cti, ChainId(ci), ri))
                                    .collect()
                            })
                            .collect(),
                    );
                    e.live_table.push(None);
                }
            }
        }
        e
    }

    /// Adds fwc's compiled table `ct` to the foreign table `ti` of the same
    /// name: its own chains whole, its rules in shared chains at the head
    /// (or the end, for `appended` tables).
    fn add_to(&mut self, ti: usize, cti: usize, ct: &Table, appended: bool) {
        let chains_before = self.rs.tables[ti].chains.len();
        let counts: Vec<usize> = self.rs.tables[ti]
            .chains
            .iter()
            .map(|c| c.rules.len())
            .collect();
        let placeholder = Table::new(ct.family, ct.name.clone(), Ownership::External);
        let mine = std::mem::replace(&mut self.rs.tables[ti], placeholder);
        let mut merged = Ruleset { tables: vec![mine] };
        merged.merge(Ruleset {
            tables: vec![ct.clone()],
        });
        let mut t = merged.tables.remove(0);
        self.origins[ti].resize(t.chains.len(), Vec::new());
        for (cci, cc) in ct.chains.iter().enumerate() {
            let Some(eid) = t.chain_id(cc.name.as_str()) else {
                continue;
            };
            let before = counts.get(eid.0).copied().unwrap_or(0);
            let n = cc.rules.len();
            let origins = &mut self.origins[ti][eid.0];
            origins.extend((0..n).map(|k| Origin::Fwc(cti, ChainId(cci), k)));
            let chain = t.chain_mut(eid);
            if cc.ownership == Ownership::Owned || eid.0 >= chains_before {
                chain.kind = cc.kind.clone();
                self.fwc_chains.insert((ti, eid.0));
            } else if let Some(slots) = self.slots.get(&(ti, eid.0)) {
                let order = placed(slots, before, n, appended);
                let mut rules: Vec<Option<ir::Rule>> = std::mem::take(&mut chain.rules)
                    .into_iter()
                    .map(Some)
                    .collect();
                chain.rules = order.iter().filter_map(|&i| rules[i].take()).collect();
                *origins = order.iter().map(|&i| origins[i]).collect();
            } else if !appended {
                debug_assert_eq!(chain.rules.len(), before + n);
                chain.rules.rotate_right(n);
                origins.rotate_right(n);
            }
        }
        self.rs.tables[ti] = t;
    }

    /// Whether a base chain's verdicts are fwc's (its table or the chain is
    /// fwc's own).
    fn fwc_base(&self, table: usize, chain: ChainId) -> bool {
        self.live_table[table].is_none() || self.fwc_chains.contains(&(table, chain.0))
    }

    /// Evaluates a packet at a hook; each base chain that does not accept
    /// it is taken off the hook and the packet evaluated again, so that
    /// every chain that would stop it is found.
    fn judge(&self, hook: Hook, packet: &Packet, live: &Live, compiled: &Compiled) -> Judgement {
        let mut j = Judgement::default();
        let mut rs: Option<Ruleset> = None;
        loop {
            let o = evaluate(rs.as_ref().unwrap_or(&self.rs), hook, packet);
            let Some(bad) = o.chains.iter().find(|c| c.decision != Decision::Accept) else {
                break;
            };
            let table = &self.rs.tables[bad.table];
            let base = table.chain(bad.chain);
            let origin = match &bad.decided_by {
                DecidedBy::Rule(r) => Some((r, self.origins[r.table][r.chain.0][r.rule])),
                DecidedBy::Policy => None,
            };
            match (origin, self.live_table[bad.table]) {
                (Some((_, Origin::Fwc(cti, cc, _))), _) => {
                    let ct = &compiled.readback.ruleset.tables[cti];
                    j.fwc_drops.push((
                        format!("{} {} {}", ct.family, ct.name, ct.chain(cc).name),
                        verb(&bad.decision).to_owned(),
                    ));
                }
                (None, _) if self.fwc_base(bad.table, bad.chain) => {
                    j.fwc_drops.push((
                        format!("{} {} {}", table.family, table.name, base.name),
                        format!("(the chain's policy) {}", verb(&bad.decision)),
                    ));
                }
                (origin, Some(lti)) => {
                    let lt = &live.ruleset().tables[lti];
                    let (chain, cause) = match origin {
                        Some((_, Origin::Foreign(_, lc, lr))) => {
                            let (index, listed) = live
                                .listed(lti, lc, lr)
                                .map(|(i, l)| (i, Some(l)))
                                .unwrap_or((lr, None));
                            (
                                lt.chain(lc).name.to_string(),
                                Cause::Rule {
                                    index,
                                    handle: listed.and_then(|l| l.handle),
                                    text: listed.map_or_else(
                                        || render::rule(lt, &lt.chain(lc).rules[lr]),
                                        |l| l.text.clone(),
                                    ),
                                },
                            )
                        }
                        _ => (
                            base.name.to_string(),
                            Cause::Policy(match base.kind {
                                ChainKind::Base { policy, .. } => policy,
                                ChainKind::Regular => ir::Policy::Accept,
                            }),
                        ),
                    };
                    let priority = match base.kind {
                        ChainKind::Base { priority, .. } => priority,
                        ChainKind::Regular => 0,
                    };
                    j.blocked.push(Blocked {
                        flow: 0,
                        hook,
                        family: lt.family,
                        table: lt.name.to_string(),
                        base_chain: base.name.to_string(),
                        manager: manager(lt, hook, &chain),
                        chain,
                        priority,
                        decision: bad.decision.clone(),
                        cause,
                        fwc_rule: None,
                    });
                }
                // A policy of a table that is neither fwc's nor live cannot
                // be: every table is one or the other.
                (_, None) => {}
            }
            let rs = rs.get_or_insert_with(|| self.rs.clone());
            rs.tables[bad.table].chain_mut(bad.chain).kind = ChainKind::Regular;
        }
        j
    }
}

/// The order of a shared chain's rules after a merge (`before` foreign
/// rules, then fwc's `n`): fwc's rules found live take their live places
/// among the foreign ones; the others go to the head (or the end, when
/// `appended`), as fwc's setup would put them.
fn placed(slots: &[Slot], before: usize, n: usize, appended: bool) -> Vec<usize> {
    let in_place: BTreeSet<usize> = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Fwc(j) if *j < n => Some(*j),
            _ => None,
        })
        .collect();
    let missing: Vec<usize> = (0..n)
        .filter(|j| !in_place.contains(j))
        .map(|j| before + j)
        .collect();
    let mut foreign = 0..before;
    let mut live: Vec<usize> = slots
        .iter()
        .filter_map(|s| match s {
            Slot::Foreign => foreign.next(),
            Slot::Fwc(j) if *j < n => Some(before + j),
            Slot::Fwc(_) => None,
        })
        .collect();
    // Foreign rules the slots did not account for stay, in order.
    live.extend(foreign);
    if appended {
        live.extend(missing);
        live
    } else {
        missing.into_iter().chain(live).collect()
    }
}

/// A decision as a verb.
fn verb(d: &Decision) -> &'static str {
    match d {
        Decision::Accept => "accept",
        Decision::Drop => "drop",
        Decision::Reject(_) => "reject",
    }
}

/// fwc's compiled rules alone, to name the rule that accepts a flow.
struct FwcOnly {
    rs: Ruleset,
    /// Index into the compiled readback of each table.
    index: Vec<usize>,
}

impl FwcOnly {
    fn new(compiled: &Compiled) -> FwcOnly {
        let mut rs = Ruleset::default();
        let mut index = Vec::new();
        for (i, t) in compiled.readback.ruleset.tables.iter().enumerate() {
            if evaluated(t.family) {
                rs.tables.push(t.clone());
                index.push(i);
            }
        }
        FwcOnly { rs, index }
    }

    /// The fwc rule that accepts `packet` at `hook`: the deciding rule of
    /// the first of fwc's base chains a rule decides, preferring rules from
    /// the inputs over the layout's jumps; `None` when only policies let it
    /// through (or fwc has no chain on the hook).
    fn accepting_rule(
        &self,
        hook: Hook,
        packet: &Packet,
        compiled: &Compiled,
    ) -> Option<(Provenance, String)> {
        let o = evaluate(&self.rs, hook, packet);
        let rules: Vec<_> = o
            .chains
            .iter()
            .filter(|c| c.decision == Decision::Accept)
            .filter_map(|c| match &c.decided_by {
                DecidedBy::Rule(r) => Some(r),
                DecidedBy::Policy => None,
            })
            .collect();
        let r = rules
            .iter()
            .find(|r| matches!(r.provenance, Provenance::Input(_)))
            .or(rules.first())?;
        let t = &compiled.readback.ruleset.tables[self.index[r.table]];
        let chain = t.chain(r.chain);
        Some((
            r.provenance.clone(),
            format!(
                "{} {} {}: {}",
                t.family,
                t.name,
                chain.name,
                render::rule(t, &chain.rules[r.rule])
            ),
        ))
    }
}

/// iptables' built-in chain names.
const XT_CHAINS: [&str; 5] = ["PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"];

/// iptables' table names.
const XT_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// Who manages a foreign table, from its family, name and chains; `hook`
/// and `chain` (the chain holding the deciding rule) say where it blocks.
/// Docker's `DOCKER-USER` chain is only entered from `FORWARD`, so a
/// Docker host's `filter` table counts as plain iptables on other hooks.
pub fn manager(table: &Table, hook: Hook, chain: &str) -> Manager {
    let name = table.name.as_str();
    let xt_family = matches!(table.family, Family::Ip | Family::Ip6);
    let has = |p: &dyn Fn(&str) -> bool| table.chains.iter().any(|c| p(c.name.as_str()));
    let ufw = |c: &str| c.starts_with("ufw-") || c.starts_with("ufw6-");
    if name == "firewalld" {
        Manager::Firewalld
    } else if xt_family && name == "filter" && hook == Hook::Forward && has(&|c| c == "DOCKER-USER")
    {
        Manager::Docker
    } else if ufw(chain) || (xt_family && has(&ufw)) {
        Manager::Ufw
    } else if xt_family
        && XT_TABLES.contains(&name)
        && table
            .chains
            .iter()
            .all(|c| matches!(c.kind, ChainKind::Regular) || XT_CHAINS.contains(&c.name.as_str()))
    {
        Manager::Iptables
    } else {
        Manager::Nftables
    }
}
