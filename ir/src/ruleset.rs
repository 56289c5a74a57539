//! Rulesets, tables, chains, sets and maps.

use std::fmt;

use crate::rule::{KeyType, Rule, Value, Verdict};
use crate::value::{Comment, Name};

/// A table's address family, as nftables names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 (`ip`; iptables).
    Ip,
    /// IPv6 (`ip6`; ip6tables).
    Ip6,
    /// IPv4 and IPv6 in one table (`inet`).
    Inet,
    /// Bridged frames (`bridge`; ebtables).
    Bridge,
    /// Per-device ingress/egress (`netdev`).
    Netdev,
}

impl Family {
    /// nft's keyword for the family.
    pub fn keyword(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keyword())
    }
}

/// A netfilter hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hook {
    /// Before routing.
    Prerouting,
    /// Packets for the host.
    Input,
    /// Routed packets.
    Forward,
    /// Packets from the host.
    Output,
    /// After routing.
    Postrouting,
    /// Device ingress (`netdev`).
    Ingress,
}

impl Hook {
    /// nft's keyword for the hook.
    pub fn keyword(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Ingress => "ingress",
        }
    }
}

/// A base chain's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChainType {
    /// Filtering (and mangling).
    Filter,
    /// Address translation; sees only the first packet of a connection.
    Nat,
    /// Rerouting after mangling in `output`.
    Route,
}

impl ChainType {
    /// nft's keyword for the type.
    pub fn keyword(self) -> &'static str {
        match self {
            ChainType::Filter => "filter",
            ChainType::Nat => "nat",
            ChainType::Route => "route",
        }
    }
}

/// What a base chain does with packets no rule decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// Let them through (to the next base chain on the hook).
    #[default]
    Accept,
    /// Drop them.
    Drop,
}

impl Policy {
    /// nft's keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        }
    }
}

/// Whether a chain is attached to a hook.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChainKind {
    /// Attached to a hook: packets enter here.
    Base {
        /// Which hook.
        hook: Hook,
        /// Which type.
        ty: ChainType,
        /// Order among base chains on the same hook (lower first).
        priority: i32,
        /// Verdict for packets that reach the end.
        policy: Policy,
    },
    /// Reached only by `jump`/`goto`/verdict maps.
    Regular,
}

impl ChainKind {
    /// A base chain on `hook` whose policy accepts: the usual way to attach
    /// rules without deciding for packets no rule matches.
    pub fn accepting(hook: Hook, ty: ChainType, priority: i32) -> ChainKind {
        ChainKind::Base {
            hook,
            ty,
            priority,
            policy: Policy::Accept,
        }
    }
}

/// Who creates and deletes an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ownership {
    /// fwc creates it in setup and deletes it in teardown.
    #[default]
    Owned,
    /// It exists without fwc (iptables' built-in tables and chains such as
    /// `filter`/`FORWARD`). fwc only adds rules to it, and teardown removes
    /// exactly those rules.
    External,
}

/// Handle of a chain within its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChainId(pub usize);

/// Handle of a named set within its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId(pub usize);

/// Handle of a named verdict map within its table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MapId(pub usize);

/// A chain: an ordered list of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Unique within the table.
    pub name: Name,
    /// Base or regular.
    pub kind: ChainKind,
    /// Who owns the chain.
    pub ownership: Ownership,
    /// In evaluation order.
    pub rules: Vec<Rule>,
    /// The name the chain is built under before it takes [`Chain::name`]
    /// (libvirt's nwfilter builds `FJ-vnet0` and renames it `FI-vnet0`
    /// once complete, so a port's old rules stay in force until the new
    /// ones are whole). Only command lines use it: they create and fill the
    /// chain under this name, then rename it, replacing a chain of the final
    /// name; atomic loaders (`*-restore`, `nft -f`) create `name` directly.
    pub staging: Option<Name>,
    /// For a regular chain, what happens to a packet that reaches its end:
    /// `None` returns it to the calling chain (nft's and iptables' user
    /// chains); `Some(policy)` decides it, as an ebtables user chain's policy
    /// does (ACCEPT unless set, which libvirt's nwfilter chains keep).
    pub end_policy: Option<Policy>,
}

