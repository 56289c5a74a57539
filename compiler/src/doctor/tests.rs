//! Unit tests of `fwc doctor`'s analysis: reading live listings, telling
//! fwc's objects from foreign ones, who blocks which flow, drift, and the
//! report. Listings are written in the shapes `nft -j list ruleset`
//! prints; the kernel tests at the end list real namespaces (skipped with a
//! printed reason when not root, failing instead when FWC_REQUIRE_KERNEL=1).

use ir::eval::Decision;
use ir::{Family, Hook, Policy, Provenance};
use serde_json::{json, Value as Json};

use super::analyse::{analyse, manager, Analysis};
use super::compiled::Compiled;
use super::finding::{Blocked, Cause, Diagnosis, Drift, FlowKind, Manager};
use super::flows::Host;
use super::live::Live;
use super::report;
use crate::cli::{LayoutArg, TargetArg};
use crate::netns::Netns;
use crate::readback::nft_json::{complete_from_save, read_live};
use crate::source::SourceFile;

/// libvirt's default NAT network (DHCP on), shared by the compiler's tests.
const DEFAULT: &str = include_str!("../../tests/common/default.xml");

fn compiled(target: TargetArg, layout: LayoutArg) -> Compiled {
    let files = [SourceFile::new("default.xml", DEFAULT)];
    Compiled::new(&files, None, target, layout).expect("default.xml compiles")
}

/// A listing of `objects` (each `{"table": ...}`, `{"chain": ...}` or
/// `{"rule": ...}`), with nft's metainfo first.
fn listing(objects: Vec<Json>) -> String {
    let mut items = vec![json!({ "metainfo": { "version": "1.0.6", "json_schema_version": 1 } })];
    items.extend(objects);
    json!({ "nftables": items }).to_string()
}

fn table(family: &str, name: &str) -> Json {
    json!({ "table": { "family": family, "name": name, "handle": 1 } })
}

fn base(family: &str, t: &str, name: &str, hook: &str, prio: i64, policy: &str) -> Json {
    json!({ "chain": { "family": family, "table": t, "name": name, "handle": 2,
        "type": "filter", "hook": hook, "prio": prio, "policy": policy } })
}

fn regular(family: &str, t: &str, name: &str) -> Json {
    json!({ "chain": { "family": family, "table": t, "name": name, "handle": 3 } })
}

fn rule(family: &str, t: &str, chain: &str, handle: u64, expr: Json) -> Json {
    json!({ "rule": { "family": family, "table": t, "chain": chain, "handle": handle, "expr": expr } })
}

/// A rule of iptables-nft's `ip filter` table.
fn ip_filter(chain: &str, handle: u64, expr: Json) -> Json {
    rule("ip", "filter", chain, handle, expr)
}

/// A rule that counts and jumps to `target`.
fn counted_jump(family: &str, t: &str, chain: &str, handle: u64, target: &str) -> Json {
    rule(family, t, chain, handle, json!([counter(), jump(target)]))
}

fn counter() -> Json {
    json!({ "counter": { "packets": 12, "bytes": 3400 } })
}

fn dport(proto: &str, port: u16) -> Json {
    json!({ "match": { "op": "==", "left": { "payload": { "protocol": proto, "field": "dport" } }, "right": port } })
}

fn jump(target: &str) -> Json {
    json!({ "jump": { "target": target } })
}

/// An empty `inet fwc` table: fwc's own, so left out of the evaluation
/// (the compiled ruleset stands in for it).
fn fwc_table() -> Vec<Json> {
    vec![table("inet", "fwc")]
}

fn analysis(c: &Compiled, text: &str) -> Analysis {
    analysis_on(c, text, &Host::default())
}

fn analysis_on(c: &Compiled, text: &str, host: &Host) -> Analysis {
    let live = Live::read(text).expect("listing reads");
    analyse(c, &live, Err("unit test"), host)
}

/// The analysis of fwc's nft rules for `default.xml` on a host that also
/// holds `foreign`.
fn beside_fwc(foreign: impl IntoIterator<Item = Json>) -> Analysis {
    let c = compiled(TargetArg::Nft, LayoutArg::Fwc);
    let mut objects = fwc_table();
    objects.extend(foreign);
    analysis(&c, &listing(objects))
}

