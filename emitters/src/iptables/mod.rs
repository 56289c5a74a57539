//! The iptables/ip6tables targets.
use crate::{Artifact, Error, Options};

/// Emits the tables of `family` of a validated ruleset for iptables or ip6tables.
pub fn emit(_rs: &ir::Ruleset, _family: ir::Family, _opts: &Options) -> Result<Artifact, Error> {
    Err(Error::Unsupported { target: "iptables", reason: "in progress".into() })
}
