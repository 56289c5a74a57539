//! The ruleset as ebtables sees it: its tables `filter`, `nat` and
//! `broute`, holding built-in chains and the user chains fwc owns.
//!
//! Built once per emit from the IR's `bridge` tables and shared by the
//! restore and command forms. Two kinds of bridge table are understood:
//! * one named after an ebtables table (libvirt's nwfilter layout:
//!   `bridge nat`): its [`Ownership::External`] chains are chains that
//!   exist already (the built-ins `PREROUTING`, ...), its owned regular
//!   chains are user chains, and an owned base chain is a user chain
//!   entered by a jump from the built-in chain of its hook;
//! * any other name (an nft-style table of fwc's own): each base chain
//!   becomes a user chain entered from the built-in chain its hook and
//!   priority correspond to, and each regular chain goes into every
//!   ebtables table whose base chains reach it.
//!
//! A user chain's policy is what ends it: `RETURN` for a regular chain and
//! for a base chain whose policy accepts (so the frame goes on to the rules
//! after fwc's jump, as an nft `accept` lets later base chains see it),
//! `DROP` for a base chain whose policy drops. Rules are rendered by
//! [`super::render`]; what it cannot say becomes a [`Note`].

use ir::{
    ChainKind, Comment, Family, Hook, Ownership, Policy, Provenance, Ruleset, Table, Verdict,
};

use super::render::{render_rule, Arg};
use super::unsupported;
use crate::appended::Names;
use crate::xtables::{self, Placement};
use crate::{Error, Note};

/// ebtables' tables and the built-in chain of each hook in them.
const EB_TABLES: [(&str, &[(Hook, &str)]); 3] = [
    (
        "filter",
        &[
            (Hook::Input, "INPUT"),
            (Hook::Forward, "FORWARD"),
            (Hook::Output, "OUTPUT"),
        ],
    ),
    (
        "nat",
        &[
            (Hook::Prerouting, "PREROUTING"),
            (Hook::Output, "OUTPUT"),
            (Hook::Postrouting, "POSTROUTING"),
        ],
    ),
    ("broute", &[(Hook::Prerouting, "BROUTING")]),
];

/// One ebtables rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EbRule {
    /// Everything after `-A CHAIN`.
    pub args: Vec<Arg>,
    /// The IR rule's provenance.
    pub provenance: Provenance,
    /// The IR rule's comment, which ebtables cannot attach to a rule; the
    /// restore file shows it beside the provenance.
    pub comment: Option<Comment>,
    /// The IR rule's sequence number.
    pub seq: Option<u32>,
    /// `args` with the staging names of the chains jumped to.
    pub staged: Vec<Arg>,
    /// The chain the rule jumps to, by name.
    pub enters: Option<String>,
}

/// A chain of an ebtables table; a user chain's policy is `RETURN`, `DROP`
/// or `ACCEPT` (ebtables' default).
pub(crate) type EbChain = xtables::Chain<EbRule>;

/// One of ebtables' tables.
pub(crate) type EbTable = xtables::Table<EbRule>;

/// Everything one emit installs.
pub(crate) type Model = xtables::Model<EbRule>;

/// Builds the model of the ruleset's bridge tables; tables of other
/// families get one note between them.
pub(crate) fn build(rs: &Ruleset, notes: &mut Vec<Note>) -> Result<Model, Error> {
    let mut model = Model::default();
    let mut skipped = Vec::new();
    for t in &rs.tables {
        if t.family != Family::Bridge {
            skipped.push(format!("{} {}", t.family, t.name));
            continue;
        }
        let eb = EB_TABLES.iter().find(|(n, _)| *n == t.name.as_str());
        let places = match eb {
            Some(&(name, hooks)) => eb_table(t, name, hooks)?,
            None => own_table(t)?,
        };
        fill(&mut model, t, places, notes)?;
        if let (Some(&(name, _)), Some(creates)) = (eb, xtables::chain_creations(t)) {
            if let Some(table) = model.tables.iter_mut().find(|x| x.name == name) {
                table.steps = Some(creates);
            }
        }
    }
    if !skipped.is_empty() {
        notes.push(Note {
            provenance: Provenance::Layout(crate::NON_BRIDGE_TABLES),
            message: format!(
                "ebtables filters bridged frames only, so table(s) {} are left out; libvirt's \
                 network driver installs no ebtables rules (use --target nft, nft-json, \
                 iptables or ip6tables for networks)",
                skipped.join(", ")
            ),
        });
    }
    Ok(model)
}

