//! `<filter>` and `<filterbinding>` definitions.

use std::fmt;

use ir::{Ifname, Source};

use super::protocol::ProtocolMatch;
use super::template::{Stage, Templated};
use super::value::MacAddr;
use super::vars::{reserved, Vars};

/// A `<filter>`: a named list of rules and references to other filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// `name=`, unique in a library.
    pub name: String,
    /// `chain=` (`root` when absent): which chain the filter's rules go to.
    pub chain: ChainName,
    /// The chain's priority: `priority=` (only read together with `chain=`,
    /// as libvirt does), else [`ChainKind::default_priority`].
    pub priority: i32,
    /// Rules and filter references, in document order.
    pub entries: Vec<Entry>,
    /// The `<filter>` element.
    pub source: Source,
}

impl Filter {
    /// The lowest chain priority libvirt accepts.
    pub const MIN_PRIORITY: i32 = -1000;
    /// The highest chain priority libvirt accepts.
    pub const MAX_PRIORITY: i32 = 1000;

    /// The filters this one references, in document order (repeats kept).
    pub fn references(&self) -> impl Iterator<Item = &FilterRef> {
        self.entries.iter().filter_map(|e| match e {
            Entry::FilterRef(r) => Some(r),
            Entry::Rule(_) => None,
        })
    }
}

/// An entry of a filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// `<rule>`.
    Rule(Rule),
    /// `<filterref>`.
    FilterRef(FilterRef),
}

/// `<filterref filter='NAME'>` with its `<parameter>`s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRef {
    /// The referenced filter's name.
    pub name: String,
    /// The `<parameter name value>`s; a name given several times is a list.
    /// In a filter they only fill in variables the caller does not define
    /// (see [`Vars::with_defaults`]).
    pub params: Vars,
    /// The `<filterref>` element.
    pub source: Source,
}

/// A `<rule>`: one match and what to do with matching traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule<S: Stage = Templated> {
    /// `action=`.
    pub action: Action,
    /// `direction=`, from the guest's point of view.
    pub direction: Direction,
    /// `priority=` (-1000 to 1000, default 500): lower sorts first.
    pub priority: i32,
    /// `false` with `statematch='0'` or `'false'`: no implicit connection
    /// state matching for this rule.
    pub statematch: bool,
    /// The protocol element and its attributes.
    pub protocol: ProtocolMatch<S>,
    /// The `<rule>` element.
    pub source: Source,
}

impl Rule {
    /// The priority of a rule without `priority=`.
    pub const DEFAULT_PRIORITY: i32 = 500;
    /// The lowest rule priority.
    pub const MIN_PRIORITY: i32 = -1000;
    /// The highest rule priority.
    pub const MAX_PRIORITY: i32 = 1000;
}

/// What a rule does with matching traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `drop`
    Drop,
    /// `accept`
    Accept,
    /// `reject` (ebtables and libvirt's nft backend drop instead)
    Reject,
    /// `return`: leave the filter's chain.
    Return,
    /// `continue`: go on with the next rule.
    Continue,
}

impl Action {
    /// Every action with its XML spelling.
    pub const NAMED: [(&'static str, Action); 5] = [
        ("drop", Action::Drop),
        ("accept", Action::Accept),
        ("reject", Action::Reject),
        ("return", Action::Return),
        ("continue", Action::Continue),
    ];

    /// The action spelled `name`.
    pub fn from_name(name: &str) -> Option<Action> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
    }

    /// The XML spelling.
    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("", |(n, _)| n)
    }
}

/// Which traffic a rule applies to, seen from the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// `in`: traffic to the guest.
    In,
    /// `out`: traffic from the guest.
    Out,
    /// `inout`: both.
    InOut,
}

impl Direction {
    /// Every direction with its XML spelling.
    pub const NAMED: [(&'static str, Direction); 3] = [
        ("in", Direction::In),
        ("out", Direction::Out),
        ("inout", Direction::InOut),
    ];

    /// The direction spelled `name`.
    pub fn from_name(name: &str) -> Option<Direction> {
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, d)| *d)
    }

    /// The XML spelling.
    pub fn name(self) -> &'static str {
        Self::NAMED
            .iter()
            .find(|(_, d)| *d == self)
            .map_or("", |(n, _)| n)
    }
}

