//! Throwaway network namespaces in which artifacts are loaded for real.
//!
//! Each [`Netns`] is a fresh namespace made with `ip netns add` and deleted on
//! drop, so tests can load, list and tear down rules without touching the
//! host. Tests that need one call [`Netns::for_test`]: it returns `None` with
//! a printed reason when the kernel cannot be used (not root, a tool missing),
//! and panics instead when `FWC_REQUIRE_KERNEL=1`, as CI sets it.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value as Json;

/// The programs the kernel tests run.
const TOOLS: [&str; 5] = [
    "ip",
    "nft",
    "iptables-restore",
    "ip6tables-restore",
    "ebtables-restore",
];

/// Why the kernel tests cannot run here, if they cannot.
pub fn unavailable() -> Option<String> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_owned))
        });
    if uid.as_deref() != Some("0") {
        return Some("not running as root (needed for network namespaces)".into());
    }
    for tool in TOOLS {
        if which(tool).is_none() {
            return Some(format!(
                "`{tool}` not found (apt-get install -y iproute2 nftables iptables ebtables)"
            ));
        }
    }
    None
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// Whether CI demands the kernel tests (a skip is then a failure).
pub fn required() -> bool {
    std::env::var("FWC_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// A private network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

/// A command that failed, with what it printed.
#[derive(Debug)]
pub struct Failure {
    /// The command line.
    pub command: String,
    /// Its standard error (and output, when stderr was empty).
    pub output: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed:\n{}", self.command, self.output)
    }
}

impl Netns {
    /// A namespace for `test`, or `None` (after printing why) when the kernel
    /// cannot be used; panics instead when [`required`].
    pub fn for_test(test: &str) -> Option<Netns> {
        if let Some(reason) = unavailable() {
            if required() {
                panic!("{test}: kernel test cannot run but FWC_REQUIRE_KERNEL=1: {reason}");
            }
            eprintln!("SKIP {test}: {reason}");
            return None;
        }
        Some(Netns::new())
    }

    /// Creates a fresh namespace. Panics if `ip netns add` fails.
    pub fn new() -> Netns {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "fwc-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .expect("running ip netns add");
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Netns { name }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `program args...` inside the namespace with `stdin`, returning stdout.
    pub fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, Failure> {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program])
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = format!("{program} {}", args.join(" "));
        let mut child = cmd.spawn().map_err(|e| Failure {
            command: command.clone(),
            output: e.to_string(),
        })?;
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .expect("piped stdin")
                .write_all(text.as_bytes())
                .map_err(|e| Failure {
                    command: command.clone(),
                    output: e.to_string(),
                })?;
        }
        let out = child.wait_with_output().map_err(|e| Failure {
            command: command.clone(),
            output: e.to_string(),
        })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            Err(Failure {
                command,
                output: if stderr.trim().is_empty() {
                    stdout
                } else {
                    stderr
                },
            })
        }
    }

    /// Runs a shell command line inside the namespace (for `--format commands`
    /// artifacts, whose lines are shell-quoted argv).
    pub fn sh(&self, line: &str) -> Result<String, Failure> {
        self.run("sh", &["-c", line], None)
    }

    /// Creates a bridge called `name` and sets it up.
    pub fn add_bridge(&self, name: &str) {
        self.run("ip", &["link", "add", name, "type", "bridge"], None)
            .unwrap_or_else(|f| panic!("{f}"));
        self.run("ip", &["link", "set", name, "up"], None)
            .unwrap_or_else(|f| panic!("{f}"));
    }

    /// Loads an `nft -f` script.
    pub fn nft_load(&self, script: &str) -> Result<(), Failure> {
        self.run("nft", &["-f", "-"], Some(script)).map(drop)
    }

    /// Checks an `nft -f` script without applying it.
    pub fn nft_check(&self, script: &str) -> Result<(), Failure> {
        self.run("nft", &["-c", "-f", "-"], Some(script)).map(drop)
    }

    /// Loads `iptables-restore --noflush` (or ip6tables) input.
    pub fn xtables_restore(&self, ipv6: bool, input: &str) -> Result<(), Failure> {
        let tool = if ipv6 {
            "ip6tables-restore"
        } else {
            "iptables-restore"
        };
        self.run(tool, &["--noflush"], Some(input)).map(drop)
    }

    /// Loads `ebtables-restore --noflush` input.
    pub fn ebtables_restore(&self, input: &str) -> Result<(), Failure> {
        self.run("ebtables-restore", &["--noflush"], Some(input))
            .map(drop)
    }

    /// The namespace's whole ruleset (`nft -j list ruleset`), normalised by
    /// [`normalise`]. iptables-nft and ebtables-nft state appears here too.
    pub fn ruleset(&self) -> Json {
        let text = self
            .run("nft", &["-j", "list", "ruleset"], None)
            .unwrap_or_else(|f| panic!("{f}"));
        normalise(serde_json::from_str(&text).expect("nft -j prints JSON"))
    }

    /// The ruleset as `nft list ruleset` prints it, for failure messages.
    pub fn ruleset_text(&self) -> String {
        self.run("nft", &["list", "ruleset"], None)
            .unwrap_or_else(|f| f.to_string())
    }
}

