//! Unit tests of the fix generator on hand-built diagnoses.

use ir::{Family, Field, Hook, Ifname, IpFamily, L4Proto, Match, PortRange, Value};

use super::*;
use crate::doctor::finding::{Blocked, Cause, Diagnosis, Flow, FlowKind, Manager};

fn ifname(n: &str) -> Value {
    Value::Ifname(Ifname::new(n).unwrap())
}

fn net(p: &str) -> Value {
    Value::Prefix(p.parse().unwrap())
}

fn flow(kind: FlowKind, family: IpFamily, allow: Vec<Match>) -> Flow {
    Flow {
        kind,
        network: "default".into(),
        bridge: Ifname::new("virbr0").unwrap(),
        family,
        description: format!("{kind:?} (virbr0)"),
        steps: Vec::new(),
        allow,
    }
}

fn guest_out() -> Flow {
    flow(
        FlowKind::GuestToOutside,
        IpFamily::V4,
        vec![
            Match::eq(Field::IifName, ifname("virbr0")),
            Match::eq(Field::Saddr(IpFamily::V4), net("192.168.122.0/24")),
        ],
    )
}

fn replies() -> Flow {
    flow(
        FlowKind::OutsideReplies,
        IpFamily::V4,
        vec![
            Match::eq(Field::OifName, ifname("virbr0")),
            Match::eq(Field::Daddr(IpFamily::V4), net("192.168.122.0/24")),
            Match::eq(
                Field::CtState,
                Value::CtStates(ir::CtStates::RELATED_ESTABLISHED),
            ),
        ],
    )
}

fn dns_tcp(family: IpFamily) -> Flow {
    let subnet = match family {
        IpFamily::V4 => net("192.168.122.0/24"),
        IpFamily::V6 => net("2001:db8:ca2:2::/64"),
    };
    flow(
        FlowKind::DnsTcp,
        family,
        vec![
            Match::eq(Field::IifName, ifname("virbr0")),
            Match::eq(Field::Saddr(family), subnet),
            Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
            Match::eq(
                Field::Dport(L4Proto::Tcp),
                Value::Ports(PortRange::new(53, 53).unwrap()),
            ),
        ],
    )
}

fn blocked(
    flow: usize,
    manager: Manager,
    family: Family,
    table: &str,
    chain: &str,
    hook: Hook,
) -> Blocked {
    Blocked::policy_drop(flow, manager, (family, table, chain), hook)
}

/// Docker's `ip filter FORWARD` dropping flow `flow` by policy.
fn docker_forward(flow: usize) -> Blocked {
    blocked(
        flow,
        Manager::Docker,
        Family::Ip,
        "filter",
        "FORWARD",
        Hook::Forward,
    )
}

/// An nftables table's `inet TABLE input` dropping flow `flow` by policy.
fn nft_input(flow: usize, table: &str) -> Blocked {
    blocked(
        flow,
        Manager::Nftables,
        Family::Inet,
        table,
        "input",
        Hook::Input,
    )
}

/// firewalld's `inet firewalld CHAIN` dropping flow `flow` by policy.
fn firewalld(flow: usize, chain: &str, hook: Hook) -> Blocked {
    blocked(
        flow,
        Manager::Firewalld,
        Family::Inet,
        "firewalld",
        chain,
        hook,
    )
}

fn blocked_by(flow: Flow, b: Blocked) -> Diagnosis {
    Diagnosis {
        flows: vec![flow],
        blocked: vec![b],
        ..Diagnosis::default()
    }
}

/// The lines of a function's body, without the leading tab and the `:`.
fn body<'a>(text: &'a str, function: &str) -> Vec<&'a str> {
    let start = text
        .find(&format!("{function}() {{\n"))
        .unwrap_or_else(|| panic!("no {function} in\n{text}"));
    text[start..]
        .lines()
        .skip(2)
        .take_while(|l| *l != "}")
        .map(|l| l.strip_prefix('\t').unwrap_or(l))
        .collect()
}

fn setup(text: &str) -> Vec<&str> {
    body(text, "fwc_doctor_setup")
}

fn teardown(text: &str) -> Vec<&str> {
    body(text, "fwc_doctor_teardown")
}