fn flow_kinds(a: &Analysis) -> Vec<(FlowKind, Hook)> {
    a.diagnosis
        .blocked
        .iter()
        .map(|b| (a.diagnosis.flows[b.flow].kind, b.hook))
        .collect()
}

/// iptables-nft's built-in `filter` table as Docker leaves it: FORWARD
/// with policy drop, entering DOCKER-USER first.
fn docker() -> Vec<Json> {
    vec![
        table("ip", "filter"),
        base("ip", "filter", "FORWARD", "forward", 0, "drop"),
        regular("ip", "filter", "DOCKER-USER"),
        counted_jump("ip", "filter", "FORWARD", 11, "DOCKER-USER"),
        ip_filter("DOCKER-USER", 12, json!([counter(), { "return": null }])),
    ]
}

/// A UFW-like nftables table: input policy drop, ssh dropped by a rule.
fn ufwlike() -> Vec<Json> {
    vec![
        table("inet", "ufwlike"),
        base("inet", "ufwlike", "input", "input", 0, "drop"),
        rule(
            "inet",
            "ufwlike",
            "input",
            7,
            json!([dport("tcp", 22), counter(), { "drop": null }]),
        ),
    ]
}

#[test]
fn read_live_keeps_what_it_cannot_read_out_but_listed_with_its_place() {
    let text = listing(vec![
        table("ip", "filter"),
        base("ip", "filter", "INPUT", "input", 0, "accept"),
        regular("ip", "filter", "LIBVIRT_INP"),
        counted_jump("ip", "filter", "INPUT", 7, "LIBVIRT_INP"),
        ip_filter(
            "INPUT",
            30,
            json!([{ "limit": { "rate": 3, "burst": 5, "per": "minute" } }, counter(),
                   { "xt": { "type": "target", "name": "LOG" } }]),
        ),
        ip_filter(
            "INPUT",
            31,
            json!([dport("udp", 67), { "xt": { "type": "match", "name": "comment" } },
                   counter(), { "drop": null }]),
        ),
        table("arp", "filter"),
        table("netdev", "edge"),
        json!({ "chain": { "family": "netdev", "table": "edge", "name": "in", "handle": 1,
            "type": "filter", "hook": "ingress", "prio": 0, "dev": "eth0", "policy": "accept" } }),
        json!({ "flowtable": { "family": "inet", "table": "x", "name": "ft", "hook": "ingress" } }),
    ]);
    let l = read_live(&text).unwrap();
    let texts: Vec<(&str, Option<u64>, bool)> = l
        .rules
        .iter()
        .map(|r| (r.text.as_str(), r.handle, r.unread.is_some()))
        .collect();
    assert_eq!(
        texts,
        [
            ("counter jump LIBVIRT_INP", Some(7), false),
            ("limit rate 3/minute counter xt target LOG", Some(30), true),
            ("udp dport 67 counter drop", Some(31), false),
        ]
    );
    assert!(l
        .skipped
        .iter()
        .any(|s| s.starts_with("arp filter") && s.contains("unknown family 'arp'")));
    assert!(l.skipped.iter().any(|s| s.contains("(flowtable)")));
    let live = Live::read(&text).unwrap();
    let input = live.ruleset().tables[0].chain_id("INPUT").unwrap();
    assert_eq!(live.ruleset().tables[0].chain(input).rules.len(), 2);
    let (position, listed) = live.listed(0, input, 1).unwrap();
    assert_eq!(
        (position, listed.handle),
        (2, Some(31)),
        "the drop is the third rule as listed"
    );
    assert!(read_live("{\"nftables\": 3}").is_err());
    assert!(read_live("not json").is_err());
}

