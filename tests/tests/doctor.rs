//! `fwc doctor` and its `--fix` script with real packets, on the behaviour
//! topology (see `fwc_tests::topology`) with fwc's nft rules for the NAT
//! network loaded in the host and another firewall manager's state beside
//! them:
//!
//! * Docker-like: the iptables `FORWARD` policy is drop, as Docker leaves
//!   it. Guests cannot reach the outside; `fwc doctor` exits 1 naming
//!   `ip filter FORWARD` and its drop policy; its `--fix` script (rules in
//!   `DOCKER-USER`) lets them through, after which the doctor exits 0; the
//!   script's `--teardown` restores the foreign state exactly and guests
//!   are blocked again.
//! * UFW-like: an nftables table whose input chain drops by policy. Guests
//!   cannot reach the host's DNS over TCP; the doctor names the table and
//!   chain; the fix (a marked insert) lets it through; teardown restores the
//!   table exactly.
//! * Docker with br_netfilter: guests on one bridge cannot reach each
//!   other; the doctor finds the guest ↔ guest flow and the fix restores it.
//! * UFW: its chains are rebuilt from `before.rules` on reload, so the fix
//!   changes nothing and prints lines for that file; installing exactly
//!   those lines lets the traffic through.
//! * A clean host: the doctor exits 0.
//!
//! The doctor runs as a process inside the host's namespace, the way an
//! admin runs it on a host (`fwc-cli` is fwc's binary, built with this
//! package). A last test applies a script made from a hand-built diagnosis,
//! so the fix generator is judged by packets on its own too.

use std::path::{Path, PathBuf};

use compiler::doctor::finding::{Blocked, Diagnosis, Flow, FlowKind, Manager};
use compiler::doctor::fix;
use compiler::netns::differences;
use compiler::pipeline::{compile_paths, Options};
use emitters::{Direction, Target};
use fwc_tests::netns::may_run;
use fwc_tests::topology::{self, Machine, Outcome, Topology, NAT_NETWORK};
use ir::{CtStates, Family, Field, Hook, Ifname, IpFamily, L4Proto, Match, PortRange, Value};
use rules::layout::Layout;
use serde_json::Value as Json;

/// What Docker leaves in `filter`: `FORWARD` dropping by policy, jumping to
/// `DOCKER-USER` (which returns) and accepting only docker0's traffic.
const DOCKER: &str = "*filter
:FORWARD DROP [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
";

/// An nftables firewall like UFW's: input drops by policy, loopback and
/// replies excepted.
const UFW_LIKE: &str = "table inet ufwlike {
\tchain input {
\t\ttype filter hook input priority 0; policy drop;
\t\tiif lo accept
\t\tct state established,related accept
\t}
}
";

/// The host's DNS port, where the UFW-like case listens.
const DNS: u16 = 53;

/// The topology with fwc's nft rules for the NAT network in its host.
struct Host {
    topology: Topology,
    dir: tempfile::TempDir,
}

