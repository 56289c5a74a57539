//! fwc's own layout (placeholder until lowering lands).
use ir::Ruleset;

use super::LowerError;
use crate::network::Network;

/// Lowers networks into fwc's own table.
pub fn lower(_networks: &[Network]) -> Result<Ruleset, LowerError> {
    Ok(Ruleset::default())
}
