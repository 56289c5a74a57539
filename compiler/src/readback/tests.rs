//! Round trips (IR -> emitter -> readback) on the corpus, and each reader
//! on hand-written input.

use ir::eval::{evaluate, Decision, Packet};
use ir::{ChainKind, Family, Hook, L4Proto, Ruleset, Statement, Verdict};
use rules::layout::Layout;

use super::*;
use crate::diff::semantic::compare;
use crate::pipeline::{compile_sources, Options};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/corpus/libvirt/network"
);

fn corpus() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(CORPUS)
        .expect("the corpus is readable")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect();
    out.sort();
    assert_eq!(out.len(), 11, "the corpus has 11 networks");
    out
}

fn compile(
    input: &(String, String),
    target: emitters::Target,
    layout: Layout,
) -> crate::pipeline::Output {
    let opts = Options {
        target,
        layout,
        ..Options::default()
    };
    compile_sources(std::slice::from_ref(input), &opts)
        .unwrap_or_else(|d| panic!("{} compiles: {d:?}", input.0))
}

/// The ruleset without what an nft script leaves out (checksum fills) and
/// what no artifact carries (libvirt's command sequence numbers).
fn as_scripted(mut rs: Ruleset) -> Ruleset {
    for t in &mut rs.tables {
        for c in &mut t.chains {
            c.rules
                .retain(|r| !r.statements.contains(&Statement::ChecksumFill));
            c.rules.iter_mut().for_each(|r| r.seq = None);
        }
    }
    rs
}

fn assert_same_behaviour(what: &str, a: &Readback, b: &Readback) {
    let cmp = compare(a, b, 5_000);
    assert!(cmp.packets > 0, "{what}: no packets compared");
    assert!(
        cmp.differences.is_empty(),
        "{what}:\n{}",
        crate::diff::semantic::report(&cmp, ["original", "read back"], [a, b])
    );
}

/// Every corpus network, in both layouts, emitted for `target` and read
/// back as `format`, is the ruleset it was emitted from; with `behaves`,
/// the two also behave the same.
fn nft_round_trip(target: emitters::Target, format: Format, behaves: bool) {
    for input in corpus() {
        for layout in [Layout::Fwc, Layout::Libvirt] {
            let out = compile(&input, target, layout);
            let back = read(format, &out.artifact.text)
                .unwrap_or_else(|e| panic!("{} {layout:?}: {e}", input.0));
            assert_eq!(
                back.ruleset,
                as_scripted(out.ruleset.clone()),
                "{} {layout:?}",
                input.0
            );
            if behaves {
                assert_same_behaviour(&input.0, &Readback::from(out.ruleset), &back);
            }
        }
    }
}

#[test]
fn nft_scripts_read_back_to_the_ruleset_they_were_emitted_from() {
    nft_round_trip(emitters::Target::Nft, Format::NftText, true);
}

#[test]
fn nft_json_reads_back_to_the_ruleset_it_was_emitted_from() {
    nft_round_trip(emitters::Target::NftJson, Format::NftJson, false);
}

#[test]
fn iptables_and_ip6tables_read_back_to_what_fwc_layout_does() {
    for input in corpus() {
        let v4 = compile(&input, emitters::Target::Iptables, Layout::Fwc);
        let v6 = compile(&input, emitters::Target::Ip6tables, Layout::Fwc);
        let back = read(Format::Iptables, &v4.artifact.text)
            .unwrap()
            .merge(read(Format::Ip6tables, &v6.artifact.text).unwrap());
        assert_same_behaviour(&input.0, &Readback::from(v4.ruleset), &back);
        // Every rule kept its provenance comment.
        assert!(back
            .ruleset
            .rules()
            .all(|(_, _, r)| r.provenance != provenance::UNKNOWN));
    }
}

