//! Behaviour with real packets: a NAT network and an isolated one, compiled
//! together for every target and layout and loaded into the host of a
//! namespace topology (see `fwc_tests::topology`), enforce libvirt's policy
//! on real TCP connections, and every target gives the same outcomes:
//!
//! 1. g1 (NAT) → outside connects, seen as the host's address with a source
//!    port in `<nat><port>`'s range;
//! 2. outside → g1: a new connection is refused;
//! 3. g2 (isolated) → outside is refused;
//! 4. g1 ↔ g2 across the bridges is refused both ways;
//! 5. g1 → host connects.
//!
//! Before the rules are loaded every probe connects without NAT, and after
//! teardown the same again, so a policy that blocks everything (or nothing)
//! cannot pass and teardown is seen to undo the behaviour, not just the
//! listing.

use std::fmt::Write as _;
use std::path::PathBuf;

use compiler::pipeline::{compile_paths, Options};
use emitters::{Direction, Target};
use fwc_tests::netns::may_run;
use fwc_tests::topology::{Machine, Outcome, Topology, ISOLATED_NETWORK, NAT_NETWORK};
use rules::layout::Layout;

use Machine::{Host, Outside, G1, G2};

/// Every connection the tests try, in table order.
const PROBES: [(Machine, Machine); 6] = [
    (G1, Outside),
    (Outside, G1),
    (G2, Outside),
    (G1, G2),
    (G2, G1),
    (G1, Host),
];

/// Every target and layout the policy is checked on.
const CASES: [(Target, Layout); 6] = [
    (Target::Nft, Layout::Fwc),
    (Target::Nft, Layout::Libvirt),
    (Target::NftJson, Layout::Fwc),
    (Target::NftJson, Layout::Libvirt),
    (Target::Iptables, Layout::Fwc),
    (Target::Iptables, Layout::Libvirt),
];

/// One outcome per probe, rendered (see [`Outcome`]'s Display).
type Table = Vec<String>;

fn probe_all(topology: &Topology) -> Table {
    PROBES
        .iter()
        .map(|&(from, to)| topology.probe(from, to).to_string())
        .collect()
}

fn connected(from: Machine, port_in_nat_range: bool) -> String {
    // Only the port's side of the range is shown, so any port stands for it.
    let port = if port_in_nat_range { 20000 } else { 40000 };
    Outcome::Connected {
        from: from.address(),
        port,
    }
    .to_string()
}

/// Without rules: everyone connects, as themselves (ephemeral ports lie
/// outside the NAT range).
fn open_table() -> Table {
    PROBES
        .iter()
        .map(|&(from, _)| connected(from, false))
        .collect()
}

/// libvirt's policy for the two networks.
fn policy_table() -> Table {
    let refused = Outcome::Refused.to_string();
    vec![
        // Seen as the host's uplink address (198.51.100.1), not as g1.
        Outcome::Connected {
            from: "198.51.100.1".parse().unwrap(),
            port: 20000,
        }
        .to_string(),
        refused.clone(),
        refused.clone(),
        refused.clone(),
        refused,
        connected(G1, false),
    ]
}

/// The rows of a table, labelled, for messages.
fn render(columns: &[(String, &Table)]) -> String {
    let mut text = String::new();
    for (row, (from, to)) in PROBES.iter().enumerate() {
        let _ = writeln!(text, "{} -> {}", from.name(), to.name());
        for (label, table) in columns {
            let cell = table.get(row).map(String::as_str).unwrap_or("-");
            let _ = writeln!(text, "    {label:<22} {cell}");
        }
    }
    text
}

/// The two networks, written to a directory and compiled together.
struct Inputs {
    dir: tempfile::TempDir,
}

impl Inputs {
    fn new() -> Inputs {
        let dir = tempfile::tempdir().expect("a temporary directory");
        std::fs::write(dir.path().join("nat.xml"), NAT_NETWORK).unwrap();
        std::fs::write(dir.path().join("isolated.xml"), ISOLATED_NETWORK).unwrap();
        Inputs { dir }
    }

    /// `(target, setup, teardown)` for every loader the case needs: the
    /// iptables cases load ip6tables as well, as libvirt's iptables backend
    /// and fwc's `inet` table (IPv6 half) both need.
    fn artifacts(&self, target: Target, layout: Layout) -> Vec<(Target, String, String)> {
        let targets = match target {
            Target::Iptables => vec![Target::Iptables, Target::Ip6tables],
            other => vec![other],
        };
        let paths = [PathBuf::from(self.dir.path())];
        targets
            .into_iter()
            .map(|t| {
                let text = |direction| {
                    let opts = Options {
                        target: t,
                        layout,
                        direction,
                        ..Options::default()
                    };
                    match compile_paths(&paths, &opts) {
                        Ok(out) => out.artifact.text,
                        Err(diags) => panic!("--target {} {layout:?}: {diags:?}", t.name()),
                    }
                };
                (t, text(Direction::Setup), text(Direction::Teardown))
            })
            .collect()
    }
}

