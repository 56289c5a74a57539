//! fwc's compiler: front ends, optimiser passes, diagnostics and the CLI
//! behind the `fwc` binary.
//!
//! [`pipeline`] ties the crates together: XML inputs are read by the
//! [`front`] ends into `rules` definitions, lowered to an `ir::Ruleset`,
//! validated, rewritten by the [`passes`], and printed by `emitters`.
//! Every problem on the way becomes a [`diagnostics::Diagnostic`] that points
//! into the input.
#![deny(missing_docs)]

pub mod bundle;
pub mod check;
pub mod cli;
pub mod cli_assets;
pub mod diagnostics;
pub mod diff;
pub mod doctor;
pub mod explain;
pub mod front;
pub mod netns;
pub mod passes;
pub mod pipeline;
pub mod readback;
pub mod semantic;
pub mod source;

pub use diagnostics::{Diagnostic, Diagnostics};
pub use pipeline::{compile_paths, compile_sources, Options, Output};