/// `sh -n` accepts the script.
fn assert_parses(text: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fix.sh");
    std::fs::write(&path, text).unwrap();
    let out = std::process::Command::new("sh")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const DOCKER_RULE: &str = "--in-interface virbr0 --source 192.168.122.0/24 --match comment \
                           --comment 'fwc-doctor: default guest-to-outside ipv4' --jump ACCEPT";

#[test]
fn a_docker_forward_drop_is_fixed_in_docker_user() {
    let d = blocked_by(guest_out(), docker_forward(0));
    let s = script(&d).unwrap();
    assert_eq!(
        setup(&s.text),
        [
            "# ip filter DOCKER-USER: fwc-doctor: default guest-to-outside ipv4".to_owned(),
            format!(
                "iptables -w --table filter --check DOCKER-USER {DOCKER_RULE} 2>/dev/null || \
                 iptables -w --table filter --insert DOCKER-USER {DOCKER_RULE}"
            ),
        ]
    );
    assert_eq!(
        teardown(&s.text)[1],
        format!(
            "while iptables -w --table filter --check DOCKER-USER {DOCKER_RULE} 2>/dev/null; \
             do iptables -w --table filter --delete DOCKER-USER {DOCKER_RULE}; done"
        )
    );
    assert_eq!((s.rules, s.manual.len()), (1, 0));
    assert!(s
        .text
        .contains("#   ip filter FORWARD (Docker, forward hook, policy drop):\n"));
    assert_parses(&s.text);
}

#[test]
fn docker_outside_the_forward_path_and_plain_iptables_use_the_base_chain() {
    for manager in [Manager::Docker, Manager::Iptables] {
        let d = blocked_by(
            dns_tcp(IpFamily::V6),
            blocked(0, manager, Family::Ip6, "filter", "INPUT", Hook::Input),
        );
        let s = script(&d).unwrap();
        let rule =
            "--in-interface virbr0 --source 2001:db8:ca2:2::/64 -p tcp --destination-port 53 \
                    --match comment --comment 'fwc-doctor: default dns-tcp ipv6' --jump ACCEPT";
        assert_eq!(
            setup(&s.text)[1],
            format!(
                "ip6tables -w --table filter --check INPUT {rule} 2>/dev/null || \
                 ip6tables -w --table filter --insert INPUT {rule}"
            ),
            "{manager:?}"
        );
        assert!(!s.text.contains("DOCKER-USER"), "{manager:?}");
    }
}

const NFT_RULE: &str = "iifname virbr0 ip saddr 192.168.122.0/24 meta l4proto tcp tcp dport 53 \
                        accept comment '\"fwc-doctor: default dns-tcp ipv4\"'";
const NFT_MARK: &str = "'comment \"fwc-doctor: default dns-tcp ipv4\"'";

#[test]
fn an_nftables_drop_gets_a_marked_insert_removed_by_handle() {
    let d = blocked_by(dns_tcp(IpFamily::V4), nft_input(0, "ufwlike"));
    let s = script(&d).unwrap();
    assert_eq!(
        setup(&s.text)[1],
        format!(
            "nft list chain inet ufwlike input | grep -qF {NFT_MARK} || \
             nft -ae insert rule inet ufwlike input {NFT_RULE}"
        )
    );
    assert_eq!(
        teardown(&s.text)[1],
        format!(
            "for handle in $(nft -a list chain inet ufwlike input 2>/dev/null | grep -F {NFT_MARK} \
             | sed -n 's/.* # handle \\([0-9][0-9]*\\)$/\\1/p'); do \
             nft delete rule inet ufwlike input handle \"$handle\"; done"
        )
    );
    assert_eq!(s.rules, 1);
    assert_parses(&s.text);
}

/// What the inputs need and nothing more: every accept names the bridge,
/// the subnet and the port, and a flow without matches is refused rather
/// than turned into a bare accept.
#[test]
fn accept_rules_never_widen_beyond_the_flow() {
    let d = Diagnosis {
        flows: vec![guest_out(), dns_tcp(IpFamily::V4)],
        blocked: vec![
            docker_forward(0),
            blocked(
                1,
                Manager::Iptables,
                Family::Ip,
                "filter",
                "INPUT",
                Hook::Input,
            ),
            nft_input(1, "t"),
        ],
        ..Diagnosis::default()
    };
    let text = script(&d).unwrap().text;
    let accepts: Vec<&str> = setup(&text)
        .into_iter()
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(accepts.len(), 3);
    for l in &accepts {
        assert!(
            l.contains("virbr0") && l.contains("192.168.122.0/24"),
            "{l}"
        );
        // Never an accept straight after the chain's name.
        for bare in ["DOCKER-USER --jump", "INPUT --jump", "input accept"] {
            assert!(!l.contains(bare), "{l}");
        }
    }
    for l in accepts
        .iter()
        .filter(|l| l.contains("INPUT") || l.contains("nft"))
    {
        assert!(l.contains("53"), "{l}");
    }

    let mut open = dns_tcp(IpFamily::V4);
    open.allow.clear();
    for manager in [Manager::Docker, Manager::Nftables, Manager::Ufw] {
        let d = blocked_by(
            open.clone(),
            blocked(0, manager, Family::Ip, "filter", "INPUT", Hook::Input),
        );
        let s = script(&d).unwrap();
        assert_eq!(s.rules, 0, "{manager:?}");
        assert_eq!(setup(&s.text), Vec::<&str>::new(), "{manager:?}");
        assert!(!s.text.contains("ACCEPT") && !s.text.contains("accept comment"));
        assert_eq!(s.manual.len(), 1, "{manager:?}");
        assert!(
            s.manual[0].contains("would let everything through"),
            "{:?}",
            s.manual
        );
    }
}

#[test]
fn each_flow_is_fixed_once_per_foreign_chain_in_a_stable_order() {
    let mut deeper = nft_input(0, "t");
    deeper.chain = "input_sub".into();
    deeper.cause = Cause::Rule {
        index: 2,
        handle: Some(9),
        text: "drop".into(),
    };
    let d = Diagnosis {
        flows: vec![dns_tcp(IpFamily::V4)],
        blocked: vec![
            nft_input(0, "u"),
            nft_input(0, "t"),
            deeper,
            nft_input(0, "t"),
        ],
        ..Diagnosis::default()
    };
    let s = script(&d).unwrap();
    assert_eq!(s.rules, 2);
    let inserts: Vec<&str> = setup(&s.text)
        .into_iter()
        .filter(|l| l.starts_with("nft list"))
        .collect();
    assert_eq!(inserts.len(), 2);
    assert!(
        inserts[0].starts_with("nft list chain inet t input "),
        "{}",
        inserts[0]
    );
    assert!(
        inserts[1].starts_with("nft list chain inet u input "),
        "{}",
        inserts[1]
    );
    // The same whatever order the analysis listed them in.
    let mut reversed = d.clone();
    reversed.blocked.reverse();
    assert_eq!(script(&reversed).unwrap().text, s.text);
}

/// Each setup command has its exact inverse in teardown, in reverse order.
#[test]
fn teardown_removes_exactly_what_setup_inserts() {
    let d = Diagnosis {
        flows: vec![guest_out(), dns_tcp(IpFamily::V4), dns_tcp(IpFamily::V6)],
        blocked: vec![
            docker_forward(0),
            nft_input(1, "ufwlike"),
            blocked(
                2,
                Manager::Iptables,
                Family::Ip6,
                "filter",
                "INPUT",
                Hook::Input,
            ),
        ],
        ..Diagnosis::default()
    };
    let text = script(&d).unwrap().text;
    let commands = |lines: Vec<&str>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let (up, down) = (commands(setup(&text)), commands(teardown(&text)));
    assert_eq!(up.len(), 3);
    assert_eq!(down.len(), 3);
    for (u, d) in up.iter().zip(down.iter().rev()) {
        if let Some((check, insert)) = u.split_once(" 2>/dev/null || ") {
            // xtables: the same check guards both, and the delete is the
            // insert with only the verb changed.
            assert_eq!(
                d,
                &format!(
                    "while {check} 2>/dev/null; do {}; done",
                    insert.replace(" --insert ", " --delete ")
                )
            );
        } else {
            let (list, insert) = u.split_once(" || ").unwrap();
            let mark = list.split_once("grep -qF ").unwrap().1;
            assert!(d.contains(&format!("| grep -F {mark} |")), "{d}");
            // The marker searched for is the comment the insert adds.
            let comment = mark.trim_matches('\'').strip_prefix("comment ").unwrap();
            assert!(
                insert.ends_with(&format!("accept comment '{comment}'")),
                "{insert}"
            );
        }
    }
}

#[test]
fn odd_but_valid_names_print_bare_and_free_text_stays_inert() {
    let mut f = dns_tcp(IpFamily::V4);
    f.network = "it's \"net\"\nrm -rf /".into();
    f.description = "guest → host\nrm -rf / #".into();
    let d = blocked_by(
        f,
        blocked(
            0,
            Manager::Nftables,
            Family::Ip,
            "fw.v2-x_y",
            "_In-put.1",
            Hook::Input,
        ),
    );
    let s = script(&d).unwrap();
    let mark = "fwc-doctor: it_s__net__rm_-rf__ dns-tcp ipv4";
    assert!(setup(&s.text)[1].starts_with(&format!(
        "nft list chain ip fw.v2-x_y _In-put.1 | grep -qF 'comment \"{mark}\"' || \
         nft -ae insert rule ip fw.v2-x_y _In-put.1 iifname virbr0"
    )));
    // The newline in the description never starts a command.
    assert!(
        s.text.lines().all(|l| !l.trim_start().starts_with("rm ")),
        "{}",
        s.text
    );
    assert_parses(&s.text);
}

#[test]
fn foreign_names_fwc_cannot_print_are_left_to_the_user() {
    for (table, chain) in [("bad table", "input"), ("t", "in;put$(reboot)")] {
        for manager in [Manager::Nftables, Manager::Iptables] {
            let family = if manager == Manager::Nftables {
                Family::Inet
            } else {
                Family::Ip
            };
            let d = blocked_by(
                dns_tcp(IpFamily::V4),
                blocked(0, manager, family, table, chain, Hook::Input),
            );
            let s = script(&d).unwrap();
            assert_eq!(s.rules, 0);
            assert_eq!(setup(&s.text), Vec::<&str>::new());
            assert_eq!(teardown(&s.text), Vec::<&str>::new());
            assert_eq!(s.manual.len(), 1);
            assert!(
                s.manual[0].contains("not one fwc prints"),
                "{}",
                s.manual[0]
            );
            // The example uses placeholders, never the foreign name.
            let example = if manager == Manager::Nftables {
                "# nft -ae insert rule inet TABLE CHAIN iifname virbr0 "
            } else {
                "# iptables -w --table filter --insert CHAIN --in-interface virbr0 "
            };
            assert!(s.text.contains(example), "{}", s.text);
            // The foreign name appears only inside comments.
            assert!(
                s.text
                    .lines()
                    .filter(|l| l.contains("reboot") || l.contains("bad table"))
                    .all(|l| l.starts_with('#')),
                "{}",
                s.text
            );
            assert_parses(&s.text);
        }
    }
}

#[test]
fn ufw_gets_before_rules_lines_and_no_commands() {
    let d = Diagnosis {
        flows: vec![guest_out(), dns_tcp(IpFamily::V4), dns_tcp(IpFamily::V6)],
        blocked: vec![
            blocked(1, Manager::Ufw, Family::Ip, "filter", "INPUT", Hook::Input),
            blocked(
                0,
                Manager::Ufw,
                Family::Ip,
                "filter",
                "FORWARD",
                Hook::Forward,
            ),
            blocked(2, Manager::Ufw, Family::Ip6, "filter", "INPUT", Hook::Input),
        ],
        ..Diagnosis::default()
    };
    let s = script(&d).unwrap();
    assert_eq!((s.rules, s.manual.len()), (0, 3));
    assert_eq!(setup(&s.text), Vec::<&str>::new());
    for expected in [
        "# # fwc-doctor: default guest-to-outside ipv4\n\
         # -A ufw-before-forward --in-interface virbr0 --source 192.168.122.0/24 -j ACCEPT\n\
         # # fwc-doctor: default dns-tcp ipv4\n\
         # -A ufw-before-input --in-interface virbr0 --source 192.168.122.0/24 -p tcp --dport 53 -j ACCEPT\n",
        "# # fwc-doctor: default dns-tcp ipv6\n\
         # -A ufw6-before-input --in-interface virbr0 --source 2001:db8:ca2:2::/64 -p tcp --dport 53 -j ACCEPT\n",
        "to /etc/ufw/before.rules,",
        "to /etc/ufw/before6.rules,",
        "before that section's COMMIT line, then run: ufw\n#   reload\n",
    ] {
        assert!(s.text.contains(expected), "{expected}\nnot in\n{}", s.text);
    }
    assert_parses(&s.text);
}

#[test]
fn firewalld_gets_a_zone_and_policies_for_exactly_the_blocked_flows() {
    let d = Diagnosis {
        flows: vec![guest_out(), replies(), dns_tcp(IpFamily::V4)],
        blocked: vec![
            firewalld(0, "filter_FORWARD", Hook::Forward),
            firewalld(1, "filter_FORWARD", Hook::Forward),
            firewalld(2, "filter_INPUT", Hook::Input),
        ],
        ..Diagnosis::default()
    };
    let s = script(&d).unwrap();
    assert_eq!(setup(&s.text), Vec::<&str>::new());
    let expected = "\
# /etc/firewalld/zones/fwc-virbr0.xml:
# <?xml version=\"1.0\" encoding=\"utf-8\"?>
# <zone>
#   <short>fwc-virbr0</short>
#   <interface name=\"virbr0\"/>
#   <!-- fwc-doctor: default dns-tcp ipv4 -->
#   <rule family=\"ipv4\"><source address=\"192.168.122.0/24\"/><port port=\"53\" protocol=\"tcp\"/><accept/></rule>
# </zone>
#
# /etc/firewalld/policies/fwc-virbr0-out.xml:
# <?xml version=\"1.0\" encoding=\"utf-8\"?>
# <policy target=\"CONTINUE\">
#   <short>fwc-virbr0-out</short>
#   <ingress-zone name=\"fwc-virbr0\"/>
#   <egress-zone name=\"ANY\"/>
#   <!-- fwc-doctor: default guest-to-outside ipv4 -->
#   <rule family=\"ipv4\"><source address=\"192.168.122.0/24\"/><accept/></rule>
# </policy>
#
# To remove them, delete those files and run firewall-cmd --reload again.
";
    assert!(s.text.contains(expected), "{}", s.text);
    assert!(s.text.contains("firewall-cmd --reload\n"), "{}", s.text);
    // Replies need a conntrack match, which firewalld's XML has not: no
    // policy towards the guests is made up for them.
    assert!(!s.text.contains("fwc-virbr0-in"), "{}", s.text);
    assert_eq!(s.manual.len(), 3);
    assert_eq!(
        s.manual
            .iter()
            .filter(|m| m.contains("OutsideReplies") && m.contains("conntrack state"))
            .count(),
        1,
        "{:?}",
        s.manual
    );
    assert_parses(&s.text);
}

#[test]
fn nothing_blocked_gives_a_script_that_does_nothing() {
    let s = script(&Diagnosis {
        flows: vec![guest_out()],
        ..Diagnosis::default()
    })
    .unwrap();
    assert_eq!((s.rules, s.manual.len()), (0, 0));
    assert!(s.text.contains("# No flow is blocked"), "{}", s.text);
    assert_eq!(setup(&s.text), Vec::<&str>::new());
    assert_eq!(teardown(&s.text), Vec::<&str>::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fix.sh");
    std::fs::write(&path, &s.text).unwrap();
    let run = |arg: &str| {
        std::process::Command::new("sh")
            .arg(&path)
            .arg(arg)
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(run("--teardown"), Some(0));
    assert_eq!(run("--bogus"), Some(2));
}

#[test]
fn a_blocked_entry_without_its_flow_is_an_error() {
    let d = Diagnosis {
        blocked: vec![docker_forward(3)],
        ..Diagnosis::default()
    };
    assert!(script(&d).unwrap_err().contains("blocked flow 3"));
}

#[test]
fn text_wraps_at_spaces_keeping_the_indent() {
    assert_eq!(wrap("  a bb ccc", 6), ["  a bb", "    ccc"]);
    assert_eq!(wrap("short", 78), ["short"]);
    assert_eq!(wrap(&"x".repeat(90), 78), ["x".repeat(90)]);
}
