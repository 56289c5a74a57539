//! libvirt's layout: the tables, chains and rules libvirt itself installs,
//! per firewall backend, in the order libvirt runs its commands.
//!
//! libvirt creates its private tables/chains once per host (`base.*` in its
//! tests), then adds each network's rules one command at a time, every rule
//! *inserted* at the head of its chain. The lowering replays that: each
//! [`Provenance::Input`] rule gets the next
//! [`Rule::seq`] in libvirt's emission order and goes to the front of its
//! chain, so `Chain::rules` ends up in run-time order while emitters can
//! still print the commands in libvirt's order. The once-per-host jumps into
//! the private chains are [`Provenance::Layout`]
//! rules without a `seq`.

mod iptables;
mod nft;

use ir::{ChainId, Family, Name, Provenance, Rule, Ruleset, Statement, Table, Verdict};

use super::policy::Plan;
use super::{Backend, LowerError};
use crate::network::Network;

/// Lowers networks into libvirt's tables for `backend`: the private base
/// once, then each network's rules in input order. Networks in modes libvirt
/// does not firewall add nothing; if none is left, the ruleset is empty
/// (libvirt creates its base lazily, with the first network that needs it).
pub fn lower(networks: &[Network], backend: Backend) -> Result<Ruleset, LowerError> {
    let plans = Plan::all(networks)?;
    if plans.is_empty() {
        return Ok(Ruleset::default());
    }
    Ok(match backend {
        Backend::Nft => nft::lower(&plans),
        Backend::Iptables => iptables::lower(&plans, Family::Ip),
        Backend::Ip6tables => iptables::lower(&plans, Family::Ip6),
        Backend::Ebtables => Ruleset::default(),
    })
}

/// A chain of the ruleset being built: table index and chain handle.
#[derive(Debug, Clone, Copy)]
struct At {
    table: usize,
    chain: ChainId,
}

/// A ruleset filled the way libvirt fills it: one insert at a time.
struct Inserts {
    rs: Ruleset,
    next_seq: u32,
}

impl Inserts {
    fn new(rs: Ruleset) -> Self {
        Inserts { rs, next_seq: 0 }
    }

    /// Inserts `rule` at the head of `at` as libvirt's next command.
    fn insert(&mut self, at: At, rule: Rule) {
        let rule = rule.at_seq(self.next_seq);
        self.next_seq += 1;
        self.rs.tables[at.table]
            .chain_mut(at.chain)
            .rules
            .insert(0, rule);
    }

    fn finish(self) -> Ruleset {
        self.rs
    }
}

/// A literal object name.
fn name(text: &str) -> Name {
    Name::new(text).expect("libvirt's object names are valid identifiers")
}

/// Fills `parent` with jumps to `children`, given in run-time order (libvirt
/// inserts them, so it creates them in the reverse order).
fn link(
    table: &mut Table,
    parent: ChainId,
    children: &[ChainId],
    counter: bool,
    why: &'static str,
) {
    let rules = children.iter().map(|&child| {
        let rule = Rule::new(
            Provenance::Layout(why),
            Vec::new(),
            Some(Verdict::Jump(child)),
        );
        if counter {
            rule.with(Statement::Counter)
        } else {
            rule
        }
    });
    table.chain_mut(parent).rules.extend(rules);
}

#[cfg(test)]
mod tests;