/// Placements in a table named after an ebtables table.
fn eb_table(
    t: &Table,
    name: &'static str,
    hooks: &[(Hook, &'static str)],
) -> Result<Vec<Placement>, Error> {
    t.chains
        .iter()
        .map(|c| {
            let builtin = match (c.ownership, &c.kind) {
                (Ownership::Owned, ChainKind::Base { hook, .. }) => Some(
                    hooks
                        .iter()
                        .find(|(h, _)| h == hook)
                        .map(|(_, b)| *b)
                        .ok_or_else(|| {
                            unsupported(format!(
                                "base chain {} of table bridge {name} hooks {}, which ebtables' \
                                 {name} table has no built-in chain for",
                                c.name,
                                hook.keyword()
                            ))
                        })?,
                ),
                _ => None,
            };
            Ok(Placement {
                tables: vec![name],
                builtin,
            })
        })
        .collect()
}

/// The ebtables table and built-in chain of an nft-style bridge base chain:
/// `filter` for input and forward, and for output before NAT (priority
/// below 100, nft's `bridge` `out` NAT priority); `nat` for prerouting,
/// postrouting and later output.
fn map_base_chain(hook: Hook, priority: i32) -> Option<(&'static str, &'static str)> {
    match hook {
        Hook::Input => Some(("filter", "INPUT")),
        Hook::Forward => Some(("filter", "FORWARD")),
        Hook::Output if priority < 100 => Some(("filter", "OUTPUT")),
        Hook::Output => Some(("nat", "OUTPUT")),
        Hook::Prerouting => Some(("nat", "PREROUTING")),
        Hook::Postrouting => Some(("nat", "POSTROUTING")),
        Hook::Ingress => None,
    }
}

/// Placements in a bridge table of fwc's own.
fn own_table(t: &Table) -> Result<Vec<Placement>, Error> {
    let foreign = |what: String| {
        unsupported(format!(
            "{what} of table bridge {} belongs to someone else, and ebtables has no such table",
            t.name
        ))
    };
    if t.ownership == Ownership::External {
        return Err(foreign("the table".into()));
    }
    let mut places = Vec::new();
    for c in &t.chains {
        if c.ownership == Ownership::External {
            return Err(foreign(format!("chain {}", c.name)));
        }
        places.push(match &c.kind {
            ChainKind::Base { hook, priority, .. } => {
                let (table, builtin) = map_base_chain(*hook, *priority).ok_or_else(|| {
                    unsupported(format!(
                        "base chain {} of table bridge {} hooks {}, which ebtables has no \
                         built-in chain for",
                        c.name,
                        t.name,
                        hook.keyword()
                    ))
                })?;
                Placement {
                    tables: vec![table],
                    builtin: Some(builtin),
                }
            }
            ChainKind::Regular => Placement {
                tables: Vec::new(),
                builtin: None,
            },
        });
    }
    xtables::spread(t, &mut places);
    Ok(places)
}

/// Declares the chains of `t` where `places` says and fills them.
fn fill(
    model: &mut Model,
    t: &Table,
    places: Vec<Placement>,
    notes: &mut Vec<Note>,
) -> Result<(), Error> {
    let mut entries = Vec::new();
    for (c, place) in t.chains.iter().zip(&places) {
        let drops = matches!(
            c.kind,
            ChainKind::Base {
                policy: Policy::Drop,
                ..
            }
        );
        let policy = match (c.ownership, drops, c.end_policy) {
            (Ownership::External, _, _) => None,
            (Ownership::Owned, true, _) | (Ownership::Owned, _, Some(Policy::Drop)) => Some("DROP"),
            (Ownership::Owned, false, Some(Policy::Accept)) => Some("ACCEPT"),
            (Ownership::Owned, false, None) => Some("RETURN"),
        };
        let mut rules = Vec::new();
        for r in &c.rules {
            let end = match policy {
                Some("DROP") => "DROP",
                _ => "RETURN",
            };
            let rendered = render_rule(t, r, end, Names::Final)
                .and_then(|list| Ok((list, render_rule(t, r, end, Names::Staging)?)));
            match rendered {
                Ok((list, staged)) => {
                    rules.extend(list.into_iter().zip(staged).map(|(args, staged)| EbRule {
                        args,
                        staged,
                        provenance: r.provenance.clone(),
                        comment: r.comment.clone(),
                        seq: r.seq,
                        enters: match &r.verdict {
                            Some(Verdict::Jump(c) | Verdict::Goto(c)) => {
                                Some(t.chain(*c).name.to_string())
                            }
                            _ => None,
                        },
                    }))
                }
                Err(message) => notes.push(Note {
                    provenance: r.provenance.clone(),
                    message,
                }),
            }
        }
        for &table in &place.tables {
            let chain =
                model.chain("ebtables", table, c.name.as_str(), policy.is_some(), policy)?;
            chain.rules.extend(rules.iter().cloned());
            chain.staging = c.staging.as_ref().map(|s| s.to_string());
            if let (Some(builtin), ChainKind::Base { priority, .. }) = (place.builtin, &c.kind) {
                entries.push((*priority, table, builtin, c.name.to_string()));
            }
        }
    }
    // Base chains on one hook run in priority order; so do their jumps.
    entries.sort_by_key(|e| e.0);
    for (_, table, builtin, name) in entries {
        let args = vec![Arg::Word("-j".into()), Arg::Word(name.clone())];
        model
            .chain("ebtables", table, builtin, false, None)?
            .rules
            .push(EbRule {
                staged: args.clone(),
                args,
                provenance: Provenance::Layout("jump from the built-in chain to a base chain"),
                comment: None,
                seq: None,
                enters: Some(name),
            });
    }
    Ok(())
}