/// libvirt's iptables rules live in built-in chains the IR models as
/// external regular chains; read back, those are base chains.
fn with_builtin_hooks(mut rs: Ruleset) -> Ruleset {
    for t in &mut rs.tables {
        for c in &mut t.chains {
            let hook = match c.name.as_str() {
                "INPUT" => Hook::Input,
                "FORWARD" => Hook::Forward,
                "OUTPUT" => Hook::Output,
                "POSTROUTING" => Hook::Postrouting,
                "PREROUTING" => Hook::Prerouting,
                _ => continue,
            };
            let (ty, priority) = match (t.name.as_str(), hook) {
                ("nat", Hook::Postrouting | Hook::Input) => (ir::ChainType::Nat, 100),
                ("nat", _) => (ir::ChainType::Nat, -100),
                ("mangle", _) => (ir::ChainType::Filter, -150),
                _ => (ir::ChainType::Filter, 0),
            };
            c.kind = ChainKind::Base {
                hook,
                ty,
                priority,
                policy: ir::Policy::Accept,
            };
        }
    }
    rs
}

#[test]
fn libvirt_iptables_reads_back_to_what_it_was_emitted_from() {
    for input in corpus() {
        for target in [emitters::Target::Iptables, emitters::Target::Ip6tables] {
            let out = compile(&input, target, Layout::Libvirt);
            let back = read(Format::of(target), &out.artifact.text).unwrap();
            assert_same_behaviour(
                &input.0,
                &Readback::from(with_builtin_hooks(out.ruleset)),
                &back,
            );
        }
    }
}

#[test]
fn nft_text_reads_sets_maps_and_every_statement() {
    let script = r#"# generated by fwc; load with: nft -f FILE
table inet t {}
delete table inet t
table inet t {
	set bridges {
		type ifname
		elements = { "virbr0", "virbr1" }
	}
	map by_pair {
		type ifname . ipv4_addr : verdict
		flags interval
		elements = { "virbr0" . 192.168.122.0/24 : jump guests, "x" . 10.0.0.1 : goto guests }
	}
	chain forward {
		type filter hook forward priority filter; policy drop;
		# net.xml:3:3 <bridge>
		ct state related,established counter packets 0 bytes 0 accept
		# layout: dispatch
		iifname @bridges jump guests
		iifname . ip saddr vmap @by_pair
		oifname vmap { "a" : jump guests, "b" : drop }
		meta l4proto udp udp dport { 53, 67-68 } ip daddr != 10.0.0.0/8 accept
		tcp dport 22 reject with tcp reset
		reject with icmpx type admin-prohibited
		# left out: something
		continue
	}
	chain guests {
		ether saddr 52:54:00:00:00:01 log prefix "fwc: " return comment "mine"
	}
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		meta l4proto tcp ip saddr 10.0.0.0/8 snat ip to 10.0.0.1-10.0.0.5:1024-65535
		masquerade to :1024-65535
	}
}
"#;
    let rb = read(Format::NftText, script).unwrap();
    let t = &rb.ruleset.tables[0];
    assert_eq!(t.family, Family::Inet);
    let names: Vec<&str> = t.chains.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["forward", "guests", "post"], "declaration order");
    let fwd = &t.chains[0];
    assert!(matches!(
        fwd.kind,
        ChainKind::Base {
            priority: 0,
            policy: ir::Policy::Drop,
            ..
        }
    ));
    assert_eq!(fwd.rules.len(), 8);
    assert_eq!(fwd.rules[0].provenance.to_string(), "net.xml:3:3 <bridge>");
    assert_eq!(fwd.rules[1].provenance.to_string(), "layout: dispatch");
    assert_eq!(fwd.rules[2].provenance, provenance::UNKNOWN);
    assert_eq!(
        fwd.rules[7].provenance,
        provenance::UNKNOWN,
        "after a remark"
    );
    assert_eq!(fwd.rules[1].verdict, Some(Verdict::Jump(ir::ChainId(1))));
    assert_eq!(t.maps[0].elements[1].1, Verdict::Goto(ir::ChainId(1)));
    assert_eq!(
        rb.rule_text(0, ir::ChainId(0), 5),
        "tcp dport 22 reject with tcp reset"
    );
    let post = &t.chains[2];
    assert!(matches!(post.kind, ChainKind::Base { priority: 100, .. }));
    assert_eq!(
        render::rule(t, &post.rules[0]),
        "meta l4proto tcp ip saddr 10.0.0.0/8 snat to 10.0.0.1-10.0.0.5:1024-65535"
    );
    assert_eq!(
        render::rule(t, &t.chains[1].rules[0]),
        "ether saddr 52:54:00:00:00:01 log prefix \"fwc: \" return comment \"mine\""
    );
    // Behaviour: DNS from virbr1 is accepted through the set and the port set.
    let mut p = Packet::ipv4("192.168.122.5", "192.168.122.1").iif("virbr1");
    p = p.l4(L4Proto::Udp, 53);
    let o = evaluate(&rb.ruleset, Hook::Forward, &p);
    assert_eq!(o.decision, Decision::Accept);
    let ssh = Packet::ipv4("10.0.0.1", "10.0.0.2")
        .iif("eth0")
        .l4(L4Proto::Tcp, 22);
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Forward, &ssh).decision,
        Decision::Reject(ir::RejectKind::TcpReset)
    );
}

