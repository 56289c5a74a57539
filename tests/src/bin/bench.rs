//! fwc's benchmark (issue 8): prints Markdown tables for docs/benchmarks.md.
//!
//! ```text
//! cargo build --release -p fwc -p fwc-tests
//! cargo run --release -p fwc-tests --bin bench [-- OPTIONS]
//!   --networks N            networks of the compiled host (1000)
//!   --ports N               bound ports of the compiled host (5000)
//!   --apply-networks N      NAT networks for the apply comparison (100)
//!   --dataplane-networks N  NAT networks for the iperf3 run (1000)
//!   --seconds S             length of each iperf3 run (5)
//!   --repeat K              rounds of iperf3 runs, median reported (5)
//!   --no-kernel             only the compile table (no root needed)
//! ```
//!
//! 1. **Compile**: a generated host (see `fwc_tests::generate`) compiled to
//!    nft in a fresh child process: wall time (reading the files to writing
//!    the script), peak memory (the child's `VmHWM`), rules and chains
//!    emitted, the longest chain, and the time `nft -f` takes to load it in
//!    a network namespace (the kernel accepting it is part of the check).
//! 2. **Apply**: NAT networks installed fwc's way (one `nft -f` of the
//!    script) against libvirt's way (`--layout libvirt --format commands`,
//!    one process per command, as libvirt runs them), and the same commands
//!    batched into one `nft -f` file.
//! 3. **Dataplane**: iperf3 from a guest namespace on the worst-placed bridge
//!    (the one whose rules come last in libvirt's layout) of a host with
//!    1,000 NAT networks to an outside namespace: no firewall, fwc's layout,
//!    libvirt's layout.
//!
//! Everything runs in private network namespaces, which it deletes.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use compiler::netns::Netns;
use compiler::pipeline::{self, Options};
use emitters::{Format, Target};
use fwc_tests::generate::{self, Host, Mode};
use ir::{Family, Field, Provenance, Ruleset, Value, Verdict};
use rules::layout::Layout;

struct Args {
    networks: usize,
    ports: usize,
    apply_networks: usize,
    dataplane_networks: usize,
    seconds: u32,
    repeat: usize,
    kernel: bool,
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.first().map(String::as_str) == Some("compile-child") {
        compile_child(&argv[1..]);
        return;
    }
    let args = parse(&argv);
    let machine = machine();
    println!("# fwc benchmark\n\n{machine}\n");
    compile_section(&args);
    if !args.kernel {
        return;
    }
    if let Some(why) = compiler::netns::missing(&["ip", "nft"]) {
        println!("Kernel sections skipped: {why}.");
        return;
    }
    apply_section(&args);
    dataplane_section(&args);
}

fn parse(argv: &[String]) -> Args {
    let mut a = Args {
        networks: 1000,
        ports: 5000,
        apply_networks: 100,
        dataplane_networks: 1000,
        seconds: 5,
        repeat: 5,
        kernel: true,
    };
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || -> usize {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{flag} needs a number")))
        };
        match flag.as_str() {
            "--networks" => a.networks = value(),
            "--ports" => a.ports = value(),
            "--apply-networks" => a.apply_networks = value(),
            "--dataplane-networks" => a.dataplane_networks = value(),
            "--seconds" => a.seconds = value() as u32,
            "--repeat" => a.repeat = value().max(1),
            "--no-kernel" => a.kernel = false,
            other => usage(&format!("unknown argument {other}")),
        }
    }
    a
}

fn usage(msg: &str) -> ! {
    eprintln!("bench: {msg}\nsee the doc comment of tests/src/bin/bench.rs for the options");
    std::process::exit(2);
}

/// CPU, cores, memory, kernel and nft version, for the report.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let out = |cmd: &str, args: &[&str]| {
        Command::new(cmd)
            .args(args)
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_else(|| "?".into())
    };
    format!(
        "Machine: {cpu}, {cores} cores, {mem_gib:.0} GiB; kernel {}; {}; {}.",
        out("uname", &["-r"]),
        out("nft", &["--version"]),
        out("iperf3", &["--version"])
            .lines()
            .next()
            .unwrap_or("no iperf3")
    )
}

// ------------------------------------------------------------------ compile

