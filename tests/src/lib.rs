//! fwc's end-to-end test support: the libvirt corpus and a kernel harness.
//!
//! [`corpus`] locates libvirt's test data beside the checkout;
//! [`netns`] runs loaders inside throwaway network namespaces so artifacts
//! are checked by the kernel itself, never by a mock.

pub mod corpus;
pub mod netns;
pub mod ruleset;