#[test]
fn nft_text_and_json_read_bridge_and_header_fields() {
    let script = "table bridge b {\n\tchain c {\n\t\ttype filter hook forward priority -200; policy accept;\n\
                  \t\tether type 2054 arp operation 1 arp saddr ip 10.0.0.1 arp daddr ether 52:54:00:00:00:02 drop\n\
                  \t\tvlan id 5-7 ip dscp 46 icmp type 8 ct direction reply accept\n\
                  \t\tip saddr 10.0.0.1-10.0.0.9 return\n\t}\n}\n";
    let rb = read(Format::NftText, script).unwrap();
    let t = &rb.ruleset.tables[0];
    use ir::{ArpField, Field, IntRange, Value};
    let fields: Vec<Field> = t.chains[0].rules[0]
        .matches
        .iter()
        .map(|m| m.field)
        .collect();
    assert_eq!(
        fields,
        [
            Field::EtherType,
            Field::Arp(ArpField::Opcode),
            Field::Arp(ArpField::SenderIp),
            Field::Arp(ArpField::TargetMac)
        ]
    );
    let second = &t.chains[0].rules[1].matches;
    assert_eq!(second[0].value, Value::Int(IntRange::new(5, 7).unwrap()));
    assert_eq!(second[2].field, Field::IcmpType(ir::IpFamily::V4));
    assert_eq!(second[3].value, Value::CtDir(ir::CtDirection::Reply));
    assert!(matches!(
        t.chains[0].rules[2].matches[0].value,
        Value::AddrRange(_)
    ));

    let json = r#"{"nftables": [{"add": {"table": {"family": "bridge", "name": "b"}}},
        {"add": {"chain": {"family": "bridge", "table": "b", "name": "c"}}},
        {"add": {"rule": {"family": "bridge", "table": "b", "chain": "c", "expr": [
          {"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "arp"}},
          {"match": {"op": "==", "left": {"payload": {"protocol": "arp", "field": "saddr ip"}}, "right": {"range": ["10.0.0.1", "10.0.0.9"]}}},
          {"match": {"op": "!=", "left": {"ct": {"key": "direction"}}, "right": "original"}},
          {"drop": null}]}}}]}"#;
    let rb = read(Format::NftJson, json).unwrap();
    let m = &rb.ruleset.tables[0].chains[0].rules[0].matches;
    assert_eq!(m[0].value, Value::Int(IntRange::single(0x0806)));
    assert!(matches!(m[1].value, Value::AddrRange(_)));
    assert_eq!(m[2].op, ir::CmpOp::Ne);
}

