//! Emitters: print a validated [`ir::Ruleset`] for one target, setup or teardown.
//!
//! [`emit`] is the entry point: it validates the ruleset with the target's
//! limits and hands it to the target's module (`nft`, `json`, `iptables`,
//! `ebtables`), each of which writes setup and teardown from the same IR, as
//! a script its loader applies atomically ([`Format::Script`]: `nft -f`,
//! `nft -j -f`, `iptables-restore --noflush`, `ebtables-restore --noflush`)
//! or as libvirt's command lines ([`Format::Commands`]). Values
//! reach the text only through the validated types of `ir::value` and this
//! crate's [`quote`] module, so no input can inject a command. What a target
//! cannot express is returned as a [`Note`] naming the rule's provenance; the
//! rest of the artifact stays correct.
//!
//! ```
//! use emitters::{emit, Direction, Format, Options, Target};
//! use ir::*;
//!
//! let mut rs = Ruleset::default();
//! let t = rs.table_mut(Family::Inet, &Name::new("fwc").unwrap(), Ownership::Owned);
//! let fwd = t.add_chain(
//!     Name::new("forward").unwrap(),
//!     ChainKind::Base { hook: Hook::Forward, ty: ChainType::Filter, priority: 0, policy: Policy::Accept },
//!     Ownership::Owned,
//! );
//! let virbr0 = Value::Ifname(Ifname::new("virbr0").unwrap());
//! t.chain_mut(fwd).rules.push(Rule::new(
//!     Provenance::Layout("example"),
//!     vec![Match::eq(Field::IifName, virbr0)],
//!     Some(Verdict::Accept),
//! ));
//!
//! let nft = emit(&rs, Target::Nft, &Options::default()).unwrap();
//! assert!(nft.text.contains("delete table inet fwc\ntable inet fwc {\n"));
//! assert!(nft.text.contains("\t\tiifname \"virbr0\" accept\n"));
//!
//! let teardown = Options { format: Format::Commands, direction: Direction::Teardown };
//! let ipt = emit(&rs, Target::Iptables, &teardown).unwrap();
//! assert_eq!(ipt.text, "iptables -w --table filter --delete forward --in-interface virbr0 --jump ACCEPT\n");
//! ```
#![deny(missing_docs)]

use ir::{Family, Limits, Provenance, Ruleset};

mod appended;
mod bridged;
mod ebtables;
mod iptables;
mod json;
mod nat;
mod nft;
pub mod quote;
#[cfg(test)]
mod testutil;
mod xtables;

/// Emits `rs` for `target` as `opts` asks.
///
/// The ruleset is validated first with the target's name limits
/// ([`Limits::NFT`], [`Limits::XTABLES`], [`Limits::EBTABLES`] for the
/// bridge tables); a ruleset that breaks them gives [`Error::Invalid`]
/// listing every problem. [`Target::Iptables`] emits only tables of family
/// `ip` (and the IPv4 half of `inet` tables), [`Target::Ip6tables`] only
/// `ip6` (and the IPv6 half of `inet`), [`Target::Ebtables`] only `bridge`
/// (with a note naming the tables it leaves out).
pub fn emit(rs: &Ruleset, target: Target, opts: &Options) -> Result<Artifact, Error> {
    let checked = match target {
        Target::Nft | Target::NftJson => ir::validate_with(rs, Limits::NFT),
        Target::Iptables | Target::Ip6tables => ir::validate_with(rs, Limits::XTABLES),
        Target::Ebtables => ebtables::validate(rs),
    };
    checked.map_err(|errors| Error::Invalid {
        target: target.name(),
        errors,
    })?;
    match target {
        Target::Nft => nft::emit(rs, opts),
        Target::Iptables | Target::Ip6tables => {
            let family = if target == Target::Iptables {
                Family::Ip
            } else {
                Family::Ip6
            };
            iptables::emit(rs, family, opts).map(|a| bridged::note_left_out(rs, target, a))
        }
        Target::NftJson => json::emit(rs, opts),
        Target::Ebtables => ebtables::emit(rs, opts),
    }
}

/// nft's name of a set or map key type (`ifname`, `ipv4_addr`, ...), for
/// tools that print IR the way nft does.
pub fn nft_key_type_name(key: ir::KeyType) -> &'static str {
    nft::model::key_type_names(&[key])[0]
}

/// nft's text of a base chain's specification (`type filter hook forward
/// priority 0; policy accept;`), or `None` for a regular chain.
pub fn nft_chain_spec(kind: &ir::ChainKind) -> Option<String> {
    nft::render::chain_spec(kind)
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
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
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

/// Where notes come from that only say some tables are another target's.
pub(crate) const BRIDGE_TABLES: &str = "tables of family bridge";
/// See [`BRIDGE_TABLES`].
pub(crate) const NON_BRIDGE_TABLES: &str = "tables of families other than bridge";

impl Note {
    /// Whether the note only says that tables belong to another target's
    /// artifact (bridge tables left out by iptables, IP tables by ebtables):
    /// nothing is lost when every target's artifact is written.
    pub fn is_for_other_targets(&self) -> bool {
        matches!(self.provenance, Provenance::Layout(w) if w == BRIDGE_TABLES || w == NON_BRIDGE_TABLES)
    }
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

#[cfg(test)]
mod tests {
    use ir::*;

    use super::*;
    use crate::testutil::*;

    #[test]
    fn chain_names_too_long_for_iptables_are_invalid() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        regular(t, "LIBVIRT_A_CHAIN_NAME_OF_29_BY");
        let opts = Options::default();
        match emit(&rs, Target::Iptables, &opts) {
            Err(Error::Invalid { target, errors }) => {
                assert_eq!(target, "iptables");
                assert_eq!(errors.len(), 1);
                assert!(errors[0].message.contains("28 bytes"), "{}", errors[0]);
            }
            other => panic!("{other:?}"),
        }
        // nft allows the name.
        assert!(emit(
            &rs,
            Target::Nft,
            &Options {
                format: Format::Commands,
                ..opts
            }
        )
        .is_ok());
    }

    #[test]
    fn empty_rulesets_give_empty_commands_and_header_only_scripts() {
        for target in [
            Target::Nft,
            Target::Iptables,
            Target::Ip6tables,
            Target::Ebtables,
        ] {
            let commands = Options {
                format: Format::Commands,
                direction: Direction::Setup,
            };
            assert_eq!(
                emit(&Ruleset::default(), target, &commands).unwrap(),
                Artifact::default()
            );
            let script = emit(&Ruleset::default(), target, &Options::default()).unwrap();
            assert_eq!(script.text.lines().count(), 1);
            assert!(script.text.starts_with("# generated by fwc; load with: "));
        }
    }
}
