//! fwc's end-to-end test support: the libvirt corpus and a kernel harness.
//!
//! [`corpus`] locates libvirt's test data beside the checkout;
//! [`netns`] runs loaders inside throwaway network namespaces so artifacts
//! are checked by the kernel itself, never by a mock; [`topology`] joins
//! namespaces into a host with guests and an outside machine, so the rules
//! are also judged by what they do to real connections.

pub mod corpus;
pub mod expected;
pub mod generate;
pub mod netns;
pub mod nwfilter;
pub mod ports;
pub mod ruleset;
pub mod topology;
