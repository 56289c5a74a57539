//! The order in which libvirt instantiates a port's rules
//! (`ebiptablesApplyNewRules`).
//!
//! The rules arrive in collection order (depth first through filterrefs).
//! libvirt sorts them stably: rules of `root`-chain filters first, then by
//! rule priority. Then a rule of another chain whose chain priority is
//! higher than its own priority takes the chain priority, so that it comes
//! no earlier than the sub-chain it lives in is created; the order is not
//! sorted again. ebtables sub-chains are created interleaved with the
//! rules: before a rule of (lifted) priority `p`, every sub-chain not yet
//! created whose priority is at most `p` ([`SubChain`]).

use std::collections::BTreeMap;

use crate::nwfilter::{ChainKind, ChainName, Direction, InstantiatedRule};

/// A rule with the priority libvirt orders it by.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ordered<'a> {
    /// The rule.
    pub rule: &'a InstantiatedRule,
    /// Its priority, lifted to its chain's priority where that is higher.
    pub priority: i32,
}

/// `rules` in libvirt's order.
pub(super) fn sort<'a>(rules: impl IntoIterator<Item = &'a InstantiatedRule>) -> Vec<Ordered<'a>> {
    let mut out: Vec<Ordered<'a>> = rules
        .into_iter()
        .map(|rule| Ordered {
            rule,
            priority: rule.rule.priority,
        })
        .collect();
    // Stable, as glibc's qsort (a merge sort) is in practice.
    out.sort_by_key(|o| (!o.rule.chain.is_root(), o.priority));
    for o in &mut out {
        if !o.rule.chain.is_root() && o.rule.chain_priority > o.priority {
            o.priority = o.rule.chain_priority;
        }
    }
    out
}

/// An ebtables sub-chain of one direction, as libvirt plans its creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SubChain {
    /// The filter chain (`arp`, `stp-xyz`).
    pub chain: ChainName,
    /// The chain's priority (of the last rule of that chain, as libvirt's
    /// hash table keeps it).
    pub priority: i32,
    /// Frames from the guest (`I-`/`J-`) or to it (`O-`/`P-`).
    pub from_guest: bool,
}

/// The sub-chains the ethernet rules `ordered` need, in creation order:
/// by priority, those from the guest before those to it at equal
/// priority, by name within a direction.
pub(super) fn sub_chains(ordered: &[Ordered<'_>]) -> Vec<SubChain> {
    let mut from_guest = BTreeMap::new();
    let mut to_guest = BTreeMap::new();
    for o in ordered {
        let r = o.rule;
        if r.chain.kind() == ChainKind::Root {
            continue;
        }
        let key = r.chain.as_str().to_owned();
        if matches!(r.rule.direction, Direction::Out | Direction::InOut) {
            from_guest.insert(key.clone(), (r.chain.clone(), r.chain_priority));
        }
        if matches!(r.rule.direction, Direction::In | Direction::InOut) {
            to_guest.insert(key, (r.chain.clone(), r.chain_priority));
        }
    }
    let mut out = Vec::new();
    for (set, from_guest) in [(from_guest, true), (to_guest, false)] {
        let mut chains: Vec<SubChain> = set
            .into_values()
            .map(|(chain, priority)| SubChain {
                chain,
                priority,
                from_guest,
            })
            .collect();
        chains.sort_by_key(|c| c.priority);
        out.extend(chains);
    }
    out.sort_by_key(|c| c.priority);
    out
}