#[test]
fn iptables_save_completes_rules_listed_only_by_xt_names() {
    let conntrack = json!({ "xt": { "type": "match", "name": "conntrack" } });
    let text = listing(vec![
        table("ip", "filter"),
        base("ip", "filter", "FORWARD", "forward", 0, "drop"),
        regular("ip", "filter", "DOCKER-USER"),
        counted_jump("ip", "filter", "FORWARD", 4, "DOCKER-USER"),
        ip_filter(
            "DOCKER-USER",
            5,
            json!([{ "match": { "op": "==", "left": { "meta": { "key": "oifname" } }, "right": "virbr0" } },
                   conntrack, counter(), { "accept": null }]),
        ),
    ]);
    let save = "# Generated by iptables-nft-save v1.8.9 (nf_tables)\n*filter\n:FORWARD DROP [0:0]\n\
                :DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
                -A DOCKER-USER -o virbr0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\nCOMMIT\n";
    let mut l = read_live(&text).unwrap();
    assert!(l.rules[1].unread.is_some());
    complete_from_save(&mut l, Family::Ip, save);
    assert_eq!(l.rules[1].unread, None);
    let t = &l.readback.ruleset.tables[0];
    let user = t.chain(t.chain_id("DOCKER-USER").unwrap());
    assert_eq!(
        crate::readback::render::rule(t, &user.rules[0]),
        "oifname \"virbr0\" ct state related,established accept"
    );
    // A save whose chain holds other rules than the listing's is not used.
    let mut l = read_live(&text).unwrap();
    let other = save.replace("COMMIT", "-A DOCKER-USER -j RETURN\nCOMMIT");
    complete_from_save(&mut l, Family::Ip, &other);
    let again = read_live(&text).unwrap();
    assert_eq!(l.rules, again.rules);
}

#[test]
fn a_clean_host_passes_every_flow() {
    let c = compiled(TargetArg::Nft, LayoutArg::Fwc);
    let a = analysis(&c, &listing(fwc_table()));
    assert!(a.diagnosis.blocked.is_empty(), "{:?}", a.diagnosis.blocked);
    assert_eq!(a.diagnosis.flows.len(), 6);
    assert_eq!(
        report::summary(&a.diagnosis),
        "fwc doctor: all 6 flows pass; no drift"
    );
    assert!(!report::trouble(&a.diagnosis));
    assert!(
        a.notes[0].starts_with("drift not checked: "),
        "{:?}",
        a.notes
    );
}

#[test]
fn an_nftables_input_policy_blocks_dhcp_and_dns_and_names_fwcs_accepting_rule() {
    let a = beside_fwc(ufwlike());
    assert_eq!(
        flow_kinds(&a),
        [
            (FlowKind::Dhcp, Hook::Input),
            (FlowKind::DnsUdp, Hook::Input),
            (FlowKind::DnsTcp, Hook::Input),
        ]
    );
    let b = &a.diagnosis.blocked[0];
    assert_eq!(
        (
            b.family,
            b.table.as_str(),
            b.base_chain.as_str(),
            b.chain.as_str()
        ),
        (Family::Inet, "ufwlike", "input", "input")
    );
    assert_eq!(b.cause, Cause::Policy(Policy::Drop));
    assert_eq!(b.decision, Decision::Drop);
    assert_eq!(b.manager, Manager::Nftables);
    let (prov, text) = b.fwc_rule.clone().expect("fwc's input chain accepts DHCP");
    assert_eq!(prov.to_string(), "default.xml:1:1 <network>");
    assert_eq!(
        text,
        "inet fwc input: iifname \"virbr0\" udp dport { 67, 53 } accept"
    );
    assert_eq!(
        report::by_line(b),
        "inet ufwlike input (hook input, priority 0): policy drop"
    );
    assert_eq!(
        report::summary(&a.diagnosis),
        "fwc doctor: 3 of 6 flows blocked by foreign rules; no drift"
    );
}

#[test]
fn a_foreign_rule_is_named_by_its_place_handle_and_text() {
    let a = beside_fwc([
        table("inet", "hardening"),
        base("inet", "hardening", "input", "input", -10, "accept"),
        regular("inet", "hardening", "services"),
        rule(
            "inet",
            "hardening",
            "input",
            3,
            json!([dport("tcp", 22), { "accept": null }]),
        ),
        rule("inet", "hardening", "input", 4, json!([jump("services")])),
        rule(
            "inet",
            "hardening",
            "services",
            9,
            json!([dport("udp", 53), counter(), { "reject": null }]),
        ),
    ]);
    assert_eq!(flow_kinds(&a), [(FlowKind::DnsUdp, Hook::Input)]);
    let b = &a.diagnosis.blocked[0];
    assert_eq!(b.base_chain, "input");
    assert_eq!(b.chain, "services");
    assert_eq!(b.priority, -10);
    assert_eq!(
        b.cause,
        Cause::Rule {
            index: 0,
            handle: Some(9),
            text: "udp dport 53 counter reject".into()
        }
    );
    assert!(matches!(b.decision, Decision::Reject(_)));
    assert_eq!(
        report::by_line(b),
        "inet hardening input (hook input, priority -10), in chain services: rule 1 (handle 9): udp dport 53 counter reject"
    );
}

