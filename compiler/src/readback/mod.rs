//! Reading artifacts back into IR, so that `fwc diff` and `fwc explain`
//! judge what a backend would really load rather than the compiler's
//! in-memory ruleset.
//!
//! Each reader turns one artifact format into a [`Readback`]: an
//! [`ir::Ruleset`] plus the artifact's own text of every rule. Provenance
//! comments (`# file:line:col <element>` above a rule in nft scripts and
//! restore files, the rule comment in nft JSON) become the rules'
//! [`ir::Provenance`].
//!
//! * [`nft_text`]: `nft -f` scripts as fwc writes them;
//! * [`nft_json`]: libnftables JSON, both fwc's command lists (`nft -j -f`)
//!   and `nft -j list ruleset` output;
//! * [`xtables`]: `iptables-restore` / `ip6tables-restore` input. iptables'
//!   built-in chains become base chains on their hooks at the priorities
//!   nft gives the same tables (filter 0, nat -100/100, mangle -150, ...),
//!   so both families and nft compare hook by hook;
//! * [`ebtables`]: `ebtables-restore` input, as a `bridge` family view.
//!
//! ```
//! use compiler::readback::{read, Format};
//! let script = "table inet fwc {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\
//!               \t\t# net.xml:1:1 <network>\n\t\tiifname \"virbr0\" udp dport 67 accept\n\t}\n}\n";
//! let rb = read(Format::NftText, script).unwrap();
//! let (_, chain, rule) = rb.ruleset.rules().next().unwrap();
//! assert_eq!(chain.name.as_str(), "input");
//! assert_eq!(rule.provenance.to_string(), "net.xml:1:1 <network>");
//! assert_eq!(rb.rule_text(0, ir::ChainId(0), 0), "iifname \"virbr0\" udp dport 67 accept");
//! ```

use std::fmt;

use ir::{ChainId, Ruleset};

mod build;
pub mod ebtables;
mod lines;
pub mod nft_json;
pub mod nft_text;
pub mod provenance;
pub mod render;
pub(crate) mod values;
pub mod xtables;

/// An artifact read back: the ruleset it installs and its text of each rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Readback {
    /// What the artifact installs.
    pub ruleset: Ruleset,
    /// `texts[table][chain][rule]`: the rule as the artifact spells it.
    texts: Vec<Vec<Vec<String>>>,
}

impl From<Ruleset> for Readback {
    /// A ruleset held in memory, its rules given nft-like text.
    fn from(ruleset: Ruleset) -> Readback {
        let texts = ruleset
            .tables
            .iter()
            .map(|t| {
                t.chains
                    .iter()
                    .map(|c| c.rules.iter().map(|r| render::rule(t, r)).collect())
                    .collect()
            })
            .collect();
        Readback { ruleset, texts }
    }
}

impl Readback {
    /// The artifact's text of a rule (empty for a position that does not exist).
    pub fn rule_text(&self, table: usize, chain: ChainId, rule: usize) -> &str {
        self.texts
            .get(table)
            .and_then(|t| t.get(chain.0))
            .and_then(|c| c.get(rule))
            .map_or("", String::as_str)
    }

    /// A rule as `family table chain: text  # provenance`, for reports.
    pub fn describe(&self, table: usize, chain: ChainId, rule: usize) -> String {
        let Some(t) = self.ruleset.tables.get(table) else {
            return format!("table #{table}?");
        };
        let Some(c) = t.chains.get(chain.0) else {
            return format!("{} {} chain #{}?", t.family, t.name, chain.0);
        };
        let prov = c
            .rules
            .get(rule)
            .map(|r| r.provenance.to_string())
            .unwrap_or_default();
        format!(
            "{} {} {}: {}  # {prov}",
            t.family,
            t.name,
            c.name,
            self.rule_text(table, chain, rule)
        )
    }

    /// Both readbacks as one view (iptables and ip6tables as one target).
    pub fn merge(mut self, other: Readback) -> Readback {
        self.ruleset.tables.extend(other.ruleset.tables);
        self.texts.extend(other.texts);
        self
    }
}

/// An artifact format [`read`] understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// An `nft -f` script.
    NftText,
    /// libnftables JSON (`nft -j -f` input or `nft -j list ruleset` output).
    NftJson,
    /// `iptables-restore` input (IPv4).
    Iptables,
    /// `ip6tables-restore` input (IPv6).
    Ip6tables,
    /// `ebtables-restore` input.
    Ebtables,
}

impl Format {
    /// The format of an emitter target's script artifact.
    pub fn of(target: emitters::Target) -> Format {
        match target {
            emitters::Target::Nft => Format::NftText,
            emitters::Target::NftJson => Format::NftJson,
            emitters::Target::Iptables => Format::Iptables,
            emitters::Target::Ip6tables => Format::Ip6tables,
            emitters::Target::Ebtables => Format::Ebtables,
        }
    }
}

/// Reads an artifact of `format`.
pub fn read(format: Format, text: &str) -> Result<Readback, ReadError> {
    match format {
        Format::NftText => nft_text::read(text),
        Format::NftJson => nft_json::read(text),
        Format::Iptables => xtables::read(text, ir::Family::Ip),
        Format::Ip6tables => xtables::read(text, ir::Family::Ip6),
        Format::Ebtables => ebtables::read(text),
    }
}

/// Why an artifact could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The format being read, e.g. "nft script".
    pub what: &'static str,
    /// 1-based line of the problem; 0 when it concerns the whole artifact.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl ReadError {
    pub(crate) fn new(what: &'static str, line: usize, message: String) -> Self {
        ReadError {
            what,
            line,
            message,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.what, self.message)
        } else {
            write!(f, "{}, line {}: {}", self.what, self.line, self.message)
        }
    }
}

impl std::error::Error for ReadError {}

#[cfg(test)]
mod tests;