/// What a doctor run gave.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Host {
    fn build() -> Host {
        let topology = Topology::build();
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("nat.xml"), NAT_NETWORK).unwrap();
        let host = Host { topology, dir };
        let opts = Options {
            target: Target::Nft,
            layout: Layout::Fwc,
            direction: Direction::Setup,
            ..Options::default()
        };
        let setup = compile_paths(&[host.network()], &opts)
            .unwrap_or_else(|d| panic!("compiling the NAT network: {d:?}"))
            .artifact
            .text;
        host.topology
            .host
            .nft_load(&setup)
            .unwrap_or_else(|f| panic!("loading fwc's rules: {f}"));
        host
    }

    fn network(&self) -> PathBuf {
        self.dir.path().join("nat.xml")
    }

    /// `fwc doctor NAT.xml --target nft ARGS...` in the host's namespace.
    fn doctor(&self, args: &[&str]) -> Run {
        let network = self.network();
        let out = self
            .topology
            .host
            .command(env!("CARGO_BIN_EXE_fwc-cli"))
            .arg("doctor")
            .arg(&network)
            .args(["--target", "nft"])
            .args(args)
            .output()
            .expect("running fwc doctor");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The `--fix` script, written to a file.
    fn fix(&self) -> PathBuf {
        let run = self.doctor(&["--fix"]);
        assert!(run.stdout.starts_with("#!/bin/sh\n"), "{run}");
        self.write_script(&run.stdout)
    }

    fn write_script(&self, text: &str) -> PathBuf {
        let path = self.dir.path().join("fix.sh");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `sh SCRIPT ARGS...` in the host's namespace; panics if it fails.
    fn sh(&self, script: &Path, args: &[&str]) {
        let script = script.to_str().expect("a UTF-8 path");
        let mut argv = vec![script];
        argv.extend_from_slice(args);
        self.topology
            .host
            .run("sh", &argv, None)
            .unwrap_or_else(|f| {
                let text = std::fs::read_to_string(script).unwrap_or_default();
                panic!("sh {script} {args:?}: {f}\n{text}")
            });
    }

    /// The host's whole ruleset, normalised, with counters zeroed (the
    /// probes make them count).
    fn state(&self) -> Json {
        without_counters(self.topology.host.ruleset())
    }

    fn probe(&self, from: Machine, to: Machine) -> Outcome {
        self.topology.probe(from, to)
    }

    /// Connects from g1 to the host's address on the NAT bridge, port `port`.
    fn guest_to_host(&self, port: u16) -> Outcome {
        topology::connect(
            self.topology.netns(Machine::G1),
            Machine::Host.address(),
            port,
        )
    }
}

fn without_counters(mut ruleset: Json) -> Json {
    fn walk(v: &mut Json) {
        match v {
            Json::Object(map) => {
                if let Some(Json::Object(c)) = map.get_mut("counter") {
                    for field in ["packets", "bytes"] {
                        if c.contains_key(field) {
                            c.insert(field.into(), Json::from(0));
                        }
                    }
                }
                map.values_mut().for_each(walk);
            }
            Json::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut ruleset);
    ruleset
}

fn assert_same_state(before: &Json, after: &Json, host: &Host) {
    assert!(
        before == after,
        "teardown did not restore the foreign state:\n{}\nnow:\n{}",
        differences(before, after),
        host.topology.host.ruleset_text()
    );
}

/// With a foreign state blocking what `probe` tries: the doctor exits 1
/// naming `chain` and its drop policy; its `--fix` script (which holds
/// `inserts`) lets `probe` connect, after which the doctor exits 0; the
/// script's `--teardown` restores the foreign state exactly and `probe`
/// is blocked again.
fn found_fixed_and_torn_down(host: &Host, chain: &str, inserts: &str, probe: impl Fn() -> Outcome) {
    let found = host.doctor(&[]);
    assert_eq!(found.code, Some(1), "{found}");
    assert!(found.stdout.contains(chain), "{found}");
    assert!(found.stdout.contains("policy drop"), "{found}");

    let before = host.state();
    let script = host.fix();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains(inserts), "{text}");
    host.sh(&script, &[]);
    let out = probe();
    assert!(out.connected(), "after the fix: {out}\n{text}");
    let after = host.doctor(&[]);
    assert_eq!(after.code, Some(0), "{after}");

    host.sh(&script, &["--teardown"]);
    assert_same_state(&before, &host.state(), host);
    assert_eq!(probe(), Outcome::TimedOut);
}

#[test]
fn docker_forward_drop_is_found_and_fixed_in_docker_user() {
    let test = "docker_forward_drop_is_found_and_fixed_in_docker_user";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    assert!(
        host.probe(Machine::G1, Machine::Outside).connected(),
        "fwc's rules alone let g1 out"
    );
    host.topology
        .host
        .xtables_restore(false, DOCKER)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(host.probe(Machine::G1, Machine::Outside), Outcome::TimedOut);

    found_fixed_and_torn_down(&host, "ip filter FORWARD", "--insert DOCKER-USER", || {
        host.probe(Machine::G1, Machine::Outside)
    });
}

#[test]
fn nftables_input_drop_is_found_and_fixed_with_a_marked_insert() {
    let test = "nftables_input_drop_is_found_and_fixed_with_a_marked_insert";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    let _dns = topology::listen(&host.topology.host, DNS);
    assert!(
        host.guest_to_host(DNS).connected(),
        "fwc's rules alone let g1 reach the host's DNS"
    );
    host.topology
        .host
        .nft_load(UFW_LIKE)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(host.guest_to_host(DNS), Outcome::TimedOut);

    found_fixed_and_torn_down(
        &host,
        "inet ufwlike input",
        "nft -ae insert rule inet ufwlike input ",
        || host.guest_to_host(DNS),
    );
}

/// A third machine on the NAT network's bridge, beside g1: g3 at
/// 192.168.100.11, listening on the topology's port. Dropped with the test.
fn guest_beside_g1(host: &Host) -> (fwc_tests::netns::Netns, topology::Listener) {
    let g3 = fwc_tests::netns::Netns::new();
    let batch = |ns: &compiler::netns::Netns, commands: &str| {
        ns.run("ip", &["-batch", "-"], Some(commands))
            .unwrap_or_else(|f| panic!("adding g3 in {}: {f}", ns.name()));
    };
    batch(
        &host.topology.host,
        &format!(
            "link add vg3 type veth peer name eth0 netns {}\nlink set vg3 master virbr10 up\n",
            g3.name()
        ),
    );
    batch(
        &g3,
        "link set lo up\naddr add 192.168.100.11/24 dev eth0\nlink set eth0 up\n",
    );
    let listener = topology::listen(&g3, topology::PORT);
    (g3, listener)
}

/// With br_netfilter on (Docker loads it), frames between two guests on
/// one bridge cross the IP forward hook, so Docker's `FORWARD` drop cuts
/// guests off from each other too: the doctor finds the guest ↔ guest flow
/// and the fix's `DOCKER-USER` rule restores it.
#[test]
fn docker_forward_drop_cuts_guests_on_one_bridge_through_br_netfilter() {
    let test = "docker_forward_drop_cuts_guests_on_one_bridge_through_br_netfilter";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    host.topology
        .host
        .run(
            "sysctl",
            &["-qw", "net.bridge.bridge-nf-call-iptables=1"],
            None,
        )
        .unwrap_or_else(|f| panic!("br_netfilter's switch: {f}"));
    let (_g3, _listener) = guest_beside_g1(&host);
    let g3: std::net::IpAddr = "192.168.100.11".parse().unwrap();
    let g1_to_g3 = || topology::connect(host.topology.netns(Machine::G1), g3, topology::PORT);
    assert!(g1_to_g3().connected(), "fwc's rules alone let guests meet");
    host.topology
        .host
        .xtables_restore(false, DOCKER)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(g1_to_g3(), Outcome::TimedOut);

    let found = host.doctor(&[]);
    assert!(
        found
            .stdout
            .contains("blocked: guest → guest on the bridge"),
        "{found}"
    );
    found_fixed_and_torn_down(&host, "ip filter FORWARD", "--insert DOCKER-USER", g1_to_g3);
}

/// What UFW leaves in `filter` (trimmed): input and forward drop by
/// policy, and both jump to UFW's `before` chains, which accept loopback and
/// replies. UFW rebuilds these from `/etc/ufw/before.rules` on reload.
const UFW: &str = "*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:ufw-before-input - [0:0]
:ufw-before-forward - [0:0]
-A INPUT -j ufw-before-input
-A FORWARD -j ufw-before-forward
-A ufw-before-input -i lo -j ACCEPT
-A ufw-before-input -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A ufw-before-forward -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
";

/// UFW's chains are UFW's to write: the fix changes nothing and prints
/// `before.rules` lines instead. Installing exactly those lines (as `ufw
/// reload` would, appending them to the `before` chains) lets the guest
/// reach the host's DNS and the outside, and the doctor then exits 0.
#[test]
fn ufw_gets_before_rules_lines_that_work_when_installed() {
    let test = "ufw_gets_before_rules_lines_that_work_when_installed";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    let _dns = topology::listen(&host.topology.host, DNS);
    host.topology
        .host
        .xtables_restore(false, UFW)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(host.guest_to_host(DNS), Outcome::TimedOut);
    assert_eq!(host.probe(Machine::G1, Machine::Outside), Outcome::TimedOut);

    let found = host.doctor(&[]);
    assert_eq!(found.code, Some(1), "{found}");
    for chain in ["ip filter INPUT", "ip filter FORWARD"] {
        assert!(
            found.stdout.contains(&format!("by: {chain} ")),
            "{chain}: {found}"
        );
    }
    assert!(found.stdout.contains("[managed by UFW]"), "{found}");

    // The script applies nothing to UFW's chains ...
    let before = host.state();
    let script = host.fix();
    host.sh(&script, &[]);
    assert_same_state(&before, &host.state(), &host);
    let fix = host.doctor(&["--fix"]);
    assert!(fix.stderr.contains("by hand: UFW"), "{fix}");
    // ... and tells which lines to add to before.rules.
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("/etc/ufw/before.rules"), "{text}");
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# -A ufw-before-"))
        .collect();
    assert!(!lines.is_empty(), "{text}");
    for line in &lines {
        assert!(
            line.contains("virbr10"),
            "every line names the bridge: {line}"
        );
    }
    let restore: String = lines
        .iter()
        .map(|l| format!("-A ufw-before-{l}\n"))
        .collect();
    host.topology
        .host
        .xtables_restore(false, &format!("*filter\n{restore}COMMIT\n"))
        .unwrap_or_else(|f| panic!("installing the before.rules lines: {f}\n{restore}"));

    assert!(host.guest_to_host(DNS).connected(), "{restore}");
    assert!(
        host.probe(Machine::G1, Machine::Outside).connected(),
        "{restore}"
    );
    let after = host.doctor(&[]);
    assert_eq!(after.code, Some(0), "{after}");
}