#[test]
fn dockers_forward_policy_blocks_nft_forwarding_but_not_fwcs_own_iptables_rules() {
    let a = beside_fwc(docker());
    assert_eq!(
        flow_kinds(&a),
        [
            (FlowKind::GuestToOutside, Hook::Forward),
            (FlowKind::OutsideReplies, Hook::Forward),
        ]
    );
    for b in &a.diagnosis.blocked {
        assert_eq!(
            (b.table.as_str(), b.base_chain.as_str(), &b.cause, b.manager),
            (
                "filter",
                "FORWARD",
                &Cause::Policy(Policy::Drop),
                Manager::Docker
            )
        );
    }
    let (prov, text) = a.diagnosis.blocked[0].fwc_rule.clone().unwrap();
    assert_eq!(prov.to_string(), "default.xml:5:3 <ip>");
    assert_eq!(
        text,
        "inet fwc guest_output: ip saddr 192.168.122.0/24 iifname \"virbr0\" accept"
    );

    // With libvirt's iptables rules the accepts share Docker's FORWARD
    // chain: fwc's jumps are inserted at its head and accept first.
    let c = compiled(TargetArg::Iptables, LayoutArg::Libvirt);
    let mut objects = docker();
    objects.push(regular("ip", "filter", "LIBVIRT_FWO"));
    objects.push(counted_jump("ip", "filter", "FORWARD", 20, "LIBVIRT_FWO"));
    let a = analysis(&c, &listing(objects));
    assert!(a.diagnosis.blocked.is_empty(), "{:?}", a.diagnosis.blocked);
}

#[test]
fn fwcs_rules_keep_their_live_places_in_shared_chains() {
    let c = compiled(TargetArg::Iptables, LayoutArg::Libvirt);
    let iifname = json!({ "match": { "op": "==", "left": { "meta": { "key": "iifname" } }, "right": "virbr0" } });
    let drop_dns = json!([iifname, dport("udp", 53), counter(), { "drop": null }]);
    let input = |drop_first: bool| {
        let mut objects = vec![
            table("ip", "filter"),
            base("ip", "filter", "INPUT", "input", 0, "accept"),
            regular("ip", "filter", "LIBVIRT_INP"),
        ];
        let drop = ip_filter("INPUT", 5, drop_dns.clone());
        let jump = counted_jump("ip", "filter", "INPUT", 6, "LIBVIRT_INP");
        if drop_first {
            objects.extend([drop, jump]);
        } else {
            objects.extend([jump, drop]);
        }
        objects
    };
    // Inserted above fwc's jump (after fwc was loaded), the drop wins.
    let a = analysis(&c, &listing(input(true)));
    assert_eq!(flow_kinds(&a), [(FlowKind::DnsUdp, Hook::Input)]);
    assert_eq!(
        a.diagnosis.blocked[0].cause,
        Cause::Rule {
            index: 0,
            handle: Some(5),
            text: "iifname \"virbr0\" udp dport 53 counter drop".into()
        }
    );
    assert_eq!(a.diagnosis.blocked[0].manager, Manager::Iptables);
    // Below it, fwc's accept comes first.
    let a = analysis(&c, &listing(input(false)));
    assert!(a.diagnosis.blocked.is_empty(), "{:?}", a.diagnosis.blocked);
}

#[test]
fn managers_are_told_apart_by_their_tables_and_chains() {
    let rs = |objects: Vec<Json>| Live::read(&listing(objects)).unwrap().ruleset().clone();
    let d = rs(docker());
    assert_eq!(
        manager(&d.tables[0], Hook::Forward, "FORWARD"),
        Manager::Docker
    );
    assert_eq!(
        manager(&d.tables[0], Hook::Input, "INPUT"),
        Manager::Iptables,
        "DOCKER-USER only sees forwarded packets"
    );
    let u = rs(vec![
        table("ip", "filter"),
        base("ip", "filter", "INPUT", "input", 0, "drop"),
        regular("ip", "filter", "ufw-before-input"),
    ]);
    assert_eq!(manager(&u.tables[0], Hook::Input, "INPUT"), Manager::Ufw);
    let f = rs(vec![
        table("inet", "firewalld"),
        base("inet", "firewalld", "filter_INPUT", "input", 10, "accept"),
    ]);
    assert_eq!(
        manager(&f.tables[0], Hook::Input, "filter_INPUT"),
        Manager::Firewalld
    );
    let own = rs(vec![
        table("ip", "filter"),
        base("ip", "filter", "input", "input", 0, "drop"),
    ]);
    assert_eq!(
        manager(&own.tables[0], Hook::Input, "input"),
        Manager::Nftables,
        "a table called filter with nft-style chains is no iptables table"
    );
    let x = rs(ufwlike());
    assert_eq!(
        manager(&x.tables[0], Hook::Input, "input"),
        Manager::Nftables
    );
}

