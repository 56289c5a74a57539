//! Tolerant reading of a live host's `nft -j list ruleset` for `fwc
//! doctor`: what cannot be read is listed and left out instead of failing
//! the whole listing, and iptables-nft rules that the listing shows only by
//! their `xt` names can be read again from `iptables-save`.

use serde_json::Value as Json;

use ir::{Family, Ownership, Rule, Verdict};

use super::super::build::Builder;
use super::super::{provenance, render, ReadError, Readback};
use super::{expr, family, object, objects, single, str_of, Op, WHAT};

/// `nft -j list ruleset` output read tolerantly (see [`read_live`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listing {
    /// Every table, chain, set and map that could be read, with the rules
    /// that could be read, in listing order.
    pub readback: Readback,
    /// Every rule of the listing, read or not, in listing order.
    pub rules: Vec<ListedRule>,
    /// Objects other than rules that could not be read, such as
    /// `arp filter (table): unknown family 'arp'`.
    pub skipped: Vec<String>,
}

/// One rule as the live ruleset lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRule {
    /// Its table's family as nft names it (`ip`, `inet`, `arp`, ...).
    pub family: String,
    /// Its table.
    pub table: String,
    /// Its chain.
    pub chain: String,
    /// Its nft handle, when the listing gives one.
    pub handle: Option<u64>,
    /// nft-like text; an expression that cannot be read is described as
    /// well as the listing allows (`xt match conntrack`).
    pub text: String,
    /// Why the rule could not be read; `None` when the readback holds it.
    pub unread: Option<String>,
}

