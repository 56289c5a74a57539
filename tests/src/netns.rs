//! The kernel harness of the test suites: [`compiler::netns`] plus the
//! policy and conveniences that only tests want.
//!
//! Tests that need a namespace call [`Netns::for_test`]: it returns `None`
//! with a printed reason when the kernel cannot be used (not root, a tool
//! missing), and panics instead when `FWC_REQUIRE_KERNEL=1`, as CI sets it.
//! [`Netns`] here wraps the compiler's namespace so that setup failures panic
//! (a test has no one to report them to) while every other method is the
//! compiler's own.

use std::ops::Deref;

use serde_json::Value as Json;

pub use compiler::netns::*;

/// A private network namespace for a test, deleted on drop.
#[derive(Debug)]
pub struct Netns(compiler::netns::Netns);

impl Netns {
    /// A namespace for `test`, or `None` (after printing why) when the kernel
    /// cannot be used; panics instead when [`required`].
    pub fn for_test(test: &str) -> Option<Netns> {
        may_run(test, unavailable()).then(Netns::new)
    }

    /// Creates a fresh namespace. Panics if `ip netns add` fails.
    pub fn new() -> Netns {
        Netns(compiler::netns::Netns::create("fwc-test").unwrap_or_else(|f| panic!("{f}")))
    }

    /// Creates a bridge called `name` and sets it up; panics on failure.
    pub fn add_bridge(&self, name: &str) {
        self.0.add_bridge(name).unwrap_or_else(|f| panic!("{f}"));
    }

    /// The normalised ruleset (see [`compiler::netns::Netns::ruleset`]);
    /// panics if it cannot be listed.
    pub fn ruleset(&self) -> Json {
        self.0.ruleset().unwrap_or_else(|f| panic!("{f}"))
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Deref for Netns {
    type Target = compiler::netns::Netns;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Foreign state that other software would have put on a host: an `inet`
/// table with a set and base chains, iptables rules in `FORWARD` and
/// `nat POSTROUTING` and a `DOCKER-USER` chain, an ip6tables rule and an
/// ebtables rule. Loaded before fwc's artifacts; teardown must leave it.
pub fn load_foreign_state(ns: &compiler::netns::Netns) {
    ns.nft_load(
        "table inet firewalld_like {\n\
         \tset trusted { type ipv4_addr; elements = { 10.9.8.7 } }\n\
         \tchain filter_INPUT { type filter hook input priority 10; policy accept; ip saddr @trusted accept; }\n\
         \tchain filter_FORWARD { type filter hook forward priority 10; policy accept; ct state established,related accept; }\n\
         }\n",
    )
    .unwrap_or_else(|f| panic!("{f}"));
    ns.xtables_restore(
        false,
        "*filter\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -s 172.17.0.0/16 -j RETURN\nCOMMIT\n\
         *nat\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\nCOMMIT\n",
    )
    .unwrap_or_else(|f| panic!("{f}"));
    ns.xtables_restore(true, "*filter\n-A INPUT -p ipv6-icmp -j ACCEPT\nCOMMIT\n")
        .unwrap_or_else(|f| panic!("{f}"));
    ns.ebtables_restore("*filter\n-A FORWARD -p ARP -j ACCEPT\nCOMMIT\n")
        .unwrap_or_else(|f| panic!("{f}"));
}