#[test]
fn nft_text_errors_name_the_line() {
    for (script, line, what) in [
        (
            "table ip t {\n\tchain c {\n\t\tiifname \"a\" frobnicate\n\t}\n}\n",
            3,
            "frobnicate",
        ),
        (
            "table ip t {\n\tchain c {\n\t\tjump nowhere\n\t}\n}\n",
            0,
            "never declared",
        ),
        ("table ip t {\n\tchain c {\n", 2, "ends inside a block"),
        ("flush everything\n", 1, "expected a table"),
        (
            "table ip t {\n\tchain c {\n\t\tip saddr 2001:db8::1 accept\n\t}\n}\n",
            3,
            "not an IPv4",
        ),
    ] {
        let e = read(Format::NftText, script).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
}

/// What `nft -j list ruleset` printed (nft 1.0.6) for a table with sets,
/// maps, NAT and rejects.
const LISTED: &str = r#"{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}},
{"table": {"family": "inet", "name": "t", "handle": 3}},
{"set": {"family": "inet", "name": "s", "table": "t", "type": "ifname", "handle": 6, "elem": ["a", "b"]}},
{"map": {"family": "inet", "name": "m", "table": "t", "type": ["ifname", "ipv4_addr"], "handle": 8, "map": "verdict", "flags": ["interval"], "elem": [[{"concat": ["virbr0", {"prefix": {"addr": "192.168.122.0", "len": 24}}]}, {"jump": {"target": "c"}}], [{"concat": ["x", "10.0.0.1"]}, {"goto": {"target": "c"}}]]}},
{"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1}},
{"chain": {"family": "inet", "table": "t", "name": "p", "handle": 3, "type": "nat", "hook": "postrouting", "prio": 100, "policy": "accept"}},
{"chain": {"family": "inet", "table": "t", "name": "f", "handle": 4, "type": "filter", "hook": "forward", "prio": 0, "policy": "drop"}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 9, "comment": "f.xml:3:1 <ip>", "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "192.168.122.0", "len": 24}}}}, {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "virbr0"}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 12, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": {"set": [53, {"range": [67, 68]}]}}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 14, "expr": [{"match": {"op": "!=", "left": {"ct": {"key": "state"}}, "right": "established"}}, {"drop": null}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 15, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"reject": {"type": "tcp reset"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 17, "expr": [{"reject": {"type": "icmpx", "expr": "port-unreachable"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "f", "handle": 20, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "@s"}}, {"jump": {"target": "c"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "f", "handle": 21, "expr": [{"vmap": {"key": {"concat": [{"meta": {"key": "iifname"}}, {"payload": {"protocol": "ip", "field": "saddr"}}]}, "data": "@m"}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "f", "handle": 23, "expr": [{"vmap": {"key": {"meta": {"key": "oifname"}}, "data": {"set": [["a", {"jump": {"target": "c"}}], ["b", {"drop": null}]]}}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "p", "handle": 25, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": {"prefix": {"addr": "192.168.122.0", "len": 24}}}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": {"prefix": {"addr": "192.168.122.0", "len": 24}}}}, {"counter": {"packets": 0, "bytes": 0}}, {"masquerade": {"port": {"range": [1024, 65535]}}}]}},
{"rule": {"family": "inet", "table": "t", "chain": "p", "handle": 27, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}}, {"snat": {"family": "ip", "addr": {"range": ["10.0.0.1", "10.0.0.5"]}, "port": {"range": [1024, 65535]}}}]}}
]}"#;

#[test]
fn nft_json_reads_list_output() {
    let rb = read(Format::NftJson, LISTED).unwrap();
    let t = &rb.ruleset.tables[0];
    assert_eq!(t.chains.len(), 3);
    let c = &t.chains[0];
    assert_eq!(c.rules[0].provenance.to_string(), "f.xml:3:1 <ip>");
    assert_eq!(c.rules[1].provenance, provenance::UNKNOWN);
    assert_eq!(
        rb.rule_text(0, ir::ChainId(0), 1),
        "udp dport { 53, 67-68 } ct state related,established accept"
    );
    assert_eq!(
        rb.rule_text(0, ir::ChainId(0), 4),
        "reject with port-unreachable"
    );
    assert_eq!(
        rb.rule_text(0, ir::ChainId(2), 2),
        "oifname vmap { \"a\" : jump c, \"b\" : drop }"
    );
    assert_eq!(
        rb.rule_text(0, ir::ChainId(1), 1),
        "meta l4proto tcp snat to 10.0.0.1-10.0.0.5:1024-65535"
    );
    // Forwarded from virbr0 (in the map's prefix) into c: accepted there.
    let p = Packet::ipv4("192.168.122.7", "8.8.8.8").iif("virbr0");
    let o = evaluate(&rb.ruleset, Hook::Forward, &p);
    assert_eq!(o.decision, Decision::Accept);
    let other = Packet::ipv4("10.9.9.9", "8.8.8.8").iif("eth9").oif("eth8");
    let o = evaluate(&rb.ruleset, Hook::Forward, &other);
    assert_eq!(o.decision, Decision::Drop, "the drop policy");
}

#[test]
fn nft_json_errors_say_which_object() {
    let bad = r#"{"nftables": [{"add": {"table": {"family": "ip", "name": "t"}}}, {"add": {"rule": {"family": "ip", "table": "t", "chain": "c", "expr": [{"xt": {"name": "LOG"}}]}}}]}"#;
    let e = read(Format::NftJson, bad).unwrap_err();
    assert!(e.to_string().contains("object 2"), "{e}");
    assert!(e.to_string().contains("'xt' is not read back"), "{e}");
    assert!(read(Format::NftJson, "[1, 2").is_err());
}

#[test]
fn restore_files_in_iptables_save_spelling() {
    let text = "*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:MINE - [0:0]\n\
                -A INPUT -i lo -j ACCEPT\n\
                -A INPUT -p tcp -m tcp --dport 22 -m conntrack --ctstate NEW -j MINE\n\
                -I INPUT 2 -s 10.0.0.0/8 -j DROP\n\
                -A MINE -m comment --comment \"ssh \\\"in\\\"\" -j LOG --log-prefix \"ssh: \"\n\
                -A MINE -j ACCEPT\nCOMMIT\n\
                *nat\n-A POSTROUTING -s 10.0.0.0/8 ! -d 10.0.0.0/8 -j SNAT --to-source 1.2.3.4:1024-2048\nCOMMIT\n";
    let rb = read(Format::Iptables, text).unwrap();
    let filter = &rb.ruleset.tables[0];
    let input = &filter.chains[filter.chain_id("INPUT").unwrap().0];
    assert!(matches!(
        input.kind,
        ChainKind::Base {
            hook: Hook::Input,
            policy: ir::Policy::Drop,
            ..
        }
    ));
    assert_eq!(input.rules.len(), 3);
    assert_eq!(
        rb.rule_text(0, filter.chain_id("INPUT").unwrap(), 1),
        "-s 10.0.0.0/8 -j DROP"
    );
    let ssh = Packet::ipv4("192.168.1.2", "192.168.1.1")
        .iif("eth0")
        .l4(L4Proto::Tcp, 22);
    let o = evaluate(&rb.ruleset, Hook::Input, &ssh);
    assert_eq!(o.decision, Decision::Accept);
    assert_eq!(o.trace.len(), 3, "jump, log, accept");
    let web = Packet::ipv4("192.168.1.2", "192.168.1.1")
        .iif("eth0")
        .l4(L4Proto::Tcp, 80);
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Input, &web).decision,
        Decision::Drop
    );
    let nat = &rb.ruleset.tables[1];
    assert!(matches!(
        nat.chains[0].kind,
        ChainKind::Base {
            hook: Hook::Postrouting,
            ty: ir::ChainType::Nat,
            priority: 100,
            ..
        }
    ));
    let out = Packet::ipv4("10.1.1.1", "8.8.8.8").oif("eth0");
    let o = evaluate(&rb.ruleset, Hook::Postrouting, &out);
    assert_eq!(
        o.nat.map(|n| Statement::Nat(n).to_string()).as_deref(),
        Some("snat to 1.2.3.4:1024-2048")
    );
}