/// The kind of chain a filter's `chain=` names (its prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainKind {
    /// `root`: the interface's main chain.
    Root,
    /// `mac…`
    Mac,
    /// `vlan…`
    Vlan,
    /// `stp…`
    Stp,
    /// `arp…`
    Arp,
    /// `rarp…`
    Rarp,
    /// `ipv4…`
    Ipv4,
    /// `ipv6…`
    Ipv6,
}

impl ChainKind {
    /// The prefixes in the order libvirt tries them (`root` only alone).
    pub const PREFIXES: [(&'static str, ChainKind); 8] = [
        ("root", ChainKind::Root),
        ("mac", ChainKind::Mac),
        ("vlan", ChainKind::Vlan),
        ("stp", ChainKind::Stp),
        ("arp", ChainKind::Arp),
        ("rarp", ChainKind::Rarp),
        ("ipv4", ChainKind::Ipv4),
        ("ipv6", ChainKind::Ipv6),
    ];

    /// The prefix (`arp` for `arp-xyz`).
    pub fn prefix(self) -> &'static str {
        Self::PREFIXES
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(n, _)| n)
    }

    /// The chain priority a filter gets without `priority=`.
    ///
    /// libvirt's table (`chain_priorities` in `nwfilter_conf.c`) has root 0,
    /// mac -800, vlan -750, ipv4 -700, ipv6 -600, arp -500, rarp -400 and no
    /// entry for stp, so stp chains get the middle of the range, 0 (its
    /// header's `NWFILTER_STP_FILTER_PRI` of -810 is never used).
    pub fn default_priority(self) -> i32 {
        match self {
            ChainKind::Root | ChainKind::Stp => 0,
            ChainKind::Mac => -800,
            ChainKind::Vlan => -750,
            ChainKind::Ipv4 => -700,
            ChainKind::Ipv6 => -600,
            ChainKind::Arp => -500,
            ChainKind::Rarp => -400,
        }
    }
}

/// A filter's chain: `root`, or a name starting with `mac`, `vlan`, `stp`,
/// `arp`, `rarp`, `ipv4` or `ipv6` (`arp-xyz`), at most 12 characters of
/// letters, digits and `_.:-`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainName {
    kind: ChainKind,
    name: String,
}

/// Why a chain name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainNameError {
    /// Longer than [`ChainName::MAX_LEN`].
    #[error("is longer than {} characters", ChainName::MAX_LEN)]
    TooLong,
    /// A character outside letters, digits and `_.:-`.
    #[error("contains '{0}'; only letters, digits and '_', '.', ':', '-' are allowed")]
    BadChar(char),
    /// No known prefix (or `root` followed by more).
    #[error("must be 'root' or start with mac, vlan, stp, arp, rarp, ipv4 or ipv6")]
    BadPrefix,
}

impl ChainName {
    /// libvirt's `MAX_CHAIN_SUFFIX_SIZE`: what fits in an ebtables chain
    /// name beside `I-` and a 15-byte interface name.
    pub const MAX_LEN: usize = 12;

    /// The `root` chain.
    pub fn root() -> ChainName {
        ChainName {
            kind: ChainKind::Root,
            name: "root".into(),
        }
    }

    /// Checks `name` as libvirt's `virNWFilterIsAllowedChain` does.
    pub fn new(name: &str) -> Result<ChainName, ChainNameError> {
        if name.chars().count() > Self::MAX_LEN {
            return Err(ChainNameError::TooLong);
        }
        if let Some(c) = name
            .chars()
            .find(|&c| !(c.is_ascii_alphanumeric() || "_.:-".contains(c)))
        {
            return Err(ChainNameError::BadChar(c));
        }
        if name == "root" {
            return Ok(ChainName::root());
        }
        ChainKind::PREFIXES
            .iter()
            .find(|(p, _)| name.starts_with(p))
            .filter(|(_, k)| *k != ChainKind::Root)
            .map(|(_, kind)| ChainName {
                kind: *kind,
                name: name.into(),
            })
            .ok_or(ChainNameError::BadPrefix)
    }

