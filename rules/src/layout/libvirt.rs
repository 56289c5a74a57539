//! libvirt's layout (placeholder until lowering lands).
use ir::Ruleset;

use super::{Backend, LowerError};
use crate::network::Network;

/// Lowers networks into libvirt's tables for `backend`.
pub fn lower(_networks: &[Network], _backend: Backend) -> Result<Ruleset, LowerError> {
    Ok(Ruleset::default())
}