impl Default for Netns {
    fn default() -> Self {
        Netns::new()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Makes two listings of the same state compare equal: drops `metainfo` and
/// rule/object handles, and the empty built-in chains and tables that
/// iptables-nft and ebtables-nft create on first use and never remove.
pub fn normalise(mut ruleset: Json) -> Json {
    fn strip_handles(v: &mut Json) {
        match v {
            Json::Object(map) => {
                map.remove("handle");
                map.values_mut().for_each(strip_handles);
            }
            Json::Array(items) => items.iter_mut().for_each(strip_handles),
            _ => {}
        }
    }
    strip_handles(&mut ruleset);
    let Some(items) = ruleset.get_mut("nftables").and_then(Json::as_array_mut) else {
        return ruleset;
    };
    items.retain(|i| i.get("metainfo").is_none());
    const XT_TABLES: [&str; 6] = ["filter", "nat", "mangle", "raw", "security", "broute"];
    let is_xt = |o: &Json| {
        o.get("table")
            .or_else(|| o.get("name"))
            .and_then(Json::as_str)
            .is_some_and(|t| XT_TABLES.contains(&t))
    };
    let key = |o: &Json| {
        (
            o.get("family")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
            o.get("table")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
            o.get("name")
                .and_then(Json::as_str)
                .unwrap_or("")
                .to_owned(),
        )
    };
    let used_chains: std::collections::BTreeSet<_> = items
        .iter()
        .filter_map(|i| i.get("rule"))
        .map(|r| {
            (
                r["family"].as_str().unwrap_or("").to_owned(),
                r["table"].as_str().unwrap_or("").to_owned(),
                r["chain"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    // An xtables built-in chain is a base chain with policy accept; user
    // chains have no hook.
    items.retain(|i| match i.get("chain") {
        Some(c) if is_xt(c) && c.get("hook").is_some() => {
            used_chains.contains(&key(c))
                || c.get("policy").and_then(Json::as_str) != Some("accept")
        }
        _ => true,
    });
    let tables_in_use: std::collections::BTreeSet<_> = items
        .iter()
        .filter_map(|i| {
            i.get("chain")
                .or_else(|| i.get("set"))
                .or_else(|| i.get("map"))
        })
        .map(|c| {
            (
                c["family"].as_str().unwrap_or("").to_owned(),
                c["table"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    items.retain(|i| match i.get("table") {
        Some(t) if is_xt(t) => tables_in_use.contains(&(
            t["family"].as_str().unwrap_or("").to_owned(),
            t["name"].as_str().unwrap_or("").to_owned(),
        )),
        _ => true,
    });
    ruleset
}

/// Foreign state that other software would have put on a host: an `inet`
/// table with a set and base chains, iptables rules in `FORWARD` and
/// `nat POSTROUTING` and a `DOCKER-USER` chain, an ip6tables rule and an
/// ebtables rule. Loaded before fwc's artifacts; teardown must leave it.
pub fn load_foreign_state(ns: &Netns) {
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