#[test]
fn restore_errors_name_the_line() {
    for (text, line, what) in [
        (
            "*filter\n-A INPUT -m multiport --dports 1,2 -j ACCEPT\nCOMMIT\n",
            2,
            "multiport",
        ),
        ("*filter\n-A INPUT -j ACCEPT\n", 2, "no COMMIT"),
        ("*weird\nCOMMIT\n", 1, "not one of iptables' tables"),
        (
            "*filter\n-A INPUT --dport 22 -j ACCEPT\nCOMMIT\n",
            2,
            "protocol with ports",
        ),
        (
            "*filter\n-A INPUT -i virbr+ -j ACCEPT\nCOMMIT\n",
            2,
            "interface pattern",
        ),
        (
            "*filter\n-D INPUT -j ACCEPT\nCOMMIT\n",
            2,
            "only setup artifacts",
        ),
    ] {
        let e = read(Format::Iptables, text).unwrap_err();
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().contains(what), "{e}");
    }
}

#[test]
fn ebtables_restore_reads_user_chains_policies_and_ip_options() {
    let text = "*filter\n:FORWARD ACCEPT\n:guest DROP\n\
                # g.xml:4:5 <rule>: allow dhcp\n\
                -A FORWARD -i vnet0 -j guest\n\
                -A guest -p ipv4 --ip-protocol 17 --ip-destination-port 67:68 -j ACCEPT\n\
                -A guest -s 52:54:00:00:00:01 -p IPv6 --log-level warning --log-prefix \"v6: \" -j CONTINUE\n\
                -A guest -p IPv6 --ip6-source ! 2001:db8::/32 -j RETURN\nCOMMIT\n";
    let rb = read(Format::Ebtables, text).unwrap();
    let t = &rb.ruleset.tables[0];
    assert_eq!(t.family, Family::Bridge);
    let fwd = &t.chains[t.chain_id("FORWARD").unwrap().0];
    assert_eq!(fwd.rules[0].provenance.to_string(), "g.xml:4:5 <rule>");
    let guest = &t.chains[t.chain_id("guest").unwrap().0];
    assert_eq!(guest.rules.len(), 4, "three rules and the DROP policy");
    assert_eq!(guest.rules[3].verdict, Some(Verdict::Drop));
    assert!(matches!(
        guest.rules[1].statements[..],
        [Statement::Log { .. }]
    ));
    assert_eq!(
        guest.rules[0].matches[0],
        ir::Match::eq(
            ir::Field::EtherType,
            ir::Value::Int(ir::IntRange::single(0x0800))
        )
    );
    let framed = |mut p: Packet, t: u16| {
        p.ether_type = Some(t);
        p
    };
    let dhcp = Packet::ipv4("0.0.0.0", "255.255.255.255")
        .iif("vnet0")
        .l4(L4Proto::Udp, 67);
    let dhcp = framed(dhcp, 0x0800);
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Forward, &dhcp).decision,
        Decision::Accept
    );
    let web = Packet::ipv4("10.0.0.1", "10.0.0.2")
        .iif("vnet0")
        .l4(L4Proto::Tcp, 80);
    let web = framed(web, 0x0800);
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Forward, &web).decision,
        Decision::Drop
    );
    let v6_in = framed(
        Packet::ip("2001:db8::1", "2001:db8::2").iif("vnet0"),
        0x86dd,
    );
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Forward, &v6_in).decision,
        Decision::Drop
    );
    let v6_out = framed(Packet::ip("fd00::1", "2001:db8::2").iif("vnet0"), 0x86dd);
    assert_eq!(
        evaluate(&rb.ruleset, Hook::Forward, &v6_out).decision,
        Decision::Accept,
        "returns, FORWARD accepts"
    );
    for (bad, what) in [
        (
            "*filter\n-A FORWARD --ip-source 1.2.3.4 -j DROP\n",
            "needs '-p IPv4'",
        ),
        (
            "*filter\n-A FORWARD -p ether -j DROP\n",
            "not an ether type",
        ),
        (
            "*filter\n-A FORWARD --among-src 52:54:00:00:00:01 -j DROP\n",
            "'--among-src'",
        ),
    ] {
        let e = read(Format::Ebtables, bad).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
    }
}