#[test]
fn without_rules_every_machine_reaches_every_other_as_itself() {
    if !may_run(
        "without_rules_every_machine_reaches_every_other_as_itself",
        Topology::unavailable(),
    ) {
        return;
    }
    let topology = Topology::build();
    let table = probe_all(&topology);
    assert_eq!(
        table,
        open_table(),
        "\n{}",
        render(&[
            ("expected".into(), &open_table()),
            ("no rules".into(), &table)
        ])
    );
    // The policy table really differs from this, row by row where it blocks.
    let differing = open_table()
        .iter()
        .zip(policy_table())
        .filter(|(open, policy)| **open != *policy)
        .count();
    assert_eq!(differing, 5, "only g1 -> host looks the same either way");
}

/// What one case gave before, with and after its rules, and what went wrong
/// in loading.
struct Run {
    label: String,
    before: Table,
    with_rules: Table,
    after: Table,
    problems: Vec<String>,
}

/// The label of a case in tables.
fn label(target: Target, layout: Layout) -> String {
    let layout = match layout {
        Layout::Fwc => "fwc",
        Layout::Libvirt => "libvirt",
    };
    format!("{} {layout}", target.name())
}

/// Builds a topology, probes it, loads `artifacts` into its host, probes
/// again, tears down and probes a third time.
fn run_case(label: String, artifacts: &[(Target, String, String)]) -> Run {
    let topology = Topology::build();
    let before = probe_all(&topology);
    let host = &topology.host;
    let empty = host.ruleset();
    let mut problems = Vec::new();
    for (t, setup, _) in artifacts {
        if let Err(f) = host.load(*t, setup) {
            problems.push(format!("{label}: {} setup rejected: {f}", t.name()));
        }
    }
    let with_rules = probe_all(&topology);
    for (t, _, teardown) in artifacts.iter().rev() {
        if let Err(f) = host.load(*t, teardown) {
            problems.push(format!("{label}: {} teardown rejected: {f}", t.name()));
        }
    }
    let left = host.ruleset();
    if left != empty {
        problems.push(format!(
            "{label}: teardown left:\n{}",
            compiler::netns::differences(&empty, &left)
        ));
    }
    let after = probe_all(&topology);
    Run {
        label,
        before,
        with_rules,
        after,
        problems,
    }
}

#[test]
fn every_target_and_layout_enforces_the_same_policy_on_real_connections() {
    let test = "every_target_and_layout_enforces_the_same_policy_on_real_connections";
    if !may_run(test, Topology::unavailable()) {
        return;
    }
    // Compiled up front, so a compile error is reported as itself.
    let inputs = Inputs::new();
    let cases: Vec<_> = CASES
        .iter()
        .map(|&(target, layout)| (label(target, layout), inputs.artifacts(target, layout)))
        .collect();
    // Each case gets its own topology, so the cases run side by side.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .map(|(label, artifacts)| s.spawn(|| run_case(label.clone(), artifacts)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a case panicked (its message is above)"))
            .collect()
    });

    let (open, policy) = (open_table(), policy_table());
    let mut columns = vec![("expected".to_owned(), &policy)];
    columns.extend(runs.iter().map(|r| (r.label.clone(), &r.with_rules)));
    let grid = render(&columns);
    let mut problems: Vec<String> = runs.iter().flat_map(|r| r.problems.clone()).collect();
    for r in &runs {
        if r.before != open {
            problems.push(format!(
                "{}: without rules:\n{}",
                r.label,
                render(&[("expected".into(), &open), (r.label.clone(), &r.before)])
            ));
        }
        if r.after != open {
            problems.push(format!(
                "{}: after teardown:\n{}",
                r.label,
                render(&[("expected".into(), &open), (r.label.clone(), &r.after)])
            ));
        }
    }
    let wrong: Vec<_> = runs
        .iter()
        .filter(|r| r.with_rules != policy)
        .map(|r| r.label.as_str())
        .collect();
    if !wrong.is_empty() {
        problems.push(format!("with rules, {} differ:\n{grid}", wrong.join(", ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // All equal to one table, hence to each other.
    assert!(runs.iter().all(|r| r.with_rules == runs[0].with_rules));
    assert_eq!(runs.len(), CASES.len());
}
