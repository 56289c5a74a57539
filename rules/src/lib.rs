//! libvirt's firewall policy, as pure functions from typed definitions to IR.
//!
//! [`network`] holds the typed `<network>` definition; [`layout`] lowers it to
//! an [`ir::Ruleset`] in one of two layouts: `libvirt` (libvirt's own tables,
//! chains and rule order, per backend) and `fwc` (fwc's own table, the same
//! policy). [`nwfilter`] holds the typed `<filter>` and `<filterbinding>`
//! definitions and instantiates them into concrete rules. This crate knows
//! nothing of XML, the CLI or any target syntax.
#![deny(missing_docs)]

pub mod layout;
pub mod network;
pub mod nwfilter;