#[test]
fn a_host_with_only_fwcs_rules_is_healthy() {
    let test = "a_host_with_only_fwcs_rules_is_healthy";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    let run = host.doctor(&[]);
    assert_eq!(run.code, Some(0), "{run}");
    assert!(run.stdout.contains("flows pass"), "{run}");
    assert!(!run.stdout.contains("blocked:"), "{run}");
    let fix = host.doctor(&["--fix"]);
    assert!(fix.stdout.contains("No flow is blocked"), "{fix}");
}

/// The flows of the topology's NAT network that the foreign states block,
/// as the analysis describes them, and where they are blocked.
fn hand_built_diagnosis() -> Diagnosis {
    let bridge = Ifname::new("virbr10").unwrap();
    let ifname = |n: &str| Value::Ifname(Ifname::new(n).unwrap());
    let subnet = Value::Prefix("192.168.100.0/24".parse().unwrap());
    let flow = |kind, description: &str, allow| Flow {
        kind,
        network: "behaviour-nat".into(),
        bridge: bridge.clone(),
        family: IpFamily::V4,
        description: description.into(),
        steps: Vec::new(),
        allow,
    };
    // Docker's FORWARD policy, or the UFW-like table's input policy.
    let blocked = |flow, manager| {
        let (family, table, chain, hook) = match manager {
            Manager::Docker => (Family::Ip, "filter", "FORWARD", Hook::Forward),
            _ => (Family::Inet, "ufwlike", "input", Hook::Input),
        };
        Blocked::policy_drop(flow, manager, (family, table, chain), hook)
    };
    Diagnosis {
        flows: vec![
            flow(
                FlowKind::GuestToOutside,
                "guest → outside (virbr10, 192.168.100.0/24)",
                vec![
                    Match::eq(Field::IifName, ifname("virbr10")),
                    Match::eq(Field::Saddr(IpFamily::V4), subnet.clone()),
                    Match::eq(Field::OifName, ifname(topology::UPLINK)),
                ],
            ),
            flow(
                FlowKind::OutsideReplies,
                "outside → guest, replies (virbr10, 192.168.100.0/24)",
                vec![
                    Match::eq(Field::IifName, ifname(topology::UPLINK)),
                    Match::eq(Field::OifName, ifname("virbr10")),
                    Match::eq(Field::Daddr(IpFamily::V4), subnet.clone()),
                    Match::eq(
                        Field::CtState,
                        Value::CtStates(CtStates::RELATED_ESTABLISHED),
                    ),
                ],
            ),
            flow(
                FlowKind::DnsTcp,
                "guest → host, tcp/53 (virbr10, 192.168.100.0/24)",
                vec![
                    Match::eq(Field::IifName, ifname("virbr10")),
                    Match::eq(Field::Saddr(IpFamily::V4), subnet),
                    Match::eq(Field::L4Proto, Value::Proto(L4Proto::Tcp)),
                    Match::eq(
                        Field::Dport(L4Proto::Tcp),
                        Value::Ports(PortRange::new(DNS, DNS).unwrap()),
                    ),
                ],
            ),
        ],
        blocked: vec![
            blocked(0, Manager::Docker),
            blocked(1, Manager::Docker),
            blocked(2, Manager::Nftables),
        ],
        ..Diagnosis::default()
    }
}

