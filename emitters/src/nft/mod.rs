//! The nft target: an `nft -f` script, or `nft`/`tc` command lines.
use crate::{Artifact, Error, Options};

/// Emits a validated ruleset for nft.
pub fn emit(_rs: &ir::Ruleset, _opts: &Options) -> Result<Artifact, Error> {
    Err(Error::Unsupported { target: "nft", reason: "in progress".into() })
}