#[test]
fn unreadable_foreign_rules_are_listed_as_unjudged_and_fwcs_are_not() {
    let c = compiled(TargetArg::Iptables, LayoutArg::Libvirt);
    let reject = json!({ "xt": { "type": "target", "name": "REJECT" } });
    let objects = vec![
        table("ip", "filter"),
        base("ip", "filter", "INPUT", "input", 0, "accept"),
        regular("ip", "filter", "LIBVIRT_FWO"),
        ip_filter(
            "INPUT",
            8,
            json!([{ "xt": { "type": "match", "name": "addrtype" } }, counter(), { "drop": null }]),
        ),
        ip_filter(
            "LIBVIRT_FWO",
            9,
            json!([{ "match": { "op": "==", "left": { "meta": { "key": "iifname" } }, "right": "virbr0" } },
                   counter(), reject]),
        ),
    ];
    let a = analysis(&c, &listing(objects));
    assert_eq!(
        a.diagnosis.unjudged,
        ["ip filter INPUT: rule 1 (handle 8): xt match addrtype counter drop"]
    );
}

#[test]
fn reports_list_blocks_drift_and_a_summary() {
    let mut a = beside_fwc(ufwlike());
    a.diagnosis.drift.push(Drift {
        object: "inet fwc forward".into(),
        problem: "rule missing: jump guest_input".into(),
    });
    a.notes.clear();
    let text = report::human(&a, "fwc doctor default.xml --target nft --fix");
    let first: Vec<&str> = text.lines().take(3).collect();
    assert_eq!(
        first,
        [
            "blocked: guest → host DHCP, udp/67 (default: virbr0 192.168.122.0/24)",
            "  by: inet ufwlike input (hook input, priority 0): policy drop [managed by nftables]",
            "  fwc accepts it: inet fwc input: iifname \"virbr0\" udp dport { 67, 53 } accept  (default.xml:1:1 <network>)",
        ]
    );
    // The fix is offered once, after every block.
    let fixes: Vec<&str> = text.lines().filter(|l| l.starts_with("fix: ")).collect();
    assert_eq!(
        fixes,
        ["fix: fwc doctor default.xml --target nft --fix > fix.sh   (read it, then: sh fix.sh; undo: sh fix.sh --teardown)"]
    );
    let tail: Vec<&str> = text.lines().rev().take(2).collect();
    assert_eq!(
        tail,
        [
            "fwc doctor: 3 of 6 flows blocked by foreign rules; 1 drift finding",
            "drift: inet fwc forward: rule missing: jump guest_input",
        ]
    );
    let j = report::json(&a);
    assert_eq!(j["ok"], false);
    assert_eq!(j["blocked"].as_array().unwrap().len(), 3);
    assert_eq!(j["blocked"][0]["cause"], json!({ "policy": "drop" }));
    assert_eq!(j["blocked"][0]["manager"], "nftables");
    assert_eq!(j["flows"][2]["kind"], "dhcp");
    assert_eq!(
        j["flows"][2]["allow"],
        json!(["iifname \"virbr0\"", "udp dport 67"])
    );
    assert_eq!(
        report::summary(&Diagnosis::default()),
        "fwc doctor: the inputs need no flows; no drift"
    );
}

