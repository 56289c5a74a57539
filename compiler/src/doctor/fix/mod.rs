//! `fwc doctor --fix`: a script that lets exactly the blocked flows through
//! the foreign managers that block them, with its own teardown.
//!
//! [`script`] turns a [`Diagnosis`] into one POSIX `sh` script: `sh fix.sh`
//! applies it, `sh fix.sh --teardown` removes exactly what it applied. Each
//! manager is fixed the way it expects ([`Manager`]):
//!
//! * Docker: an accept rule in `DOCKER-USER`, the chain Docker leaves to
//!   the admin ([`xtables`]);
//! * another iptables table: an accept rule at the head of the blocking
//!   base chain ([`xtables`]);
//! * another nftables table: an accept rule inserted at the head of the
//!   blocking base chain, marked with a comment that the teardown finds by
//!   handle ([`nft`]);
//! * UFW and firewalld rewrite their rules on every reload, so the script
//!   only prints what to add to their configuration ([`ufw`],
//!   [`firewalld`]), as comments for the user to install.
//!
//! Every accept rule has exactly the flow's [`Flow::allow`] matches, is
//! rendered by the `emitters` crate and carries the marker comment
//! `fwc-doctor: NETWORK KIND FAMILY`; a flow with no matches (which would
//! give a bare accept) is refused rather than widened.

mod firewalld;
mod nft;
mod ufw;
mod xtables;

#[cfg(test)]
mod tests;

use std::fmt::Write as _;
use std::sync::Arc;

use emitters::quote;
use ir::{Comment, Family, Provenance, Rule, Source, Verdict};

use super::finding::{Blocked, Diagnosis, Flow, Manager};
use super::report::{family_name, kind_name, manager_name};

/// The generated script and what it leaves to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixScript {
    /// The whole `sh` script.
    pub text: String,
    /// How many accept rules setup inserts.
    pub rules: usize,
    /// One line per fix the script cannot apply itself (UFW, firewalld, a
    /// foreign name fwc cannot print safely): the script's comments say
    /// what to do.
    pub manual: Vec<String>,
}

/// The fix script for everything `d` found blocked.
///
/// `Err` only for a diagnosis that contradicts itself (a [`Blocked::flow`]
/// that is not an index into [`Diagnosis::flows`]).
pub fn script(d: &Diagnosis) -> Result<FixScript, String> {
    let entries = entries(d)?;
    let mut parts: Vec<Part> = Vec::new();
    let mut ufw = Vec::new();
    let mut firewalld = Vec::new();
    for e in &entries {
        match e.blocked.manager {
            Manager::Docker | Manager::Iptables => parts.push(xtables::part(e)),
            Manager::Nftables => parts.push(nft::part(e)),
            Manager::Ufw => ufw.push(e),
            Manager::Firewalld => firewalld.push(e),
        }
    }
    if !ufw.is_empty() {
        parts.push(ufw::part(&ufw));
    }
    if !firewalld.is_empty() {
        parts.push(firewalld::part(&firewalld));
    }
    Ok(assemble(&entries, &parts))
}

/// One blocked flow in one foreign chain, after grouping.
#[derive(Debug, Clone, Copy)]
struct Entry<'d> {
    flow: &'d Flow,
    blocked: &'d Blocked,
}

/// The blocked flows, each (foreign table, base chain, flow) once, in a
/// stable order: by manager, family, table, chain, then flow.
fn entries(d: &Diagnosis) -> Result<Vec<Entry<'_>>, String> {
    let mut out = d
        .blocked
        .iter()
        .map(|b| {
            let flow = d.flows.get(b.flow).ok_or_else(|| {
                format!(
                    "blocked flow {} is not one of the {} flows found",
                    b.flow,
                    d.flows.len()
                )
            })?;
            Ok(Entry { flow, blocked: b })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let key = |e: &Entry<'_>| {
        let b = e.blocked;
        (
            b.manager,
            b.family,
            b.table.clone(),
            b.base_chain.clone(),
            b.flow,
        )
    };
    // Fully ordered (by everything the analysis said), so that which of
    // several causes of one entry the header names does not depend on the
    // order of `d.blocked`.
    out.sort_by_cached_key(|e| (key(e), format!("{:?}", e.blocked)));
    out.dedup_by_key(|e| key(e));
    Ok(out)
}

