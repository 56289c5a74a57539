//! The text diff of two artifacts of one target: each read back and
//! rendered grouped by table, then set, map and chain (sorted by name, so
//! that declaration order does not matter), one rule per line as the
//! artifact spells it, followed by its provenance. Lines are compared
//! without their provenance, so a rule whose input line moved is not a
//! change; the provenance is still shown on every line printed.

use std::fmt::Write as _;

use ir::KeyType;
use similar::{Algorithm, ChangeTag, TextDiff};

use crate::readback::{render, Readback};

/// One line of a rendering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// What is compared.
    pub key: String,
    /// What is shown: the key and, for a rule, its provenance.
    pub shown: String,
    /// The table and chain (or set) the line belongs to.
    pub section: String,
}

fn key_type_text(k: &[KeyType]) -> String {
    k.iter()
        .map(|k| emitters::nft_key_type_name(*k))
        .collect::<Vec<_>>()
        .join(" . ")
}

/// The lines of a readback (see the module docs).
pub fn render(rb: &Readback) -> Vec<Line> {
    let mut out = Vec::new();
    let mut order: Vec<usize> = (0..rb.ruleset.tables.len()).collect();
    order.sort_by_key(|&i| {
        let t = &rb.ruleset.tables[i];
        (t.family, t.name.clone())
    });
    for ti in order {
        let t = &rb.ruleset.tables[ti];
        let table = format!("table {} {}", t.family, t.name);
        let mut push = |key: String, shown: Option<String>, section: &str| {
            out.push(Line {
                shown: shown.unwrap_or_else(|| key.clone()),
                key,
                section: section.to_owned(),
            })
        };
        push(table.clone(), None, &table);
        let mut sets: Vec<_> = t.sets.iter().collect();
        sets.sort_by(|a, b| a.name.cmp(&b.name));
        for s in sets {
            let interval = if s.interval { ", interval" } else { "" };
            let head = format!("  set {} ({}{interval})", s.name, key_type_text(&s.key));
            let section = format!("{table} set {}", s.name);
            push(head, None, &section);
            let mut elems: Vec<String> = s
                .elements
                .iter()
                .map(|e| format!("    {}", render::element(t, e)))
                .collect();
            elems.sort();
            elems.into_iter().for_each(|e| push(e, None, &section));
        }
        let mut maps: Vec<_> = t.maps.iter().collect();
        maps.sort_by(|a, b| a.name.cmp(&b.name));
        for m in maps {
            let interval = if m.interval { ", interval" } else { "" };
            let head = format!(
                "  map {} ({} : verdict{interval})",
                m.name,
                key_type_text(&m.key)
            );
            let section = format!("{table} map {}", m.name);
            push(head, None, &section);
            let mut elems: Vec<String> = m
                .elements
                .iter()
                .map(|(k, v)| format!("    {} : {}", render::element(t, k), render::verdict(t, v)))
                .collect();
            elems.sort();
            elems.into_iter().for_each(|e| push(e, None, &section));
        }
        let mut chains: Vec<usize> = (0..t.chains.len()).collect();
        chains.sort_by(|a, b| t.chains[*a].name.cmp(&t.chains[*b].name));
        for ci in chains {
            let c = &t.chains[ci];
            let section = format!("{table} chain {}", c.name);
            let head = match render::chain_spec(&c.kind) {
                Some(spec) => format!("  chain {} ({spec})", c.name),
                None => format!("  chain {}", c.name),
            };
            push(head, None, &section);
            for (ri, r) in c.rules.iter().enumerate() {
                let key = format!("    {}", rb.rule_text(ti, ir::ChainId(ci), ri));
                let shown = format!("{key}    # {}", r.provenance);
                push(key, Some(shown), &section);
            }
        }
    }
    out
}

/// A unified diff of two renderings with `context` lines around each
/// change, headed `--- OLD` / `+++ NEW`; `None` when the rules are the same.
pub fn unified(old: &[Line], new: &[Line], names: [&str; 2], context: usize) -> Option<String> {
    let ok: Vec<&str> = old.iter().map(|l| l.key.as_str()).collect();
    let nk: Vec<&str> = new.iter().map(|l| l.key.as_str()).collect();
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_slices(&ok, &nk);
    let groups = diff.grouped_ops(context);
    if groups.is_empty() {
        return None;
    }
    let mut out = format!("--- {}\n+++ {}\n", names[0], names[1]);
    for group in groups {
        let (first, last) = (&group[0], &group[group.len() - 1]);
        let (os, oe) = (first.old_range().start, last.old_range().end);
        let (ns, ne) = (first.new_range().start, last.new_range().end);
        let start = |s: usize, len: usize| if len == 0 { s } else { s + 1 };
        // Name the section of the first change, as its context may start
        // in the section before.
        let changed = group
            .iter()
            .find(|op| op.tag() != similar::DiffTag::Equal)
            .unwrap_or(first);
        let section = new
            .get(changed.new_range().start)
            .filter(|_| !changed.new_range().is_empty())
            .or_else(|| old.get(changed.old_range().start))
            .map(|l| l.section.as_str())
            .unwrap_or("");
        let _ = writeln!(
            out,
            "@@ -{},{} +{},{} @@ {section}",
            start(os, oe - os),
            oe - os,
            start(ns, ne - ns),
            ne - ns
        );
        for op in &group {
            for change in diff.iter_changes(op) {
                let (mark, line) = match change.tag() {
                    ChangeTag::Equal => (' ', &new[change.new_index().expect("in new")]),
                    ChangeTag::Delete => ('-', &old[change.old_index().expect("in old")]),
                    ChangeTag::Insert => ('+', &new[change.new_index().expect("in new")]),
                };
                let _ = writeln!(out, "{mark}{}", line.shown);
            }
        }
    }
    Some(out)
}
