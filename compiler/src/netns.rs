//! Throwaway network namespaces in which artifacts are loaded for real.
//!
//! A [`Netns`] is a fresh namespace made with `ip netns add` and deleted when
//! it is dropped, also while unwinding from a panic, so rules can be loaded,
//! listed and torn down without touching the host. `fwc check` runs its
//! steps in one; the kernel and behaviour test suites build on it too.
//! Nothing here panics: every command that fails returns a [`Failure`]
//! carrying what the program printed.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use emitters::Target;
use serde_json::Value as Json;

/// Every program the kernel tests run (`fwc check` needs only some).
pub const TOOLS: [&str; 5] = [
    "ip",
    "nft",
    "iptables-restore",
    "ip6tables-restore",
    "ebtables-restore",
];

/// Why namespaces with every tool of [`TOOLS`] cannot be used here, if they
/// cannot.
pub fn unavailable() -> Option<String> {
    missing(&TOOLS)
}

/// Why namespaces cannot be used with `tools` here: not root, or the first
/// tool not found (named, with the packages that provide it).
pub fn missing(tools: &[&str]) -> Option<String> {
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
    tools.iter().find(|t| which(t).is_none()).map(|tool| {
        format!("`{tool}` not found (apt-get install -y iproute2 nftables iptables ebtables)")
    })
}