/// What one fix contributes to the script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Part {
    /// For the header, per blocked flow: the chain and cause, and the flow.
    summary: Vec<(String, String)>,
    /// Shell lines for setup (comments included).
    setup: Vec<String>,
    /// Shell lines for teardown.
    teardown: Vec<String>,
    /// Comment lines for what the user must do by hand.
    manual: Vec<Line>,
    /// Accept rules setup inserts.
    rules: usize,
    /// One line per fix left to the user.
    left: Vec<String>,
}

/// A comment line of the by-hand instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    /// Free text (descriptions, foreign names): made inert by
    /// [`quote::comment_line`], which may shorten it.
    Text(String),
    /// A configuration line built only from validated values (interface
    /// and object names, addresses, ports) and fixed text, printed whole
    /// after `# ` so that the user can copy it.
    Verbatim(String),
    /// An empty comment line.
    Blank,
}

/// The marker comment of a flow's accept rules: ASCII letters, digits, `_`,
/// `-`, `:` and spaces only, so it is found verbatim in any listing (`grep
/// -F`) and reads the same in nft and iptables.
fn marker(flow: &Flow) -> String {
    let network: String = flow
        .network
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let family = family_name(flow.family);
    // Cut so that the whole comment fits nft's 128 bytes.
    let network: String = network.chars().take(64).collect();
    format!("fwc-doctor: {network} {} {family}", kind_name(flow.kind))
}

/// The accept rule for a flow: exactly its `allow` matches, the marker
/// comment, inserted at the head of its chain (an input rule with a
/// sequence number, which the command form inserts). `Err` when the flow
/// has no matches: its rule would accept everything.
fn accept_rule(flow: &Flow) -> Result<Rule, String> {
    if flow.allow.is_empty() {
        return Err(format!(
            "the flow \"{}\" has no matches, so its accept rule would let everything through",
            flow.description
        ));
    }
    let source = Source {
        file: Arc::from("fwc doctor"),
        line: 1,
        column: 1,
        element: Arc::from(kind_name(flow.kind)),
    };
    let mut rule = Rule::new(
        Provenance::Input(source),
        flow.allow.clone(),
        Some(Verdict::Accept),
    )
    .at_seq(1);
    rule.comment = Some(Comment::lossy(&marker(flow)));
    Ok(rule)
}

/// `family table chain` as nft names a chain, for comments.
fn chain_label(family: Family, table: &str, chain: &str) -> String {
    format!("{family} {table} {chain}")
}

/// Why the foreign chain decided against the flow, for comments.
fn cause_text(b: &Blocked) -> String {
    match &b.cause {
        super::finding::Cause::Policy(p) => format!("policy {}", p.keyword()),
        super::finding::Cause::Rule { index, text, .. } => {
            let chain = if b.chain == b.base_chain {
                String::new()
            } else {
                format!(" in {}", b.chain)
            };
            format!("rule {index}{chain}: {text}")
        }
    }
}

impl Part {
    /// Records a fix `manager` (as the script names it) cannot give for
    /// `e`, and why, both in the script's comments and for the user.
    fn unfixable(&mut self, manager: &str, e: &Entry, why: &str) {
        self.manual.push(Line::Text(format!(
            "{manager} ({} {} {}): {}: {why}",
            e.blocked.family, e.blocked.table, e.blocked.base_chain, e.flow.description
        )));
        self.manual.push(Line::Blank);
        self.left
            .push(format!("{manager}: {}: {why}", e.flow.description));
    }
}

/// The header lines naming one blocked flow: where and why, then what.
fn summary(e: &Entry) -> (String, String) {
    let b = e.blocked;
    (
        format!(
            "{} ({}, {} hook, {}):",
            chain_label(b.family, &b.table, &b.base_chain),
            manager_name(b.manager),
            b.hook.keyword(),
            cause_text(b),
        ),
        e.flow.description.clone(),
    )
}

/// Appends `text` as comment lines, wrapped at word boundaries to fit
/// [`quote::comment_line`]'s length, each made inert by it.
fn comment(out: &mut String, indent: &str, text: &str) {
    for chunk in wrap(text, WRAP) {
        let _ = writeln!(out, "{indent}{}", quote::comment_line(&chunk));
    }
}

/// The width comment text is wrapped to (well within what
/// [`quote::comment_line`] keeps).
const WRAP: usize = 78;