#[test]
fn a_blocked_flow_or_drift_is_trouble() {
    let mut d = Diagnosis::default();
    assert!(!report::trouble(&d));
    d.drift.push(Drift {
        object: "inet fwc".into(),
        problem: "missing: fwc's ruleset is not loaded".into(),
    });
    assert!(report::trouble(&d));
    let mut d = Diagnosis::default();
    d.blocked.push(Blocked {
        flow: 0,
        hook: Hook::Input,
        family: Family::Inet,
        table: "t".into(),
        base_chain: "c".into(),
        chain: "c".into(),
        priority: 0,
        decision: Decision::Drop,
        cause: Cause::Policy(Policy::Drop),
        manager: Manager::Nftables,
        fwc_rule: Some((Provenance::Layout("x"), "r".into())),
    });
    assert!(report::trouble(&d));
}

/// Whether the kernel can be used; prints why not, or panics when
/// `FWC_REQUIRE_KERNEL=1` (as CI sets it).
fn kernel(test: &str) -> bool {
    let why = crate::netns::missing(&["ip", "nft", "iptables-restore"]);
    crate::netns::may_run(test, why)
}

/// A namespace with fwc's setup of `c` loaded (and its bridges).
fn loaded(c: &Compiled) -> Netns {
    let ns = Netns::create("fwc-doctor-test").unwrap();
    for i in &c.interfaces {
        ns.add_bridge(i).unwrap();
    }
    for (t, text) in &c.setups {
        ns.load(*t, text).unwrap();
    }
    ns
}

/// The analysis of a namespace's live ruleset, as `fwc doctor` runs it.
fn live_analysis(c: &Compiled, ns: &Netns) -> Analysis {
    let text = ns.run("nft", &["-j", "list", "ruleset"], None).unwrap();
    let saves = super::live::saves(&|tool| ns.run(tool, &[], None).ok());
    let live = Live::read_with_saves(&text, &saves).unwrap();
    let expected = super::live::expected(c).expect("fwc's setup loads");
    analyse(c, &live, Ok(&expected), &Host::default())
}

