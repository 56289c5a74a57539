//! `ebtables` command lines, one per output line, as libvirt's nwfilter
//! runs them (`ebtables --concurrent -t nat -N libvirt-I-vnet0`, `-A ...`).
//!
//! The operations are the restore file's ([`super::plan`]). A user chain
//! gets its policy with `-P` right after its creation: `-N` gives it
//! `ACCEPT`, which would accept what falls off its end instead of
//! returning it.

use super::model::{EbTable, Model};
use super::plan::{self, Op, Verb};
use crate::quote;

fn argv(t: &EbTable, words: &[&str]) -> Vec<String> {
    ["ebtables", "--concurrent", "-t", t.name]
        .iter()
        .chain(words)
        .map(|w| (*w).to_owned())
        .collect()
}

fn lines(m: &Model, ops: fn(&EbTable) -> Vec<Op<'_>>) -> String {
    let mut out = Vec::new();
    for t in &m.tables {
        for op in ops(t) {
            let c = op.chain;
            let mut a = argv(t, &[op.verb.option(), &c.name]);
            if let Some(r) = op.rule {
                a.extend(r.args.iter().map(|x| x.argv().to_owned()));
            }
            out.push(a);
            if op.verb == Verb::NewChain {
                out.push(argv(t, &["-P", &c.name, c.policy]));
            }
        }
    }
    out.iter().map(|a| quote::command_line(a) + "\n").collect()
}

/// The setup commands.
pub(crate) fn setup(m: &Model) -> String {
    lines(m, plan::setup)
}

/// The teardown commands: remove exactly what [`setup`] added.
pub(crate) fn teardown(m: &Model) -> String {
    lines(m, plan::teardown)
}
