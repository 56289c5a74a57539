//! Emitters: print a validated [`ir::Ruleset`] for one target, setup or teardown.
//!
//! Every target has one module with a setup and a teardown writer built from
//! the same IR. Values reach the text only through the validated types of
//! `ir::value` and this crate's [`quote`] module, so no input can inject a
//! command. What a target cannot express is returned as a [`Note`] naming the
//! rule's provenance; the rest of the artifact stays correct.
#![deny(missing_docs)]

use ir::{Family, Limits, Provenance, Ruleset};

pub mod iptables;
pub mod nft;
pub mod quote;

/// Emits `rs` for `target` as `opts` asks.
///
/// The ruleset is validated first with the target's name limits
/// ([`Limits::NFT`], [`Limits::XTABLES`]); a ruleset that breaks them gives
/// [`Error::Invalid`] listing every problem. [`Target::Iptables`] emits only
/// tables of family `ip` (and the IPv4 half of `inet` tables),
/// [`Target::Ip6tables`] only `ip6` (and the IPv6 half of `inet`).
pub fn emit(rs: &Ruleset, target: Target, opts: &Options) -> Result<Artifact, Error> {
    let limits = match target {
        Target::Nft | Target::NftJson => Limits::NFT,
        Target::Iptables | Target::Ip6tables => Limits::XTABLES,
        Target::Ebtables => Limits::EBTABLES,
    };
    ir::validate_with(rs, limits).map_err(|errors| Error::Invalid {
        target: target.name(),
        errors,
    })?;
    match target {
        Target::Nft => nft::emit(rs, opts),
        Target::Iptables => iptables::emit(rs, Family::Ip, opts),
        Target::Ip6tables => iptables::emit(rs, Family::Ip6, opts),
        Target::NftJson | Target::Ebtables => Err(Error::Unsupported {
            target: target.name(),
            reason: "this target's emitter is not implemented yet; use --target nft, iptables or ip6tables".into(),
        }),
    }
}

/// What to produce for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// An `nft -f` script (or `nft`/`tc` command lines).
    Nft,
    /// libnftables JSON for `nft -j -f`.
    NftJson,
    /// `iptables-restore --noflush` input (or `iptables` command lines).
    Iptables,
    /// `ip6tables-restore --noflush` input (or `ip6tables` command lines).
    Ip6tables,
    /// `ebtables-restore --noflush` input (or `ebtables` command lines).
    Ebtables,
}

impl Target {
    /// Every target with its CLI name.
    pub const ALL: [(&'static str, Target); 5] = [
        ("nft", Target::Nft),
        ("nft-json", Target::NftJson),
        ("iptables", Target::Iptables),
        ("ip6tables", Target::Ip6tables),
        ("ebtables", Target::Ebtables),
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Self::ALL.iter().find(|(_, t)| *t == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// The shape of the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// One file the target's loader applies atomically (`nft -f`, `*-restore`).
    #[default]
    Script,
    /// One command line per action, in order, as libvirt runs them.
    Commands,
}

/// Setup or its exact inverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    /// Install the ruleset.
    #[default]
    Setup,
    /// Remove exactly what setup installed.
    Teardown,
}

/// How to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Options {
    /// Script or command lines.
    pub format: Format,
    /// Setup or teardown.
    pub direction: Direction,
}

/// Something the target could not express, and what was done instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The rule concerned.
    pub provenance: Provenance,
    /// What happened, e.g. "checksum fill has no nft equivalent; rule left out".
    pub message: String,
}

/// An emitted artifact.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Artifact {
    /// The text to write.
    pub text: String,
    /// Lowering notes for the user.
    pub notes: Vec<Note>,
}

/// Why nothing could be emitted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The ruleset breaks the target's limits (e.g. a chain name too long for iptables).
    #[error("the ruleset is not valid for {target}: {}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid {
        /// The target's name.
        target: &'static str,
        /// Every problem.
        errors: Vec<ir::ValidationError>,
    },
    /// The combination asked for cannot be produced.
    #[error("{target} cannot produce this: {reason}")]
    Unsupported {
        /// The target's name.
        target: &'static str,
        /// Why.
        reason: String,
    },
}
