//! Lowering of resolved nwfilter rules, bound to guest ports, to IR.
//!
//! The input is one [`Port`] per bound interface: its name, its MAC and the
//! concrete rules [`crate::nwfilter::resolve`] produced for it, in libvirt's
//! collection order. Each layout/backend pair has its own module:
//! `ebiptables` (libvirt's ebtables + iptables/ip6tables driver), `libvirt_nft`
//! (libvirt's nftables nwfilter driver) and `fwc` (fwc's native bridge layout).

use ir::{Ifname, MacAddr, Ruleset, Source};

use super::InstantiatedRule;
use crate::layout::{Backend, Layout, LowerError};

pub mod ebiptables;
pub mod fwc;
mod l2_fields;
pub mod libvirt_nft;
mod nft_shared;

/// One guest interface with the filter rules bound to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The tap device (`vnet0`).
    pub ifname: Ifname,
    /// The guest's MAC, when known (a `<filterbinding>` always has one).
    pub mac: Option<MacAddr>,
    /// Concrete rules in libvirt's collection order (not yet sorted by priority).
    pub rules: Vec<InstantiatedRule>,
    /// The `<filterbinding>` or root `<filter>` element.
    pub source: Source,
}

/// Lowers bound ports, in order, into one ruleset for `layout` and `backend`.
pub fn lower(ports: &[Port], layout: Layout, backend: Backend) -> Result<Ruleset, LowerError> {
    match (layout, backend) {
        (Layout::Libvirt, Backend::Nft) => libvirt_nft::lower(ports),
        (Layout::Libvirt, backend) => ebiptables::lower(ports, backend),
        (Layout::Fwc, _) => fwc::lower(ports),
    }
}