/// Reads `nft -j list ruleset` output of a live host, where other software
/// loads what fwc cannot read (iptables-nft `xt` expressions, `limit`,
/// `fib`, marks, netdev chains, `arp` tables, flowtables...). Unlike
/// [`read`], an object that cannot be read is left out instead of failing
/// the whole listing: a rule is kept in [`Listing::rules`] with
/// [`ListedRule::unread`] set and left out of the readback; another object
/// is named in [`Listing::skipped`], and so are the rules of a chain left
/// out. Only a document that is not a listing at all is an error.
pub fn read_live(text: &str) -> Result<Listing, ReadError> {
    let items = objects(text)?;
    let mut b = Builder::default();
    let mut listing = Listing::default();
    // (family, table, chain) of chains left out, and tables left out.
    let mut lost_chains = std::collections::BTreeSet::new();
    let mut lost_tables = std::collections::BTreeSet::new();
    for item in &items {
        let Ok((key, inner)) = single(item) else {
            listing
                .skipped
                .push(format!("an object that is not {{\"kind\": ...}}: {item}"));
            continue;
        };
        let o = inner.as_object();
        let text_of = |k: &str| {
            o.and_then(|o| o.get(k))
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let fam = text_of("family");
        let table = if key == "table" {
            text_of("name")
        } else {
            text_of("table")
        };
        match key {
            "metainfo" => {}
            "rule" => {
                let chain = text_of("chain");
                let handle = o.and_then(|o| o.get("handle")).and_then(Json::as_u64);
                let lost = lost_tables.contains(&(fam.clone(), table.clone()))
                    || lost_chains.contains(&(fam.clone(), table.clone(), chain.clone()));
                let read = if lost {
                    Err("its chain could not be read".to_owned())
                } else {
                    live_rule(&mut b, inner)
                };
                let (text, unread) = match read {
                    Ok(text) => (text, None),
                    Err(why) => (describe_rule(&mut b, inner), Some(why)),
                };
                listing.rules.push(ListedRule {
                    family: fam,
                    table,
                    chain,
                    handle,
                    text,
                    unread,
                });
            }
            "table" | "chain" | "set" | "map" | "element" => {
                if let Err(why) = object(&mut b, item, Op::Add) {
                    let name = text_of("name");
                    listing
                        .skipped
                        .push(format!("{fam} {table} {name} ({key}): {why}"));
                    match key {
                        "table" => {
                            lost_tables.insert((fam, table));
                        }
                        "chain" => {
                            lost_chains.insert((fam, table, name));
                        }
                        _ => {}
                    }
                }
            }
            other => listing
                .skipped
                .push(format!("{fam} {table} {} ({other})", text_of("name"))),
        }
    }
    // A table left out may still have been created by a chain or set of
    // it that could be read; it is dropped only if nothing of it was.
    listing.readback = b.finish().map_err(|m| ReadError::new(WHAT, 0, m))?;
    Ok(listing)
}

/// Reads one listed rule into the builder; its text, or why it cannot be read.
fn live_rule(b: &mut Builder, inner: &Json) -> Result<String, String> {
    let o = inner.as_object().ok_or("expected an object")?;
    let t = b.table(family(o)?, str_of(o, "table")?, Ownership::Owned)?;
    let chain = str_of(o, "chain")?;
    if !b.is_declared(t, chain) {
        return Err(format!("chain {chain} is not declared"));
    }
    let exprs = o
        .get("expr")
        .and_then(Json::as_array)
        .ok_or("a rule without 'expr'")?;
    // A jump to a chain that was left out would leave a chain that is
    // named but never declared.
    if let Some(lost) = jump_targets(inner)
        .into_iter()
        .find(|c| !b.is_declared(t, c))
    {
        return Err(format!("it jumps to chain {lost}, which could not be read"));
    }
    // Read every expression first: only a whole rule goes in.
    let mut r = Rule::new(provenance::UNKNOWN, Vec::new(), None);
    if let Some(c) = o.get("comment").and_then(Json::as_str) {
        match provenance::parse(c) {
            Some(p) => r.provenance = p,
            None => r.comment = Some(ir::Comment::lossy(c)),
        }
    }
    for e in exprs.iter().filter(|e| !is_xt_comment(e)) {
        expr(b, t, e, &mut r)?;
    }
    let text = render::rule(b.get(t), &r);
    let c = b.chain(t, chain)?;
    b.push_rule(t, c, r, text.clone());
    Ok(text)
}

/// iptables-nft's comment match (`-m comment`), which matches every packet;
/// the listing does not give its text.
fn is_xt_comment(e: &Json) -> bool {
    e.get("xt").is_some_and(|x| {
        x.get("type").and_then(Json::as_str) == Some("match")
            && x.get("name").and_then(Json::as_str) == Some("comment")
    })
}

/// A table of `iptables-save` output: its name, its chain declaration
/// lines, and each chain's `-A` lines in order.
type SavedTable = (String, Vec<String>, Vec<(String, Vec<String>)>);

/// Reads again, from `iptables-save` (or `ip6tables-save`, per `family`)
/// output of the same ruleset, the rules of `listing` that could not be
/// read because iptables-nft lists their matches and targets only by name
/// (`xt match conntrack`, `xt target REJECT`). The save lists each chain's
/// rules in the same order as nft; a chain whose rule count differs (a
/// table iptables cannot show, or a listing of another moment) is left
/// alone, and so is a rule the iptables reader cannot read either. The
/// rules keep their listed text, so listings completed alike compare alike.
pub fn complete_from_save(listing: &mut Listing, family: Family, save: &str) {
    let mut tables: Vec<SavedTable> = Vec::new();
    for line in save.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('*') {
            tables.push((name.to_owned(), Vec::new(), Vec::new()));
        } else if let Some((_, decls, chains)) = tables.last_mut() {
            if line.starts_with(':') {
                decls.push(line.to_owned());
            } else if let Some(rest) = line.strip_prefix("-A ") {
                let chain = rest.split(' ').next().unwrap_or("").to_owned();
                match chains.iter_mut().find(|(c, _)| *c == chain) {
                    Some((_, lines)) => lines.push(line.to_owned()),
                    None => chains.push((chain, vec![line.to_owned()])),
                }
            }
        }
    }
    let fam = family.keyword();
    for (table, decls, chains) in &tables {
        for (chain, lines) in chains {
            let listed: Vec<usize> = (0..listing.rules.len())
                .filter(|&i| {
                    let r = &listing.rules[i];
                    r.family == fam && r.table == *table && r.chain == *chain
                })
                .collect();
            if listed.len() != lines.len() {
                continue;
            }
            for (pos, &i) in listed.iter().enumerate() {
                if listing.rules[i].unread.is_none() {
                    continue;
                }
                let text = format!("*{table}\n{}\n{}\nCOMMIT\n", decls.join("\n"), lines[pos]);
                let Ok(one) = super::super::xtables::read(&text, family) else {
                    continue;
                };
                let read_before = listed[..pos]
                    .iter()
                    .filter(|&&j| listing.rules[j].unread.is_none())
                    .count();
                if insert_read(
                    &mut listing.readback,
                    &one,
                    family,
                    table,
                    chain,
                    read_before,
                ) {
                    listing.rules[i].unread = None;
                }
            }
        }
    }
}

