//! Optimiser passes: behaviour-preserving rewrites of the IR.
//!
//! Each pass is a free function over the ruleset, listed once in [`PASSES`]
//! in the order the pipeline runs them; the pipeline validates the ruleset
//! after every pass. Passes run only on fwc's own layout: the libvirt layout
//! must stay exactly what libvirt installs.

use ir::Ruleset;

pub mod dedupe;

/// A pass: rewrites the ruleset in place without changing what it does to
/// any packet.
pub type Pass = fn(&mut Ruleset);

/// Every pass, by name, in the order they run.
pub const PASSES: &[(&str, Pass)] = &[("dedupe", dedupe::run)];

/// Runs every pass in order.
pub fn run_all(rs: &mut Ruleset) {
    for (_, pass) in PASSES {
        pass(rs);
    }
}
