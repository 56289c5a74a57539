//! Optimiser passes: behaviour-preserving rewrites of the IR.
//!
//! Each pass is a free function over the ruleset, in its own module, listed
//! once in [`PASSES`] in the order the pipeline runs them; the pipeline
//! validates the ruleset after every pass. Passes run only on fwc's own
//! layout (`-O1`, the default; `-O0` skips them): the libvirt layout must
//! stay exactly what libvirt installs. What "behaviour" means is the
//! evaluator's (`ir::eval`): every packet gets the same verdict and the same
//! NAT at every hook, and each base chain decides it by a rule or by its
//! policy as before; `compiler/tests/passes_prop.rs` checks that on random
//! rulesets and packets for each pass and for the whole list.
//!
//! The passes are generic: nothing in them knows fwc's layout. On it, the
//! order below turns per-network rules into constant-length chains: shapes
//! repeated per bridge merge into sets, `iifname . oifname` pairs become one
//! verdict map, the rest splits into a chain per bridge or subnet behind a
//! verdict map, and maps and sets of interfaces get names of their own.

use ir::Ruleset;

mod analysis;
pub mod dedupe;
pub mod dispatch;
pub mod merge;
pub mod named;
mod naming;
pub mod shadow;
pub mod unreachable;
pub mod vmap;

/// A pass: rewrites the ruleset in place without changing what it does to
/// any packet.
pub type Pass = fn(&mut Ruleset);

/// Every pass, by name, in the order they run.
pub const PASSES: &[(&str, Pass)] = &[
    ("dedupe", dedupe::run),
    ("shadow", shadow::run),
    ("merge", merge::run),
    ("vmap", vmap::run),
    ("dispatch", dispatch::run),
    ("named", named::run),
    ("unreachable", unreachable::run),
];

/// Runs every pass in order.
pub fn run_all(rs: &mut Ruleset) {
    for (_, pass) in PASSES {
        pass(rs);
    }
}

/// The pass called `name`.
pub fn by_name(name: &str) -> Option<Pass> {
    PASSES.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_is_listed_once_in_order() {
        let names: Vec<_> = PASSES.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "dedupe",
                "shadow",
                "merge",
                "vmap",
                "dispatch",
                "named",
                "unreachable"
            ]
        );
        assert!(by_name("merge").is_some());
        assert!(by_name("inline").is_none());
    }
}