    /// The kind (prefix) of chain.
    pub fn kind(&self) -> ChainKind {
        self.kind
    }

    /// The name as written (`arp-xyz`).
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// Whether this is `root`.
    pub fn is_root(&self) -> bool {
        self.kind == ChainKind::Root
    }
}

impl fmt::Display for ChainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A `<filterbinding>`: a filter applied to one guest interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterBinding {
    /// `<portdev name>`: the host side of the guest's interface (`vnet0`).
    pub portdev: Ifname,
    /// `<linkdev name>`: the underlying device for macvtap interfaces.
    pub linkdev: Option<Ifname>,
    /// `<mac address>`: the guest interface's MAC address.
    pub mac: MacAddr,
    /// `<filterref>`: the filter to apply and its parameters. Here the
    /// parameters are the top-level variables (a repeated one is a list).
    pub filter: FilterRef,
    /// The `<filterbinding>` element.
    pub source: Source,
}

impl FilterBinding {
    /// The variables the bound filter starts with: the parameters, plus
    /// `MAC` (the binding's address, as libvirt formats it) unless a
    /// parameter sets it.
    pub fn vars(&self) -> Vars {
        let mut std = Vars::new();
        std.set(reserved::MAC, self.mac.to_string());
        self.filter.params.with_defaults(&std)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_names_follow_libvirts_prefix_rules() {
        let kind = |s: &str| ChainName::new(s).map(|c| c.kind());
        assert_eq!(kind("root"), Ok(ChainKind::Root));
        assert_eq!(kind("arp-xyz"), Ok(ChainKind::Arp));
        assert_eq!(kind("rarp"), Ok(ChainKind::Rarp));
        assert_eq!(kind("ipv4-ip"), Ok(ChainKind::Ipv4));
        assert_eq!(kind("stp-xyz"), Ok(ChainKind::Stp));
        assert_eq!(kind("rootx"), Err(ChainNameError::BadPrefix));
        assert_eq!(kind("ip"), Err(ChainNameError::BadPrefix));
        assert_eq!(kind(""), Err(ChainNameError::BadPrefix));
        assert_eq!(kind("arp-123456789"), Err(ChainNameError::TooLong));
        assert_eq!(kind("arp xyz"), Err(ChainNameError::BadChar(' ')));
        assert_eq!(ChainKind::Stp.default_priority(), 0);
        assert_eq!(ChainKind::Mac.default_priority(), -800);
        assert!(ChainName::root().is_root());
        assert_eq!(ChainName::new("mac-x").unwrap().to_string(), "mac-x");
    }

    #[test]
    fn actions_and_directions_round_trip() {
        for (n, a) in Action::NAMED {
            assert_eq!(Action::from_name(n), Some(a));
            assert_eq!(a.name(), n);
        }
        for (n, d) in Direction::NAMED {
            assert_eq!(Direction::from_name(n), Some(d));
            assert_eq!(d.name(), n);
        }
        assert_eq!(Action::from_name("ACCEPT"), None);
    }

    #[test]
    fn a_binding_provides_mac_unless_a_parameter_does() {
        let source = Source {
            file: "b.xml".into(),
            line: 1,
            column: 1,
            element: "filterbinding".into(),
        };
        let mut b = FilterBinding {
            portdev: Ifname::new("vnet0").unwrap(),
            linkdev: None,
            mac: "52:54:0:1:2:3".parse().unwrap(),
            filter: FilterRef {
                name: "clean-traffic".into(),
                params: Vars::new(),
                source: source.clone(),
            },
            source,
        };
        assert_eq!(
            b.vars().get("MAC"),
            Some(&["52:54:00:01:02:03".to_owned()][..])
        );
        b.filter.params.set("MAC", "aa:aa:aa:aa:aa:aa");
        assert_eq!(
            b.vars().get("MAC"),
            Some(&["aa:aa:aa:aa:aa:aa".to_owned()][..])
        );
    }
}