/// Puts the one rule of `one` (a readback of a single-rule restore text)
/// into `rb` at `pos` of `family table chain`, its jumps pointed at `rb`'s
/// chains of the same names; false if any of them is missing.
fn insert_read(
    rb: &mut Readback,
    one: &Readback,
    family: Family,
    table: &str,
    chain: &str,
    pos: usize,
) -> bool {
    let Some(ot) = one.ruleset.tables.first() else {
        return false;
    };
    let Some(rule) = ot.chain_id(chain).and_then(|c| ot.chain(c).rules.first()) else {
        return false;
    };
    let Some(ti) = rb
        .ruleset
        .tables
        .iter()
        .position(|t| t.family == family && t.name.as_str() == table)
    else {
        return false;
    };
    let t = &rb.ruleset.tables[ti];
    let Some(ci) = t.chain_id(chain) else {
        return false;
    };
    let mut rule = rule.clone();
    let target = |c: &ir::ChainId| t.chain_id(ot.chain(*c).name.as_str());
    rule.verdict = match rule.verdict {
        Some(Verdict::Jump(c)) => match target(&c) {
            Some(id) => Some(Verdict::Jump(id)),
            None => return false,
        },
        Some(Verdict::Goto(c)) => match target(&c) {
            Some(id) => Some(Verdict::Goto(id)),
            None => return false,
        },
        other => other,
    };
    let text = render::rule(t, &rule);
    let rules = &mut rb.ruleset.tables[ti].chain_mut(ci).rules;
    let pos = pos.min(rules.len());
    rules.insert(pos, rule);
    rb.texts[ti][ci.0].insert(pos, text);
    true
}

/// The text of a rule that cannot be read: each expression rendered when
/// it can be, described from its JSON when not.
fn describe_rule(b: &mut Builder, inner: &Json) -> String {
    let table = inner.as_object().and_then(|o| {
        let t = b.table(family(o).ok()?, str_of(o, "table").ok()?, Ownership::Owned);
        t.ok()
    });
    let exprs = inner
        .get("expr")
        .and_then(Json::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut parts = Vec::new();
    for e in exprs {
        let mut one = Rule::new(provenance::UNKNOWN, Vec::new(), None);
        let read = match table {
            Some(t) if jump_targets(e).iter().all(|c| b.is_declared(t, c)) => {
                expr(b, t, e, &mut one).map(|()| render::rule(b.get(t), &one))
            }
            _ => Err(String::new()),
        };
        match read {
            Ok(text) if text != "continue" => parts.push(text),
            Ok(_) => {}
            _ => parts.push(describe_expr(e)),
        }
    }
    if let Some(c) = inner.get("comment").and_then(Json::as_str) {
        parts.push(format!("comment \"{c}\""));
    }
    parts.join(" ")
}

/// The chains `j` jumps or goes to, anywhere inside it (verdict maps too).
fn jump_targets(j: &Json) -> Vec<String> {
    fn walk(j: &Json, out: &mut Vec<String>) {
        match j {
            Json::Object(m) => {
                for (k, v) in m {
                    if k == "jump" || k == "goto" {
                        if let Some(t) = v.get("target").and_then(Json::as_str) {
                            out.push(t.to_owned());
                        }
                    }
                    walk(v, out);
                }
            }
            Json::Array(items) => items.iter().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(j, &mut out);
    out
}

/// An expression fwc cannot read, in words close to nft's.
fn describe_expr(e: &Json) -> String {
    let Ok((k, v)) = single(e) else {
        return e.to_string();
    };
    let s = |key: &str| {
        v.get(key)
            .map(|x| x.as_str().map_or(x.to_string(), str::to_owned))
    };
    match k {
        "xt" => format!(
            "xt {} {}",
            s("type").unwrap_or_default(),
            s("name").unwrap_or_default()
        ),
        "limit" => format!(
            "limit rate {}/{}",
            s("rate").unwrap_or_default(),
            s("per").unwrap_or_else(|| "second".into())
        ),
        _ if v.is_null() => k.to_owned(),
        _ => format!("{k} {v}"),
    }
}