/// A named set of values (or of concatenations of values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Set {
    /// Unique among the table's sets and maps.
    pub name: Name,
    /// The key: one type, or several for a concatenation.
    pub key: Vec<KeyType>,
    /// Whether elements may be prefixes or ranges (`flags interval`).
    pub interval: bool,
    /// Elements, in insertion order; each has one value per key type.
    pub elements: Vec<Vec<Value>>,
}

/// A named verdict map: key → verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Map {
    /// Unique among the table's sets and maps.
    pub name: Name,
    /// The key: one type, or several for a concatenation.
    pub key: Vec<KeyType>,
    /// Whether keys may be prefixes or ranges.
    pub interval: bool,
    /// Elements in insertion order.
    pub elements: Vec<(Vec<Value>, Verdict)>,
}

/// A table: the unit of ownership in nft, a built-in table in iptables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Address family.
    pub family: Family,
    /// Unique within the family.
    pub name: Name,
    /// Who owns the table.
    pub ownership: Ownership,
    /// Chains, in declaration order; [`ChainId`] indexes this.
    pub chains: Vec<Chain>,
    /// Named sets; [`SetId`] indexes this.
    pub sets: Vec<Set>,
    /// Named verdict maps; [`MapId`] indexes this.
    pub maps: Vec<Map>,
    /// The table's own comment (nft keeps one per table; other targets
    /// have none).
    pub comment: Option<Comment>,
    /// How command lines build the table one command at a time.
    pub commands: Commands,
}

/// How `--format commands` builds a table one command at a time, as one of
/// libvirt's drivers does. Scripts ignore it: they declare the final state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Commands {
    /// libvirt's network driver: the table's objects first (each chain
    /// followed by the layout rules that jump to it), then every rule with
    /// a [`Rule::seq`] inserted at the head of its chain in sequence
    /// order, so `seq` decreases along a chain.
    #[default]
    Insert,
    /// libvirt's nwfilter drivers: first the table, its sets, maps, the
    /// chains no step creates and their rules; then, merged with the other
    /// tables' in one sequence, each [`Step`] and each rule with a
    /// [`Rule::seq`], rules appended to their chain, so `seq` increases
    /// along a chain.
    Append {
        /// The steps other than rules, each with its sequence number.
        steps: Vec<(u32, Step)>,
        /// How the driver spells the table's rules.
        spelling: Spelling,
    },
}

/// A step of a [`Commands::Append`] sequence that is not a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Step {
    /// Create the chain.
    CreateChain(ChainId),
    /// Add element `index` of the map, replacing an element with its key
    /// if there is one.
    ReplaceElement {
        /// The map.
        map: MapId,
        /// The element's index in [`Map::elements`].
        index: usize,
    },
}

/// libvirt's nftables nwfilter driver writes the rules of its two tables
/// differently; the command form reproduces which. (Its ebtables/iptables
/// driver has one spelling per tool: its `ebtables` table is marked
/// [`Spelling::Ethernet`], its `iptables`/`ip6tables` ones
/// [`Spelling::Inet`].)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spelling {
    /// Its layer-2 table: MAC matches with an explicit comparison, masks
    /// inside the MAC's argument, transport ports as `th`.
    Ethernet,
    /// Its layer-3 table.
    Inet,
}

impl Table {
    /// An empty table.
    pub fn new(family: Family, name: Name, ownership: Ownership) -> Self {
        Table {
            family,
            name,
            ownership,
            chains: Vec::new(),
            sets: Vec::new(),
            maps: Vec::new(),
            comment: None,
            commands: Commands::Insert,
        }
    }