#[test]
fn kernel_foreign_tables_block_and_drift_is_named() {
    if !kernel("kernel_foreign_tables_block_and_drift_is_named") {
        return;
    }
    let c = compiled(TargetArg::Nft, LayoutArg::Fwc);
    let ns = loaded(&c);
    let a = live_analysis(&c, &ns);
    assert_eq!(
        report::summary(&a.diagnosis),
        "fwc doctor: all 6 flows pass; no drift",
        "{}",
        report::human(&a, "")
    );
    assert!(a.notes.is_empty(), "{:?}", a.notes);

    ns.nft_load(
        "table inet ufwlike {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\
         \t\ttcp dport 22 counter drop\n\t}\n}\n",
    )
    .unwrap();
    ns.xtables_restore(false, "*filter\n:FORWARD DROP [0:0]\nCOMMIT\n")
        .unwrap();
    let a = live_analysis(&c, &ns);
    assert_eq!(
        flow_kinds(&a),
        [
            (FlowKind::GuestToOutside, Hook::Forward),
            (FlowKind::OutsideReplies, Hook::Forward),
            (FlowKind::Dhcp, Hook::Input),
            (FlowKind::DnsUdp, Hook::Input),
            (FlowKind::DnsTcp, Hook::Input),
        ]
    );
    let by: Vec<String> = a.diagnosis.blocked.iter().map(report::by_line).collect();
    assert_eq!(
        by[0],
        "ip filter FORWARD (hook forward, priority 0): policy drop"
    );
    assert_eq!(
        by[2],
        "inet ufwlike input (hook input, priority 0): policy drop"
    );
    assert_eq!(a.diagnosis.blocked[0].manager, Manager::Iptables);
    assert!(a.diagnosis.drift.is_empty(), "{:?}", a.diagnosis.drift);

    // Drift: one of fwc's rules deleted, by its handle.
    let listing = ns
        .run(
            "nft",
            &["-a", "list", "chain", "inet", "fwc", "forward"],
            None,
        )
        .unwrap();
    let handle = listing
        .lines()
        .find(|l| l.contains("jump guest_input"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .to_owned();
    ns.run(
        "nft",
        &[
            "delete", "rule", "inet", "fwc", "forward", "handle", &handle,
        ],
        None,
    )
    .unwrap();
    let a = live_analysis(&c, &ns);
    assert_eq!(
        a.diagnosis.drift,
        [Drift {
            object: "inet fwc forward".into(),
            problem: "rule missing: jump guest_input".into()
        }]
    );
}

#[test]
fn kernel_libvirt_iptables_rules_are_recognised_in_shared_chains() {
    if !kernel("kernel_libvirt_iptables_rules_are_recognised_in_shared_chains") {
        return;
    }
    let c = compiled(TargetArg::Iptables, LayoutArg::Libvirt);
    let ns = loaded(&c);
    ns.xtables_restore(
        false,
        "*filter\n:FORWARD DROP [0:0]\n:DOCKER-USER - [0:0]\n-A FORWARD -j DOCKER-USER\n\
         -A DOCKER-USER -j RETURN\n-A INPUT -p udp --dport 53 -m comment --comment x -j DROP\nCOMMIT\n",
    )
    .unwrap();
    let a = live_analysis(&c, &ns);
    // fwc's jumps sit at the head of INPUT and FORWARD and accept first.
    assert!(a.diagnosis.blocked.is_empty(), "{}", report::human(&a, ""));
    assert!(a.diagnosis.drift.is_empty(), "{:?}", a.diagnosis.drift);
    assert!(
        a.diagnosis.unjudged.is_empty(),
        "{:?}",
        a.diagnosis.unjudged
    );
    // Without fwc's ip tables at all, that is drift, and the flows are
    // still judged with the compiled rules in place.
    let empty = Netns::create("fwc-doctor-test").unwrap();
    let a = live_analysis(&c, &empty);
    assert!(
        a.diagnosis
            .drift
            .iter()
            .any(|d| d.object == "ip filter" && d.problem.starts_with("missing")),
        "{:?}",
        a.diagnosis.drift
    );
    assert!(a.diagnosis.blocked.is_empty());
}

/// Every corpus network, for every target and layout: fwc's own compiled
/// rules let through every flow the analysis says the network needs (so
/// the flows ask for nothing libvirt's rules refuse), and nothing is
/// reported on a host without foreign rules.
#[test]
fn fwcs_own_rules_pass_every_flow_of_every_corpus_network() {
    let dirs = [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/corpus/libvirt/network-xml"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/corpus/libvirt/network"
        ),
    ];
    // With br_netfilter on, so guest ↔ guest flows are checked too.
    let bridged = Host {
        bridge_nf: super::flows::BridgeNf { v4: true, v6: true },
        ..Host::default()
    };
    let mut checked = 0;
    for dir in dirs {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "xml"))
            .collect();
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).unwrap();
            let files = [SourceFile::new(path.display().to_string(), text)];
            for target in [TargetArg::Nft, TargetArg::Iptables] {
                for layout in [LayoutArg::Fwc, LayoutArg::Libvirt] {
                    // Inputs the compiler refuses (on purpose) have no flows.
                    let Ok(c) = Compiled::new(&files, None, target, layout) else {
                        continue;
                    };
                    let a = analysis_on(&c, &listing(Vec::new()), &bridged);
                    assert!(
                        a.diagnosis.blocked.is_empty() && a.diagnosis.drift.is_empty(),
                        "{} {target:?} {layout:?}: {}",
                        path.display(),
                        report::human(&a, "")
                    );
                    checked += a.diagnosis.flows.len();
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} flows checked");
}

/// A flow fwc's own rules refuse is reported (a bug in fwc or its flows),
/// and foreign chains after it are still judged.
#[test]
fn fwcs_own_drops_are_reported_apart_from_foreign_blocks() {
    let mut c = compiled(TargetArg::Nft, LayoutArg::Fwc);
    let t = &mut c.readback.ruleset.tables[0];
    let input = t.chain_id("input").unwrap();
    t.chain_mut(input).rules.insert(
        0,
        ir::Rule::new(
            Provenance::Layout("test"),
            vec![ir::Match::eq(
                ir::Field::Dport(ir::L4Proto::Udp),
                ir::Value::Ports(ir::PortRange { start: 67, end: 67 }),
            )],
            Some(ir::Verdict::Drop),
        ),
    );
    let mut objects = fwc_table();
    objects.extend(ufwlike());
    let a = analysis(&c, &listing(objects));
    assert_eq!(
        a.diagnosis.drift,
        [Drift {
            object: "inet fwc input".into(),
            problem: "fwc's own rules drop guest → host DHCP, udp/67 (default: virbr0 192.168.122.0/24) at the input hook, which the inputs must allow".into()
        }]
    );
    assert_eq!(flow_kinds(&a)[0], (FlowKind::Dhcp, Hook::Input));
}