/// Whether CI demands the kernel tests (`FWC_REQUIRE_KERNEL=1`): a test
/// that cannot use the kernel then fails instead of skipping.
pub fn required() -> bool {
    std::env::var("FWC_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

/// Whether test `test` may go on: `reason` is why it cannot use the kernel
/// (`None`: it can). Prints `SKIP test: reason` and returns false, or
/// panics when [`required`]. The skip convention of every kernel test.
pub fn may_run(test: &str, reason: Option<String>) -> bool {
    let Some(reason) = reason else {
        return true;
    };
    if required() {
        panic!("{test}: kernel test cannot run but FWC_REQUIRE_KERNEL=1: {reason}");
    }
    eprintln!("SKIP {test}: {reason}");
    false
}

/// Where `tool` is: on `PATH`, or in the sbin directories that a non-login
/// root shell may leave off it.
pub fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// The program and arguments that load a script artifact of `target` from
/// standard input: `nft -f -`, `nft -j -f -`, or `*-restore --noflush` (which
/// leaves what fwc does not own in place).
pub fn loader(target: Target) -> (&'static str, &'static [&'static str]) {
    match target {
        Target::Nft => ("nft", &["-f", "-"]),
        Target::NftJson => ("nft", &["-j", "-f", "-"]),
        Target::Iptables => ("iptables-restore", &["--noflush"]),
        Target::Ip6tables => ("ip6tables-restore", &["--noflush"]),
        Target::Ebtables => ("ebtables-restore", &["--noflush"]),
    }
}

/// A private network namespace, deleted on drop.
#[derive(Debug)]
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

impl std::error::Error for Failure {}

impl Netns {
    /// Creates a fresh namespace named `PREFIX-PID-N`, unique on the host
    /// while this process runs.
    pub fn create(prefix: &str) -> Result<Netns, Failure> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let command = format!("ip netns add {name}");
        let failed = |output: String| Failure {
            command: command.clone(),
            output,
        };
        let out = Command::new("ip")
            .args(["netns", "add", &name])
            .output()
            .map_err(|e| failed(e.to_string()))?;
        if !out.status.success() {
            return Err(failed(String::from_utf8_lossy(&out.stderr).into_owned()));
        }
        Ok(Netns { name })
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `program` to be run inside the namespace (through `ip netns exec`),
    /// for callers that need a long-running process; add arguments and spawn.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args...` inside the namespace with `stdin`, returning stdout.
    pub fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, Failure> {
        let mut cmd = self.command(program);
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let command = format!("{program} {}", args.join(" "));
        let failed = |e: std::io::Error| Failure {
            command: command.clone(),
            output: e.to_string(),
        };
        let mut child = cmd.spawn().map_err(failed)?;
        if let Some(text) = stdin {
            // A loader that exits early closes the pipe; its exit status and
            // stderr below say why, so a write error here adds nothing.
            let mut pipe = child.stdin.take().expect("stdin is piped");
            let _ = pipe.write_all(text.as_bytes());
        }
        let out = child.wait_with_output().map_err(failed)?;
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
    pub fn add_bridge(&self, name: &str) -> Result<(), Failure> {
        self.run("ip", &["link", "add", name, "type", "bridge"], None)?;
        self.run("ip", &["link", "set", name, "up"], None).map(drop)
    }

    /// Loads a script artifact of `target` with its [`loader`].
    pub fn load(&self, target: Target, script: &str) -> Result<(), Failure> {
        let (program, args) = loader(target);
        self.run(program, args, Some(script)).map(drop)
    }

    /// Loads an `nft -f` script.
    pub fn nft_load(&self, script: &str) -> Result<(), Failure> {
        self.load(Target::Nft, script)
    }

    /// Checks an `nft -f` script without applying it.
    pub fn nft_check(&self, script: &str) -> Result<(), Failure> {
        self.run("nft", &["-c", "-f", "-"], Some(script)).map(drop)
    }

    /// Loads libnftables JSON (`nft -j -f`).
    pub fn nft_json_load(&self, json: &str) -> Result<(), Failure> {
        self.load(Target::NftJson, json)
    }

    /// Loads `iptables-restore --noflush` (or ip6tables) input.
    pub fn xtables_restore(&self, ipv6: bool, input: &str) -> Result<(), Failure> {
        let target = if ipv6 {
            Target::Ip6tables
        } else {
            Target::Iptables
        };
        self.load(target, input)
    }

    /// Loads `ebtables-restore --noflush` input.
    pub fn ebtables_restore(&self, input: &str) -> Result<(), Failure> {
        self.load(Target::Ebtables, input)
    }

    /// The namespace's whole ruleset (`nft -j list ruleset`), normalised by
    /// [`normalise`]. iptables-nft and ebtables-nft state appears here too.
    pub fn ruleset(&self) -> Result<Json, Failure> {
        let text = self.run("nft", &["-j", "list", "ruleset"], None)?;
        serde_json::from_str(&text)
            .map(normalise)
            .map_err(|e| Failure {
                command: "nft -j list ruleset".into(),
                output: format!("printed something that is not JSON ({e}):\n{text}"),
            })
    }

    /// The ruleset as `nft list ruleset` prints it, for messages (or why it
    /// could not be listed).
    pub fn ruleset_text(&self) -> String {
        self.run("nft", &["list", "ruleset"], None)
            .unwrap_or_else(|f| f.to_string())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Nothing useful can be done if this fails; the name is unique, so a
        // leftover namespace cannot disturb a later one.
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
    let text = |o: &Json, field: &str| o[field].as_str().unwrap_or("").to_owned();
    let used_chains: std::collections::BTreeSet<_> = items
        .iter()
        .filter_map(|i| i.get("rule"))
        .map(|r| (text(r, "family"), text(r, "table"), text(r, "chain")))
        .collect();
    // An xtables built-in chain is a base chain with policy accept; user
    // chains have no hook.
    items.retain(|i| match i.get("chain") {
        Some(c) if is_xt(c) && c.get("hook").is_some() => {
            used_chains.contains(&(text(c, "family"), text(c, "table"), text(c, "name")))
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
        .map(|c| (text(c, "family"), text(c, "table")))
        .collect();
    items.retain(|i| match i.get("table") {
        Some(t) if is_xt(t) => tables_in_use.contains(&(text(t, "family"), text(t, "name"))),
        _ => true,
    });
    ruleset
}

/// What differs between two [`normalise`]d listings, one line per object:
/// `+ {...}` for objects only in `after`, `- {...}` for objects only in
/// `before`; empty when they hold the same objects.
pub fn differences(before: &Json, after: &Json) -> String {
    let items = |j: &Json| {
        j.get("nftables")
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (before, after) = (items(before), items(after));
    let mut lines = Vec::new();
    // Counted as multisets: without handles, a rule loaded twice is two
    // equal objects.
    for (sign, these, others) in [("-", &before, &after), ("+", &after, &before)] {
        let mut unmatched: Vec<&Json> = others.iter().collect();
        for item in these {
            match unmatched.iter().position(|o| *o == item) {
                Some(i) => {
                    unmatched.swap_remove(i);
                }
                None => lines.push(format!("{sign} {item}")),
            }
        }
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn loaders_read_standard_input_and_keep_foreign_state() {
        assert_eq!(loader(Target::Nft), ("nft", &["-f", "-"][..]));
        assert_eq!(loader(Target::NftJson), ("nft", &["-j", "-f", "-"][..]));
        for t in [Target::Iptables, Target::Ip6tables, Target::Ebtables] {
            assert_eq!(loader(t).1, ["--noflush"], "{}", t.name());
            assert!(loader(t).0.starts_with(t.name()), "{}", t.name());
        }
    }

    #[test]
    fn differences_name_added_and_removed_objects() {
        let before = json!({ "nftables": [
            { "table": { "family": "ip", "name": "a" } },
            { "table": { "family": "ip", "name": "b" } },
        ]});
        let after = json!({ "nftables": [
            { "table": { "family": "ip", "name": "b" } },
            { "table": { "family": "ip", "name": "c" } },
        ]});
        assert_eq!(
            differences(&before, &after),
            "- {\"table\":{\"family\":\"ip\",\"name\":\"a\"}}\n\
             + {\"table\":{\"family\":\"ip\",\"name\":\"c\"}}"
        );
        assert_eq!(differences(&after, &after), "");
        let twice = json!({ "nftables": [
            { "table": { "family": "ip", "name": "b" } },
            { "table": { "family": "ip", "name": "b" } },
        ]});
        assert_eq!(
            differences(&before, &twice),
            "- {\"table\":{\"family\":\"ip\",\"name\":\"a\"}}\n\
             + {\"table\":{\"family\":\"ip\",\"name\":\"b\"}}"
        );
    }

    #[test]
    fn normalise_drops_handles_and_metainfo() {
        let listing = json!({ "nftables": [
            { "metainfo": { "version": "1.0.6" } },
            { "table": { "family": "inet", "name": "fwc", "handle": 7 } },
        ]});
        assert_eq!(
            normalise(listing),
            json!({ "nftables": [{ "table": { "family": "inet", "name": "fwc" } }] })
        );
    }

    #[test]
    fn missing_names_what_cannot_run() {
        let reason = missing(&["ip", "surely-not-a-tool-fwc-needs"]);
        let root = missing(&[]).is_none();
        match reason {
            Some(r) if root => {
                assert!(r.contains("`surely-not-a-tool-fwc-needs` not found"), "{r}")
            }
            Some(r) => assert!(r.contains("not running as root"), "{r}"),
            None => panic!("a tool that does not exist was found"),
        }
    }
}
