//! The live ruleset of the current network namespace, and the form fwc's
//! own setup takes once loaded (the "expected" listing).
//!
//! Both are `nft -j list ruleset` output read with
//! [`crate::readback::nft_json::read_live`], which keeps what it cannot read
//! out of the readback but lists it, so that each rule keeps its place in
//! its chain and its nft handle for the report.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use ir::{ChainId, Family, Ruleset};

use crate::netns::{self, Netns};
use crate::readback::nft_json::{complete_from_save, read_live, ListedRule, Listing};
use crate::readback::{render, Readback};

use super::compiled::Compiled;

/// A listing read back, with each readable rule's place in the listing.
#[derive(Debug, Clone, Default)]
pub struct Live {
    /// The listing.
    pub listing: Listing,
    /// Readback position (table, chain, rule) → index into
    /// `listing.rules`.
    at: BTreeMap<(usize, usize, usize), usize>,
    /// Index into `listing.rules` → the rule's position in its chain as
    /// listed (0-based).
    position: Vec<usize>,
}

impl Live {
    /// Reads `nft -j list ruleset` output.
    pub fn read(text: &str) -> Result<Live, String> {
        Live::read_with_saves(text, &[])
    }

    /// Reads `nft -j list ruleset` output, and again from `saves`
    /// (`iptables-save` output per family, of the same ruleset) the
    /// iptables-nft rules the listing shows only as `xt` names.
    pub fn read_with_saves(text: &str, saves: &[(Family, String)]) -> Result<Live, String> {
        let mut listing = read_live(text).map_err(|e| e.to_string())?;
        for (family, save) in saves {
            complete_from_save(&mut listing, *family, save);
        }
        Ok(Live::index(listing))
    }

    /// A readback standing for a listing: every rule readable, in nft-like
    /// text, without handles. Used as fwc's expected live form when it
    /// cannot be loaded into a namespace to be listed.
    pub fn from_readback(readback: Readback) -> Live {
        let mut rules = Vec::new();
        for t in &readback.ruleset.tables {
            for c in &t.chains {
                for r in &c.rules {
                    rules.push(ListedRule {
                        family: t.family.to_string(),
                        table: t.name.to_string(),
                        chain: c.name.to_string(),
                        handle: None,
                        text: render::rule(t, r),
                        unread: None,
                    });
                }
            }
        }
        Live::index(Listing {
            readback,
            rules,
            skipped: Vec::new(),
        })
    }

    fn index(listing: Listing) -> Live {
        let rs = &listing.readback.ruleset;
        let mut in_chain: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        let mut read_in_chain: BTreeMap<(&str, &str, &str), usize> = BTreeMap::new();
        let mut at = BTreeMap::new();
        let mut position = Vec::with_capacity(listing.rules.len());
        for (i, r) in listing.rules.iter().enumerate() {
            let key = (r.family.as_str(), r.table.as_str(), r.chain.as_str());
            let n = in_chain.entry(key).or_default();
            position.push(*n);
            *n += 1;
            if r.unread.is_some() {
                continue;
            }
            let k = read_in_chain.entry(key).or_default();
            let found = rs.tables.iter().enumerate().find_map(|(ti, t)| {
                (t.family.keyword() == r.family && t.name.as_str() == r.table)
                    .then(|| t.chain_id(&r.chain).map(|c| (ti, c.0)))
                    .flatten()
            });
            if let Some((ti, ci)) = found {
                at.insert((ti, ci, *k), i);
            }
            *k += 1;
        }
        Live {
            listing,
            at,
            position,
        }
    }

    /// The ruleset of every object that could be read.
    pub fn ruleset(&self) -> &Ruleset {
        &self.listing.readback.ruleset
    }

    /// The listed rule behind a readback rule.
    pub fn listed(
        &self,
        table: usize,
        chain: ChainId,
        rule: usize,
    ) -> Option<(usize, &ListedRule)> {
        let i = *self.at.get(&(table, chain.0, rule))?;
        Some((self.position[i], &self.listing.rules[i]))
    }