/// The fix generator on its own: a script from a hand-built diagnosis lets
/// exactly the blocked flows through, applying it twice adds its rules
/// once, and one teardown restores the foreign state exactly.
#[test]
fn a_fix_script_applies_idempotently_and_tears_down_exactly() {
    let test = "a_fix_script_applies_idempotently_and_tears_down_exactly";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    let host = Host::build();
    let _dns = topology::listen(&host.topology.host, DNS);
    let ns = &host.topology.host;
    ns.xtables_restore(false, DOCKER)
        .unwrap_or_else(|f| panic!("{f}"));
    ns.nft_load(UFW_LIKE).unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(host.probe(Machine::G1, Machine::Outside), Outcome::TimedOut);
    assert_eq!(host.guest_to_host(DNS), Outcome::TimedOut);
    let before = host.state();

    let fix = fix::script(&hand_built_diagnosis()).expect("a script");
    assert_eq!((fix.rules, fix.manual.len()), (3, 0), "{}", fix.text);
    let script = host.write_script(&fix.text);
    host.sh(&script, &[]);
    host.sh(&script, &[]);
    // Each rule once: two in DOCKER-USER (iptables-nft keeps their comment
    // where only iptables shows it), one in the nftables table.
    let listing = ns.ruleset_text();
    let docker_user = ns
        .run("iptables", &["-w", "-S", "DOCKER-USER"], None)
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(
        docker_user.matches("--comment \"fwc-doctor: ").count(),
        2,
        "{docker_user}"
    );
    assert_eq!(
        listing.matches("comment \"fwc-doctor: ").count(),
        1,
        "{listing}"
    );
    let out = host.probe(Machine::G1, Machine::Outside);
    assert!(out.connected(), "after the fix: {out}\n{}", fix.text);
    let dns = host.guest_to_host(DNS);
    assert!(dns.connected(), "after the fix: {dns}\n{}", fix.text);
    // Only the flows: the host's other ports stay closed to guests.
    assert_eq!(
        host.probe(Machine::G1, Machine::Host),
        Outcome::TimedOut,
        "{listing}"
    );

    host.sh(&script, &["--teardown"]);
    assert_same_state(&before, &host.state(), &host);
    assert_eq!(host.probe(Machine::G1, Machine::Outside), Outcome::TimedOut);
    assert_eq!(host.guest_to_host(DNS), Outcome::TimedOut);
    // A second teardown finds nothing to remove and changes nothing.
    host.sh(&script, &["--teardown"]);
    assert_same_state(&before, &host.state(), &host);
}
