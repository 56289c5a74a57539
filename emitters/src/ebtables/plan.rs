//! What setup and teardown do to one ebtables table, as a list of
//! operations that the restore file and the command lines spell alike.
//!
//! Setup creates fwc's user chains, appends their rules, and inserts the
//! rules that belong in chains fwc does not own (the jumps from built-in
//! chains) at their head, last first, so that they end up in the IR's
//! order. Rules are added in their final order, as libvirt's nwfilter adds
//! its ebtables rules (`-A`), so `Rule::seq` plays no part. Teardown deletes exactly those inserted rules, then flushes every
//! user chain before deleting any (a chain still jumped to by another of
//! fwc's chains cannot be deleted).

use super::model::{EbChain, EbRule, EbTable};

/// What an operation does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verb {
    /// Create a user chain (`-N`).
    NewChain,
    /// Append a rule (`-A`).
    Append,
    /// Insert a rule at the head (`-I`).
    Insert,
    /// Delete a rule (`-D`).
    Delete,
    /// Flush a chain (`-F`).
    Flush,
    /// Delete a user chain (`-X`).
    DeleteChain,
}

impl Verb {
    /// ebtables' option for the verb.
    pub(crate) fn option(self) -> &'static str {
        match self {
            Verb::NewChain => "-N",
            Verb::Append => "-A",
            Verb::Insert => "-I",
            Verb::Delete => "-D",
            Verb::Flush => "-F",
            Verb::DeleteChain => "-X",
        }
    }
}

/// One operation on a chain of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op<'m> {
    /// What it does.
    pub verb: Verb,
    /// On which chain.
    pub chain: &'m EbChain,
    /// The rule, for the rule verbs.
    pub rule: Option<&'m EbRule>,
}

/// Whether setup has anything to do in the table.
pub(crate) fn touches(t: &EbTable) -> bool {
    t.chains.iter().any(|c| c.owned || !c.rules.is_empty())
}

fn op<'m>(verb: Verb, chain: &'m EbChain, rule: Option<&'m EbRule>) -> Op<'m> {
    Op { verb, chain, rule }
}

/// The operations of setup.
pub(crate) fn setup(t: &EbTable) -> Vec<Op<'_>> {
    let mut out: Vec<Op<'_>> = t
        .chains
        .iter()
        .filter(|c| c.owned)
        .map(|c| op(Verb::NewChain, c, None))
        .collect();
    for c in &t.chains {
        if c.owned {
            out.extend(c.rules.iter().map(|r| op(Verb::Append, c, Some(r))));
        } else {
            out.extend(c.rules.iter().rev().map(|r| op(Verb::Insert, c, Some(r))));
        }
    }
    out
}

/// The operations of teardown: exactly what [`setup`] added, removed.
pub(crate) fn teardown(t: &EbTable) -> Vec<Op<'_>> {
    let mut out = Vec::new();
    for c in t.chains.iter().filter(|c| !c.owned) {
        out.extend(c.rules.iter().map(|r| op(Verb::Delete, c, Some(r))));
    }
    let owned = || t.chains.iter().filter(|c| c.owned);
    out.extend(owned().map(|c| op(Verb::Flush, c, None)));
    out.extend(owned().map(|c| op(Verb::DeleteChain, c, None)));
    out
}