    /// Every rule listed in a chain (read or not), with its index into
    /// [`Listing::rules`], in order.
    pub fn chain_rules(
        &self,
        family: Family,
        table: &str,
        chain: &str,
    ) -> Vec<(usize, &ListedRule)> {
        let fam = family.keyword();
        self.listing
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.family == fam && r.table == table && r.chain == chain)
            .collect()
    }

    /// The index into [`Listing::rules`] of a readback rule.
    pub fn listed_index(&self, table: usize, chain: ChainId, rule: usize) -> Option<usize> {
        self.at.get(&(table, chain.0, rule)).copied()
    }

    /// The position in its chain of a listed rule (0-based).
    pub fn position_of(&self, listed: usize) -> usize {
        self.position.get(listed).copied().unwrap_or(0)
    }
}

/// What a rule is compared by: its text without counters, which a live
/// host adds (iptables-nft) and whose values change.
pub fn key(text: &str) -> String {
    text.split(' ')
        .filter(|w| *w != "counter")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The live listing's text: `path` (`-` for standard input), or `nft -j
/// list ruleset` run here.
pub fn listing_text(path: Option<&Path>) -> Result<String, String> {
    match path {
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read the live ruleset from standard input: {e}"))?;
            Ok(text)
        }
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| format!("cannot read the live ruleset '{}': {e}", p.display())),
        None => {
            let nft = netns::which("nft").ok_or(
                "`nft` not found (apt-get install -y nftables), so the live ruleset cannot be listed; \
                 pass a saved `nft -j list ruleset` with --live FILE",
            )?;
            let out = Command::new(nft)
                .args(["-j", "list", "ruleset"])
                .output()
                .map_err(|e| format!("cannot run `nft -j list ruleset`: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "`nft -j list ruleset` failed (listing the ruleset needs root): {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            String::from_utf8(out.stdout)
                .map_err(|_| "`nft -j list ruleset` printed something that is not UTF-8".into())
        }
    }
}

/// `iptables-save` and `ip6tables-save` output of the iptables-nft
/// tables, got with `run` (a program and its arguments → its standard
/// output), for [`Live::read_with_saves`]. Only the nf_tables variants
/// count: a legacy `iptables-save` shows other tables than nft's.
pub fn saves(run: &dyn Fn(&str) -> Option<String>) -> Vec<(Family, String)> {
    let mut out = Vec::new();
    for (family, tools) in [
        (Family::Ip, ["iptables-nft-save", "iptables-save"]),
        (Family::Ip6, ["ip6tables-nft-save", "ip6tables-save"]),
    ] {
        let found = tools.iter().find_map(|tool| {
            let text = run(tool)?;
            text.lines()
                .next()
                .is_some_and(|l| l.contains("nf_tables"))
                .then_some(text)
        });
        out.extend(found.map(|t| (family, t)));
    }
    out
}

/// Whether a listing shows iptables-nft rules only by their `xt` names,
/// so that [`saves`] are worth getting.
pub fn needs_saves(text: &str) -> bool {
    text.contains("\"xt\"")
}

/// Runs `tool` here, if it is installed; its standard output on success.
pub fn run_here(tool: &str) -> Option<String> {
    let path = netns::which(tool)?;
    let out = Command::new(path).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// fwc's setup as the kernel lists it once loaded: loaded into a
/// throwaway namespace holding the interfaces it names, and listed there.
/// `Err` says why that cannot be done here (not root, a tool missing, the
/// kernel refusing the artifact).
pub fn expected(compiled: &Compiled) -> Result<Live, String> {
    let mut tools = vec!["ip", "nft"];
    tools.extend(compiled.setups.iter().map(|(t, _)| netns::loader(*t).0));
    if let Some(why) = netns::missing(&tools) {
        return Err(why);
    }
    let ns = Netns::create("fwc-doctor").map_err(|f| f.to_string())?;
    for ifname in &compiled.interfaces {
        ns.add_bridge(ifname)
            .map_err(|f| format!("cannot create interface {ifname}: {f}"))?;
    }
    for (target, text) in &compiled.setups {
        ns.load(*target, text)
            .map_err(|f| format!("the {} setup does not load: {f}", target.name()))?;
    }
    let text = ns
        .run("nft", &["-j", "list", "ruleset"], None)
        .map_err(|f| f.to_string())?;
    let saves = if needs_saves(&text) {
        saves(&|tool| {
            netns::which(tool)?;
            ns.run(tool, &[], None).ok()
        })
    } else {
        Vec::new()
    };
    Live::read_with_saves(&text, &saves)
}
