//! fwc's intermediate representation of a firewall.
//!
//! A [`Ruleset`] holds [`Table`]s; a table holds [`Chain`]s, named [`Set`]s and
//! verdict [`Map`]s; a chain holds [`Rule`]s, each a list of typed [`Match`]es,
//! [`Statement`]s (counters, NAT, checksum fill) and one optional [`Verdict`].
//! Everything is typed down to the values ([`Ifname`], prefixes from `ipnet`,
//! [`PortRange`], ...), so no emitter ever handles free-form rule text, and
//! every rule carries its [`Provenance`].
//!
//! ```
//! use ir::*;
//! let mut rs = Ruleset::default();
//! let t = rs.table_mut(Family::Ip, &Name::new("fwc").unwrap(), Ownership::Owned);
//! let fwd = t.add_chain(
//!     Name::new("forward").unwrap(),
//!     ChainKind::Base { hook: Hook::Forward, ty: ChainType::Filter, priority: 0, policy: Policy::Accept },
//!     Ownership::Owned,
//! );
//! let virbr0 = Value::Ifname(Ifname::new("virbr0").unwrap());
//! t.chain_mut(fwd).rules.push(Rule::new(
//!     Provenance::Layout("example"),
//!     vec![Match::eq(Field::IifName, virbr0)],
//!     Some(Verdict::Reject(RejectKind::Default)),
//! ));
//! assert!(validate(&rs).is_ok());
//! assert!(rs.to_string().contains("iifname \"virbr0\" reject"));
//! ```
#![deny(missing_docs)]

mod display;
pub mod eval;
mod interfaces;
mod merge;
pub mod provenance;
pub mod rule;
pub mod ruleset;
pub mod validate;
pub mod value;

pub use provenance::{Provenance, Source};
pub use rule::{
    ArpField, CmpOp, Field, IpFamily, KeyType, MapRef, Match, Nat, RejectKind, Rule, SetRef,
    Statement, StpField, Value, Verdict,
};
pub use ruleset::{
    Chain, ChainId, ChainKind, ChainType, Commands, Family, Hook, Map, MapId, Ownership, Policy,
    Ruleset, Set, SetId, Spelling, Step, Table,
};
pub use validate::{validate, validate_with, Limits, ValidationError};
pub use value::{
    name_of_value, value_named, AddrRange, Comment, CtDirection, CtStates, Ifname, IntRange,
    L4Proto, MacAddr, Name, Notation, PortRange, SetDir, TcpFlagSet, ValueError,
};