    /// Adds a chain and returns its handle. Names are not checked for
    /// uniqueness here; [`crate::validate`] does.
    pub fn add_chain(&mut self, name: Name, kind: ChainKind, ownership: Ownership) -> ChainId {
        self.chains.push(Chain {
            name,
            kind,
            ownership,
            rules: Vec::new(),
            staging: None,
            end_policy: None,
        });
        ChainId(self.chains.len() - 1)
    }

    /// The handle of the chain called `name`.
    pub fn chain_id(&self, name: &str) -> Option<ChainId> {
        self.chains
            .iter()
            .position(|c| c.name.as_str() == name)
            .map(ChainId)
    }

    /// The chain behind a handle. Panics on a handle of another table.
    pub fn chain(&self, id: ChainId) -> &Chain {
        &self.chains[id.0]
    }

    /// The chain behind a handle, mutably.
    pub fn chain_mut(&mut self, id: ChainId) -> &mut Chain {
        &mut self.chains[id.0]
    }

    /// Adds a named set and returns its handle.
    pub fn add_set(&mut self, set: Set) -> SetId {
        self.sets.push(set);
        SetId(self.sets.len() - 1)
    }

    /// Adds a named verdict map and returns its handle.
    pub fn add_map(&mut self, map: Map) -> MapId {
        self.maps.push(map);
        MapId(self.maps.len() - 1)
    }
}

/// Everything one compilation installs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ruleset {
    /// Tables in declaration order.
    pub tables: Vec<Table>,
}

impl Ruleset {
    /// The table of `family` called `name`, created (with `ownership`) if absent.
    pub fn table_mut(&mut self, family: Family, name: &Name, ownership: Ownership) -> &mut Table {
        let pos = match self
            .tables
            .iter()
            .position(|t| t.family == family && &t.name == name)
        {
            Some(p) => p,
            None => {
                self.tables
                    .push(Table::new(family, name.clone(), ownership));
                self.tables.len() - 1
            }
        };
        &mut self.tables[pos]
    }

    /// The table of `family` called `name`.
    pub fn table(&self, family: Family, name: &str) -> Option<&Table> {
        self.tables
            .iter()
            .find(|t| t.family == family && t.name.as_str() == name)
    }

    /// Every rule with its table and chain, in declaration order.
    pub fn rules(&self) -> impl Iterator<Item = (&Table, &Chain, &Rule)> {
        self.tables.iter().flat_map(|t| {
            t.chains
                .iter()
                .flat_map(move |c| c.rules.iter().map(move |r| (t, c, r)))
        })
    }
}

#[cfg(test)]
mod commands_tests {
    use crate::*;

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    /// An appended table with one chain, one map element and their steps.
    fn appended(chain: &str, port: &str) -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Bridge, &name("t"), Ownership::Owned);
        let c = t.add_chain(name(chain), ChainKind::Regular, Ownership::Owned);
        let m = t.add_map(Map {
            name: name("m"),
            key: vec![KeyType::IfIndex],
            interval: false,
            elements: vec![(
                vec![Value::Ifname(Ifname::new(port).unwrap())],
                Verdict::Jump(c),
            )],
        });
        t.commands = Commands::Append {
            steps: vec![
                (1, Step::CreateChain(c)),
                (2, Step::ReplaceElement { map: m, index: 0 }),
            ],
            spelling: Spelling::Ethernet,
        };
        rs
    }

    #[test]
    fn merged_steps_follow_their_chains_and_elements() {
        let mut a = appended("a", "vnet0");
        a.merge(appended("b", "vnet1"));
        assert_eq!(validate(&a), Ok(()));
        let t = &a.tables[0];
        let Commands::Append { steps, .. } = &t.commands else {
            panic!("still appended");
        };
        let b = t.chain_id("b").unwrap();
        assert_eq!(steps[2], (1, Step::CreateChain(b)));
        assert_eq!(
            steps[3],
            (
                2,
                Step::ReplaceElement {
                    map: MapId(0),
                    index: 1
                }
            )
        );
        assert_eq!(t.maps[0].elements[1].1, Verdict::Jump(b));
    }
}