/// `text` in lines of at most `width` bytes, broken at spaces (a longer
/// word gets a line of its own and is cut by the caller's limit), keeping
/// the text's leading indentation on every line.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let body = text.trim_start_matches(' ');
    let indent = &text[..text.len() - body.len()];
    let mut lines = Vec::new();
    let mut line = String::from(indent);
    for word in body.split(' ') {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, format!("{indent}  ")));
        }
        if line.trim_start().is_empty() {
            line.push_str(word);
        } else {
            line.push(' ');
            line.push_str(word);
        }
    }
    lines.push(line);
    lines
}

/// A fix the script leaves to the user: where, why, and an example
/// command when there is one.
fn by_hand(e: &Entry, why: String, example: Option<Vec<String>>) -> Part {
    let b = e.blocked;
    let place = chain_label(b.family, &b.table, &b.base_chain);
    let mut manual = vec![
        Line::Text(format!("{place}: {}", e.flow.description)),
        Line::Text(format!("  {why}")),
    ];
    manual.extend(example.into_iter().flatten().map(Line::Verbatim));
    manual.push(Line::Blank);
    Part {
        summary: vec![summary(e)],
        left: vec![format!("{place}: {}: {why}", e.flow.description)],
        manual,
        ..Part::default()
    }
}

/// Appends a [`Line::Verbatim`] line. Its values are validated types
/// that hold no control characters; should one ever slip in, the line is
/// made inert as free text instead of ending the comment.
fn verbatim(out: &mut String, line: &str) {
    if line.chars().any(char::is_control) {
        comment(out, "", line);
    } else {
        let _ = writeln!(out, "# {line}");
    }
}

/// The whole script.
fn assemble(entries: &[Entry], parts: &[Part]) -> FixScript {
    let mut out = String::from("#!/bin/sh\n");
    comment(
        &mut out,
        "",
        "generated by fwc doctor --fix: lets through the flows that other firewall",
    );
    comment(
        &mut out,
        "",
        "managers block, and nothing else. Each rule it adds carries the comment",
    );
    out.push_str("# \"fwc-doctor: NETWORK FLOW FAMILY\".\n");
    comment(
        &mut out,
        "",
        "apply: sh fix.sh    remove: sh fix.sh --teardown",
    );
    out.push_str("#\n");
    if entries.is_empty() {
        comment(
            &mut out,
            "",
            "No flow is blocked: there is nothing to fix, and both directions do nothing.",
        );
    } else {
        comment(&mut out, "", "Blocked flows:");
        for (head, flow) in parts.iter().flat_map(|p| &p.summary) {
            comment(&mut out, "", &format!("  {head}"));
            comment(&mut out, "", &format!("    {flow}"));
        }
    }
    out.push_str("set -eu\n\n");
    let function = |out: &mut String, name: &str, lines: &mut dyn Iterator<Item = &String>| {
        let _ = writeln!(out, "{name}() {{");
        // A function body may not be empty in sh.
        out.push_str("\t:\n");
        for l in lines {
            let _ = writeln!(out, "\t{l}");
        }
        out.push_str("}\n\n");
    };
    function(
        &mut out,
        "fwc_doctor_setup",
        &mut parts.iter().flat_map(|p| &p.setup),
    );
    // Removed in the reverse order of setup.
    function(
        &mut out,
        "fwc_doctor_teardown",
        &mut parts.iter().rev().flat_map(|p| &p.teardown),
    );
    let manual: Vec<&Line> = parts.iter().flat_map(|p| &p.manual).collect();
    if !manual.is_empty() {
        comment(
            &mut out,
            "",
            "To install by hand (the script does not change these managers):",
        );
        out.push_str("#\n");
        for l in manual {
            match l {
                Line::Text(t) => comment(&mut out, "", t),
                Line::Verbatim(v) => verbatim(&mut out, v),
                Line::Blank => out.push_str("#\n"),
            }
        }
        out.push('\n');
    }
    out.push_str(
        "case \"${1-}\" in\n\
         '') fwc_doctor_setup ;;\n\
         --teardown) fwc_doctor_teardown ;;\n\
         *)\n\
         \techo \"usage: sh $0 [--teardown]\" >&2\n\
         \texit 2\n\
         \t;;\n\
         esac\n",
    );
    FixScript {
        text: out,
        rules: parts.iter().map(|p| p.rules).sum(),
        manual: parts.iter().flat_map(|p| p.left.clone()).collect(),
    }
}
