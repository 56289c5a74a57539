//! The kernel harness itself: namespaces are private, normalisation hides only
//! what iptables-nft creates on its own, and foreign state is really there.

use fwc_tests::netns::{load_foreign_state, normalise, Netns};
use serde_json::json;

#[test]
fn fresh_namespace_has_an_empty_ruleset() {
    let Some(ns) = Netns::for_test("fresh_namespace_has_an_empty_ruleset") else {
        return;
    };
    assert_eq!(ns.ruleset(), json!({ "nftables": [] }));
}

#[test]
fn empty_builtin_chains_of_iptables_nft_are_normalised_away() {
    let Some(ns) = Netns::for_test("empty_builtin_chains_of_iptables_nft_are_normalised_away")
    else {
        return;
    };
    // Adding and deleting a rule leaves the built-in chains behind, empty.
    for ipv6 in [false, true] {
        for table in ["filter", "nat", "mangle"] {
            let chain = if table == "filter" {
                "INPUT"
            } else {
                "POSTROUTING"
            };
            ns.xtables_restore(ipv6, &format!("*{table}\n-A {chain} -j RETURN\nCOMMIT\n"))
                .unwrap();
            ns.xtables_restore(ipv6, &format!("*{table}\n-D {chain} -j RETURN\nCOMMIT\n"))
                .unwrap();
        }
    }
    assert!(
        ns.ruleset_text().contains("table ip filter"),
        "iptables-nft created its table"
    );
    assert_eq!(ns.ruleset(), json!({ "nftables": [] }));
}

#[test]
fn foreign_state_is_loaded_and_survives_normalisation() {
    let Some(ns) = Netns::for_test("foreign_state_is_loaded_and_survives_normalisation") else {
        return;
    };
    load_foreign_state(&ns);
    let text = serde_json::to_string(&ns.ruleset()).unwrap();
    for needle in [
        "firewalld_like",
        "DOCKER-USER",
        "172.17.0.0",
        "POSTROUTING",
        "ipv6-icmp",
        "\"bridge\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from {text}");
    }
}

#[test]
fn namespaces_do_not_share_rules() {
    let (Some(a), Some(b)) = (
        Netns::for_test("namespaces_do_not_share_rules"),
        Netns::for_test("namespaces_do_not_share_rules"),
    ) else {
        return;
    };
    a.nft_load("table ip only_in_a {}\n").unwrap();
    assert_ne!(a.ruleset(), b.ruleset());
    assert_eq!(b.ruleset(), json!({ "nftables": [] }));
}

#[test]
fn normalise_keeps_rules_and_user_chains_of_xtables_tables() {
    let listing = json!({ "nftables": [
        { "metainfo": { "version": "1.0.6" } },
        { "table": { "family": "ip", "name": "filter", "handle": 1 } },
        { "chain": { "family": "ip", "table": "filter", "name": "INPUT", "handle": 1, "hook": "input", "policy": "accept", "type": "filter", "prio": 0 } },
        { "chain": { "family": "ip", "table": "filter", "name": "FORWARD", "handle": 2, "hook": "forward", "policy": "accept", "type": "filter", "prio": 0 } },
        { "chain": { "family": "ip", "table": "filter", "name": "DOCKER-USER", "handle": 3 } },
        { "rule": { "family": "ip", "table": "filter", "chain": "FORWARD", "handle": 4, "expr": [] } },
        { "table": { "family": "ip", "name": "nat", "handle": 5 } },
        { "chain": { "family": "ip", "table": "nat", "name": "POSTROUTING", "handle": 1, "hook": "postrouting", "policy": "accept", "type": "nat", "prio": 100 } }
    ]});
    assert_eq!(
        normalise(listing),
        json!({ "nftables": [
            { "table": { "family": "ip", "name": "filter" } },
            { "chain": { "family": "ip", "table": "filter", "name": "FORWARD", "hook": "forward", "policy": "accept", "type": "filter", "prio": 0 } },
            { "chain": { "family": "ip", "table": "filter", "name": "DOCKER-USER" } },
            { "rule": { "family": "ip", "table": "filter", "chain": "FORWARD", "expr": [] } }
        ]})
    );
}