/// A bridge ruleset of the kind nwfilter bindings lower to, through the
/// ebtables emitter and back.
#[test]
fn ebtables_artifacts_read_back_to_what_they_were_emitted_from() {
    use ir::*;
    let mut rs = Ruleset::default();
    let t = rs.table_mut(
        Family::Bridge,
        &Name::new("fwc_bridge").unwrap(),
        Ownership::Owned,
    );
    let fwd = t.add_chain(
        Name::new("forward").unwrap(),
        ChainKind::Base {
            hook: Hook::Forward,
            ty: ChainType::Filter,
            priority: -200,
            policy: Policy::Accept,
        },
        Ownership::Owned,
    );
    let guest = t.add_chain(
        Name::new("guest").unwrap(),
        ChainKind::Regular,
        Ownership::Owned,
    );
    let p = Provenance::Input(Source {
        file: "f.xml".into(),
        line: 3,
        column: 5,
        element: "rule".into(),
    });
    let vnet = Value::Ifname(Ifname::new("vnet0").unwrap());
    t.chain_mut(fwd).rules = vec![Rule::new(
        p.clone(),
        vec![Match::eq(Field::IifName, vnet)],
        Some(Verdict::Jump(guest)),
    )];
    t.chain_mut(guest).rules = vec![
        Rule::new(
            p.clone(),
            vec![
                Match::eq(
                    Field::Saddr(IpFamily::V4),
                    Value::Prefix("10.0.0.0/24".parse().unwrap()),
                ),
                Match::eq(
                    Field::Dport(L4Proto::Tcp),
                    Value::Ports(PortRange::new(80, 80).unwrap()),
                ),
            ],
            Some(Verdict::Accept),
        ),
        Rule::new(p, vec![], Some(Verdict::Drop)),
    ];
    let opts = emitters::Options::default();
    let art = match emitters::emit(&rs, emitters::Target::Ebtables, &opts) {
        Ok(a) => a,
        Err(e) => panic!("the ebtables emitter takes a bridge table: {e}"),
    };
    let back = read(Format::Ebtables, &art.text).unwrap_or_else(|e| panic!("{e}\n{}", art.text));
    assert_same_behaviour("ebtables", &Readback::from(rs), &back);
}

#[test]
fn merged_views_keep_rule_texts_per_table() {
    let a = read(Format::Iptables, "*filter\n-A INPUT -j ACCEPT\nCOMMIT\n").unwrap();
    let b = read(Format::Ip6tables, "*filter\n-A INPUT -j DROP\nCOMMIT\n").unwrap();
    let m = a.merge(b);
    assert_eq!(m.ruleset.tables.len(), 2);
    assert_eq!(m.ruleset.tables[1].family, Family::Ip6);
    assert_eq!(m.rule_text(1, ir::ChainId(0), 0), "-j DROP");
    assert!(m
        .describe(1, ir::ChainId(0), 0)
        .starts_with("ip6 filter INPUT: -j DROP"));
}
