//! `ebtables` command lines, one per output line, as libvirt's nwfilter
//! runs them (`ebtables --concurrent -t nat -N libvirt-I-vnet0`, `-A ...`).
//!
//! The operations are the restore file's ([`super::plan`]). A user chain
//! gets its policy with `-P` right after its creation: `-N` gives it
//! `ACCEPT`, which would accept what falls off its end instead of
//! returning it. Tables built by appends (libvirt's nwfilter chains,
//! [`ir::Commands::Append`]) are written by [`crate::appended`] instead,
//! chain by chain and rule by rule in libvirt's order.

use super::model::{EbTable, Model};
use super::plan::{self, Op, Verb};
use crate::{appended, quote, xtables};

fn argv(t: &EbTable, words: &[&str]) -> Vec<String> {
    ["ebtables", "--concurrent", "-t", t.name]
        .iter()
        .chain(words)
        .map(|w| (*w).to_owned())
        .collect()
}

/// A table built by appends, for [`appended`].
fn appended_table(t: &EbTable) -> appended::Table {
    xtables::appended_table(t, argv(t, &[]), |r| xtables::RuleView {
        args: &r.args,
        staged: &r.staged,
        seq: r.seq,
        enters: r.enters.as_deref(),
        input: matches!(r.provenance, ir::Provenance::Input(_)),
    })
}

fn lines(
    m: &Model,
    ops: fn(&EbTable) -> Vec<Op<'_>>,
    sequence: fn(&appended::Table) -> Vec<Vec<String>>,
) -> String {
    let mut out = Vec::new();
    for t in &m.tables {
        if t.steps.is_some() {
            out.extend(sequence(&appended_table(t)));
            continue;
        }
        for op in ops(t) {
            let c = op.chain;
            let mut a = argv(t, &[op.verb.option(), &c.name]);
            if let Some(r) = op.rule {
                a.extend(r.args.iter().map(|x| x.argv().to_owned()));
            }
            out.push(a);
            if op.verb == Verb::NewChain {
                out.push(argv(t, &["-P", &c.name, c.policy.unwrap_or("RETURN")]));
            }
        }
    }
    out.iter().map(|a| quote::command_line(a) + "\n").collect()
}

/// The setup commands.
pub(crate) fn setup(m: &Model) -> String {
    lines(m, plan::setup, appended::setup)
}

/// The teardown commands: remove exactly what [`setup`] added.
pub(crate) fn teardown(m: &Model) -> String {
    lines(m, plan::teardown, appended::teardown)
}