/// What a child compile reports.
struct Compiled {
    millis: f64,
    peak_mib: f64,
    rules: usize,
    chains: usize,
    longest: usize,
    script: PathBuf,
}

/// `bench compile-child DIR LAYOUT OUT [FILTERS]`: compiles DIR to an nft
/// script at OUT in this (fresh) process and prints
/// `ok MILLIS PEAK_KIB RULES CHAINS LONGEST` or `err MESSAGE`.
fn compile_child(argv: &[String]) {
    let [dir, layout, out, rest @ ..] = argv else {
        usage("compile-child DIR LAYOUT OUT [FILTERS]");
    };
    let opts = Options {
        target: Target::Nft,
        layout: if layout == "libvirt" {
            Layout::Libvirt
        } else {
            Layout::Fwc
        },
        ..Options::default()
    };
    let start = Instant::now();
    let result = pipeline::load_paths(&[PathBuf::from(dir)]).and_then(|files| {
        let filters = rest.first().map(Path::new);
        pipeline::compile_files_with_filters(&files, filters, &opts)
    });
    match result {
        Ok(output) => {
            std::fs::write(out, &output.artifact.text).expect("writing the script");
            let millis = start.elapsed().as_secs_f64() * 1000.0;
            let rs = &output.ruleset;
            let chains = rs.tables.iter().map(|t| t.chains.len()).sum::<usize>();
            println!(
                "ok {millis:.1} {} {} {chains} {}",
                peak_kib(),
                rs.rules().count(),
                longest_chain(rs)
            );
        }
        Err(diags) => {
            let first = diags
                .first()
                .map(|d| d.to_string())
                .unwrap_or_default()
                .replace('\n', " ");
            println!("err {} diagnostics; first: {first}", diags.len());
        }
    }
}

/// This process's peak resident memory, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn longest_chain(rs: &Ruleset) -> usize {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .map(|c| c.rules.len())
        .max()
        .unwrap_or(0)
}

