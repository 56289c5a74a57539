//! Lowering of definitions to IR, per layout.

use ir::{Ruleset, Source};

use crate::network::Network;

pub mod fwc;
pub mod libvirt;
mod matches;
mod policy;

/// Which tables, chains and rule order to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Layout {
    /// fwc's own layout: its own table, matching interfaces by name.
    #[default]
    Fwc,
    /// libvirt's layout, exactly as the given libvirt backend installs it.
    Libvirt,
}

/// Which of libvirt's firewall backends the `libvirt` layout copies.
/// Each installs different tables and rules, so it follows from the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// libvirt's nftables backend (`ip`/`ip6 libvirt_network` tables and tc).
    Nft,
    /// libvirt's iptables backend, IPv4 half (`iptables`).
    Iptables,
    /// libvirt's iptables backend, IPv6 half (`ip6tables`).
    Ip6tables,
    /// The ebtables half of libvirt's nwfilter driver; libvirt's network
    /// driver installs nothing with ebtables.
    Ebtables,
}

/// A definition that cannot be lowered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{at}: {message}")]
pub struct LowerError {
    /// The element at fault.
    pub at: Source,
    /// What is wrong, e.g. "a network in mode nat needs `<bridge name=…>`".
    pub message: String,
}

/// Lowers networks, in order, into one ruleset.
pub fn lower_networks(
    networks: &[Network],
    layout: Layout,
    backend: Backend,
) -> Result<Ruleset, LowerError> {
    match layout {
        Layout::Fwc => fwc::lower(networks),
        Layout::Libvirt => libvirt::lower(networks, backend),
    }
}

#[cfg(test)]
mod testing;