/// Compiles `dir` in a child process.
fn compile_in_child(dir: &Path, layout: &str, filters: Option<&Path>) -> Result<Compiled, String> {
    let script = dir.with_extension(format!("{layout}.nft"));
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.arg("compile-child").arg(dir).arg(layout).arg(&script);
    if let Some(f) = filters {
        cmd.arg(f);
    }
    let out = cmd.output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let fields: Vec<&str> = text.split_whitespace().collect();
    match fields.as_slice() {
        ["ok", ms, kib, rules, chains, longest] => Ok(Compiled {
            millis: ms.parse().unwrap_or(0.0),
            peak_mib: kib.parse::<f64>().unwrap_or(0.0) / 1024.0,
            rules: rules.parse().unwrap_or(0),
            chains: chains.parse().unwrap_or(0),
            longest: longest.parse().unwrap_or(0),
            script,
        }),
        _ if text.starts_with("err ") => Err(text[4..].to_owned()),
        _ => Err(format!(
            "the child failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// Times `nft -f script` in a fresh namespace; `None` if the kernel cannot
/// be used, `Err` if it refused the script.
fn load_time(script: &Path, bridges: &[String]) -> Option<Result<Duration, String>> {
    if compiler::netns::missing(&["ip", "nft"]).is_some() {
        return None;
    }
    let ns = Netns::create("fwc-bench").ok()?;
    add_bridges(&ns, bridges);
    let start = Instant::now();
    let r = run(ns.command("nft").arg("-f").arg(script));
    Some(r.map(|()| start.elapsed()))
}

fn compile_section(args: &Args) {
    let work = tempfile::tempdir().expect("a temporary directory");
    let host = generate::host(args.networks, args.ports);
    let nets_dir = work.path().join("networks");
    let all_dir = work.path().join("host");
    for (dir, docs) in [
        (&nets_dir, host.network_docs.iter().collect::<Vec<_>>()),
        (&all_dir, host.documents().collect()),
    ] {
        std::fs::create_dir_all(dir).expect("creating the input directory");
        for d in docs {
            std::fs::write(dir.join(&d.name), &d.xml).expect("writing an input");
        }
    }
    let filters = fwc_tests::corpus::libvirt().join("nwfilter-library");
    let modes = |m: Mode| host.networks.iter().filter(|n| n.mode == m).count();
    println!("## Compile\n");
    println!(
        "Generated host: {} networks ({} NAT, {} routed, {} isolated, {} open; {} dual-stack), \
         {} ports bound to `clean-traffic`. Target nft, `--format script`, default `-O1`.\n",
        args.networks,
        modes(Mode::Nat),
        modes(Mode::Route),
        modes(Mode::Isolated),
        modes(Mode::Open),
        host.networks.iter().filter(|n| n.dual_stack).count(),
        args.ports
    );
    println!("| input | layout | compile | peak memory | rules | chains | longest chain | `nft -f` load |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    let bridges: Vec<String> = host.networks.iter().map(|n| n.bridge.clone()).collect();
    let cases: [(&str, &Path, &str, Option<&Path>); 3] = [
        ("networks", &nets_dir, "fwc", None),
        ("networks", &nets_dir, "libvirt", None),
        ("networks + ports", &all_dir, "fwc", Some(&filters)),
    ];
    let mut network_rules = None;
    for (input, dir, layout, filters) in cases {
        let label = format!(
            "{} {input}{}",
            args.networks,
            if filters.is_some() {
                format!(" ({} ports)", args.ports)
            } else {
                String::new()
            }
        );
        let compiled = compile_in_child(dir, layout, filters);
        if let (Ok(c), None, "fwc") = (&compiled, filters, layout) {
            network_rules = Some(c.rules);
        }
        match compiled {
            // Ports that add no rule to the networks' are not lowered yet.
            Ok(c) if filters.is_some() && Some(c.rules) == network_rules => println!(
                "| {label} | {layout} | pending: the ports are read and resolved but not yet \
                 lowered (nwfilter lowering in progress) | | | | | |"
            ),
            Ok(c) => {
                // libvirt's layout matches bridges by index: they must exist.
                let load = load_time(&c.script, if layout == "libvirt" { &bridges } else { &[] });
                let load = match (args.kernel, load) {
                    (false, _) | (_, None) => "not run".to_owned(),
                    (true, Some(Ok(d))) => format!("{:.0} ms", ms(d)),
                    (true, Some(Err(e))) => format!("refused: {}", first_line(&e)),
                };
                println!(
                    "| {label} | {layout} | {:.0} ms | {:.0} MiB | {} | {} | {} | {load} |",
                    c.millis, c.peak_mib, c.rules, c.chains, c.longest
                );
            }
            Err(e) => println!(
                "| {label} | {layout} | pending: {} | | | | | |",
                first_line(&e).chars().take(160).collect::<String>()
            ),
        }
    }
    println!();
}

// -------------------------------------------------------------------- apply

fn apply_section(args: &Args) {
    let n = args.apply_networks;
    let host = generate::uniform(n, Mode::Nat);
    let work = tempfile::tempdir().expect("a temporary directory");
    let fwc_script = work.path().join("fwc.nft");
    let fwc = compile(&host, Layout::Fwc, Format::Script);
    std::fs::write(&fwc_script, &fwc).expect("writing the script");
    let commands = compile(&host, Layout::Libvirt, Format::Commands);
    let lines: Vec<&str> = commands.lines().collect();
    let commands_file = work.path().join("libvirt.sh");
    std::fs::write(&commands_file, &commands).expect("writing the commands");
    let batch: String = lines
        .iter()
        .filter(|l| l.starts_with("nft "))
        .map(|l| {
            let words = shell_words(l);
            let words: Vec<&str> = words[1..]
                .iter()
                .map(String::as_str)
                .filter(|w| *w != "-ae")
                .collect();
            words.join(" ") + "\n"
        })
        .collect();
    let batch_file = work.path().join("libvirt-batch.nft");
    std::fs::write(&batch_file, &batch).expect("writing the batch");
    let bridges: Vec<String> = host.networks.iter().map(|n| n.bridge.clone()).collect();
    let tc = lines.iter().filter(|l| l.starts_with("tc ")).count();

    // Each way runs as one `sh` in a fresh namespace with the bridges,
    // timed inside it so that entering the namespace is not counted.
    let time_sh = |script: &str| -> (Duration, usize) {
        let ns = Netns::create("fwc-bench").expect("a namespace");
        add_bridges(&ns, &bridges);
        // The kernel cleans up deleted namespaces in the background; let
        // the previous run's cleanup finish before timing this one.
        std::thread::sleep(Duration::from_secs(2));
        let timed = format!(
            "t0=$(date +%s%N); {script}; t1=$(date +%s%N); echo \"ELAPSED $((t1 - t0))\" >&2"
        );
        let out = ns
            .command("sh")
            .args(["-c", &timed])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("running sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let failures = stderr.lines().filter(|l| l.starts_with("FAILED")).count();
        let nanos = stderr
            .lines()
            .find_map(|l| l.strip_prefix("ELAPSED "))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no timing from sh: {stderr}"));
        (Duration::from_nanos(nanos), failures)
    };
    let (fwc_time, _) = time_sh(&format!("nft -f {}", fwc_script.display()));
    // Like libvirt: one process per command, each checked; tc's csum action
    // is missing from some kernels, so failures are counted, not fatal.
    let per_command = format!(
        "while IFS= read -r line; do eval \"$line\" >/dev/null 2>&1 || echo \"FAILED $line\" >&2; done < {}",
        commands_file.display()
    );
    let (batch_time, _) = time_sh(&format!("nft -f {}", batch_file.display()));
    let (libvirt_time, failed) = time_sh(&per_command);

    println!("## Apply\n");
    println!(
        "{n} NAT networks (IPv4, DHCP, like libvirt's `default`). fwc: `nft -f` of \
         `fwc compile --target nft`. libvirt's way: the {} lines of `fwc compile --layout \
         libvirt --format commands` ({} `nft`, {tc} `tc`), one process each. Batched: the same \
         `nft` commands as lines of one `nft -f` file (no `tc`).\n",
        lines.len(),
        lines.len() - tc
    );
    println!("| method | processes | time | vs fwc |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, procs: usize, d: Duration| {
        println!(
            "| {name} | {procs} | {:.0} ms | {:.0}x |",
            ms(d),
            d.as_secs_f64() / fwc_time.as_secs_f64()
        );
    };
    row("fwc: one `nft -f` script", 1, fwc_time);
    row(
        "libvirt: one process per command",
        lines.len(),
        libvirt_time,
    );
    row("libvirt's commands batched in one `nft -f`", 1, batch_time);
    if failed > 0 {
        println!(
            "\n{failed} of the {} commands failed here (the `tc filter ... action csum` lines: \
             this kernel has no `act_csum` module); they still ran as processes.",
            lines.len()
        );
    }
    println!();
}

fn compile(host: &Host, layout: Layout, format: Format) -> String {
    let opts = Options {
        layout,
        format,
        ..Options::default()
    };
    pipeline::compile_sources(&host.network_sources(), &opts)
        .unwrap_or_else(|d| panic!("the generated host compiles: {d:?}"))
        .artifact
        .text
}

/// Splits a command line the way `emitters::quote` quotes it: words
/// separated by spaces, `'...'` quoting, `'\''` for a quote inside.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '\\' => {
                in_word = true;
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            ' ' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

// ---------------------------------------------------------------- dataplane

/// The uplink's addresses: host and outside machine.
const HOST_UP: &str = "198.51.100.1";
const OUTSIDE: &str = "198.51.100.2";

fn dataplane_section(args: &Args) {
    println!("## Dataplane\n");
    if let Some(why) = compiler::netns::missing(&["ip", "nft", "iperf3"]) {
        println!("Not run: {why} (apt-get install -y iperf3).\n");
        return;
    }
    let n = args.dataplane_networks;
    let host = generate::uniform(n, Mode::Nat);
    let opts = |layout| Options {
        layout,
        ..Options::default()
    };
    let sources = host.network_sources();
    let fwc = pipeline::compile_sources(&sources, &opts(Layout::Fwc)).expect("fwc compiles");
    let libvirt =
        pipeline::compile_sources(&sources, &opts(Layout::Libvirt)).expect("libvirt compiles");
    let worst = worst_placed(&libvirt.ruleset).unwrap_or_else(|| host.networks[0].bridge.clone());
    let net = host
        .networks
        .iter()
        .find(|x| x.bridge == worst)
        .expect("the worst bridge is one of the host's");

    let topo = match Topology::build(&host, net) {
        Ok(t) => t,
        Err(e) => {
            println!("Not run: building the namespaces failed: {e}\n");
            return;
        }
    };
    // The floor of any ruleset that masquerades: conntrack and NAT alone.
    let nat_only = String::from(
        "table ip fwc_bench_nat {\n\tchain postrouting {\n\t\ttype nat hook postrouting \
         priority 100; policy accept;\n\t\tip saddr 10.0.0.0/8 oifname \"up0\" masquerade\n\
         \t}\n}\n",
    );
    let rulesets = [
        ("no firewall", None),
        ("masquerade only (1 rule)", Some(&nat_only)),
        ("fwc layout", Some(&fwc.artifact.text)),
        ("libvirt layout", Some(&libvirt.artifact.text)),
    ];
    // Rounds interleave the rulesets, so that a busy moment on the machine
    // does not fall on one of them only.
    let mut samples: Vec<Result<Vec<f64>, String>> = vec![Ok(Vec::new()); rulesets.len()];
    for _ in 0..args.repeat {
        for ((_, script), sample) in rulesets.iter().zip(&mut samples) {
            let Ok(runs) = sample else { continue };
            let _ = topo.host.run("nft", &["flush", "ruleset"], None);
            if let Some(s) = script {
                if let Err(e) = topo.host.nft_load(s) {
                    *sample = Err(format!("loading failed: {}", first_line(&e.to_string())));
                    continue;
                }
            }
            match topo.iperf(args.seconds) {
                Ok(bps) => runs.push(bps),
                Err(e) => *sample = Err(e),
            }
        }
    }
    let _ = topo.host.run("nft", &["flush", "ruleset"], None);
    let rows: Vec<(&str, Result<f64, String>, String)> = rulesets
        .iter()
        .zip(samples)
        .map(|((name, _), sample)| {
            let runs = sample.clone().unwrap_or_default();
            let all = runs
                .iter()
                .map(|b| format!("{:.1}", b / 1e9))
                .collect::<Vec<_>>()
                .join(", ");
            let median = sample.map(|mut r| {
                r.sort_by(f64::total_cmp);
                r[r.len() / 2]
            });
            (*name, median, all)
        })
        .collect();
    println!(
        "{n} NAT networks (bridges created, rules loaded with `nft -f`; libvirt's layout \
         loaded as its equivalent declarative script). A guest namespace on `{worst}` (the \
         bridge whose rules come last in libvirt's chains) runs `iperf3 -c {OUTSIDE} -t {}` \
         through the host namespace, which masquerades it, to an outside namespace; {} \
         rounds, each running the rulesets in turn. \"masquerade only\" is the floor of any \
         ruleset that masquerades: conntrack and NAT with a single rule.\n",
        args.seconds, args.repeat
    );
    println!(
        "| ruleset | throughput (median) | of no firewall | vs libvirt layout | runs (Gbit/s) |"
    );
    println!("|---|---:|---:|---:|---|");
    let median_of = |wanted: &str| {
        rows.iter()
            .find(|(n, _, _)| *n == wanted)
            .and_then(|(_, r, _)| r.as_ref().ok().copied())
    };
    let (base, lv) = (median_of("no firewall"), median_of("libvirt layout"));
    for (name, r, all) in &rows {
        match r {
            Ok(bps) => println!(
                "| {name} | {:.1} Gbit/s | {} | {} | {all} |",
                bps / 1e9,
                base.map_or("?".into(), |b| format!("{:.0}%", 100.0 * bps / b)),
                lv.map_or("?".into(), |l| format!("{:.1}x", bps / l))
            ),
            Err(e) => println!("| {name} | failed: {e} | | | {all} |"),
        }
    }
    println!();
}

/// The bridge whose reject in libvirt's `guest_output` comes last: the
/// one every packet from its guests walks the whole chain for.
fn worst_placed(rs: &Ruleset) -> Option<String> {
    let t = rs.table(Family::Ip, "libvirt_network")?;
    let c = t.chain(t.chain_id("guest_output")?);
    c.rules.iter().rev().find_map(|r| {
        let reject = matches!(r.verdict, Some(Verdict::Reject(_)));
        let input = matches!(r.provenance, Provenance::Input(_));
        if !(reject && input) {
            return None;
        }
        r.matches.iter().find_map(|m| match (&m.field, &m.value) {
            (Field::Iif | Field::IifName, Value::Ifname(n)) => Some(n.to_string()),
            _ => None,
        })
    })
}

/// Host, guest and outside namespaces.
struct Topology {
    host: Netns,
    guest: Netns,
    outside: Netns,
}

impl Topology {
    fn build(host: &Host, net: &generate::Network) -> Result<Topology, String> {
        let err = |e: compiler::netns::Failure| e.to_string();
        let t = Topology {
            host: Netns::create("fwc-bench-host").map_err(err)?,
            guest: Netns::create("fwc-bench-guest").map_err(err)?,
            outside: Netns::create("fwc-bench-out").map_err(err)?,
        };
        let bridges: Vec<String> = host.networks.iter().map(|n| n.bridge.clone()).collect();
        add_bridges(&t.host, &bridges);
        let guest_ip = format!("{}.10", net.v4_prefix);
        let (h, g, o) = (t.host.name(), t.guest.name(), t.outside.name());
        let steps: Vec<Vec<String>> = vec![
            words(&format!(
                "ip -n {h} link add vg0 type veth peer name eth0 netns {g}"
            )),
            words(&format!("ip -n {h} link set vg0 master {} up", net.bridge)),
            words(&format!(
                "ip -n {h} addr add {}/24 dev {}",
                net.gateway(),
                net.bridge
            )),
            words(&format!("ip -n {g} addr add {guest_ip}/24 dev eth0")),
            words(&format!("ip -n {g} link set eth0 up")),
            words(&format!("ip -n {g} link set lo up")),
            words(&format!(
                "ip -n {g} route add default via {}",
                net.gateway()
            )),
            words(&format!(
                "ip -n {h} link add up0 type veth peer name eth0 netns {o}"
            )),
            words(&format!("ip -n {h} addr add {HOST_UP}/24 dev up0")),
            words(&format!("ip -n {h} link set up0 up")),
            words(&format!("ip -n {o} addr add {OUTSIDE}/24 dev eth0")),
            words(&format!("ip -n {o} link set eth0 up")),
            words(&format!("ip -n {o} link set lo up")),
            // Without NAT (no firewall), replies route back to the guests.
            words(&format!("ip -n {o} route add 10.0.0.0/8 via {HOST_UP}")),
            words(&format!(
                "ip netns exec {h} sysctl -qw net.ipv4.ip_forward=1"
            )),
        ];
        for s in steps {
            run(Command::new(&s[0]).args(&s[1..]))?;
        }
        Ok(t)
    }

    /// One iperf3 run from the guest to the outside, in bits per second.
    fn iperf(&self, seconds: u32) -> Result<f64, String> {
        let mut server = self
            .outside
            .command("iperf3")
            .args(["-s", "-1", "-B", OUTSIDE])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut result = Err("no attempt".to_owned());
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let out = self
                .guest
                .command("iperf3")
                .args(["-c", OUTSIDE, "-t", &seconds.to_string(), "-J"])
                .output()
                .map_err(|e| e.to_string())?;
            let json: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            if let Some(bps) = json["end"]["sum_received"]["bits_per_second"].as_f64() {
                result = Ok(bps);
                break;
            }
            result = Err(json["error"].as_str().unwrap_or("no result").to_owned());
            if !result.as_ref().err().is_some_and(|e| e.contains("connect")) {
                break;
            }
        }
        let _ = server.kill();
        let _ = server.wait();
        result
    }
}

// ------------------------------------------------------------------ helpers

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Creates (and sets up) `bridges` in `ns` with one `ip -batch`.
fn add_bridges(ns: &Netns, bridges: &[String]) {
    if bridges.is_empty() {
        return;
    }
    let batch: String = bridges
        .iter()
        .map(|b| format!("link add {b} type bridge\nlink set {b} up\n"))
        .collect();
    ns.run("ip", &["-batch", "-"], Some(&batch))
        .unwrap_or_else(|f| panic!("creating bridges: {f}"));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn first_line(s: &str) -> &str {
    s.lines().find(|l| !l.trim().is_empty()).unwrap_or("")
}
