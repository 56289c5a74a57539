//! libvirt's nftables nwfilter driver (`nwfilter_nftables_driver.c`), per
//! bound port, as the state right after its `applyNewRules`.
//!
//! Two owned `bridge` tables, `libvirt_nwfilter_ethernet` (layer-2 rules)
//! and `libvirt_nwfilter_inet` (layer-3 rules), each with libvirt's comment,
//! the verdict maps `vmap-oif`/`vmap-iif` keyed by interface index, base
//! chains `postrouting`/`prerouting` (priority 0 for the ethernet table, 1
//! for the inet table) that dispatch through them, and, in the ethernet
//! table, the `same-ip-set` behind gratuitous-ARP tests. Per port `IF`, in
//! both tables, the chains `n-IF-in` (to the guest) and `n-IF-out` (from
//! it), plus ethernet sub-chains `n-IF-<chain>-in|out` for the filters'
//! chains, each jumped to from the root chain with a protocol guard.
//!
//! Rules are sorted as the driver sorts them (root chain first, then by
//! priority, a sub-chain's rules raised to its priority; stable), sub-chains
//! are created interleaved with the root chain's ethernet rules of lower
//! priority, and every rule is appended. Last comes the activation: a
//! temporary jump from each base chain to the port's chain and the port's
//! verdict-map element, replaced. The table's [`ir::Commands::Append`]
//! steps record that sequence, so `--format commands` prints libvirt's
//! command lines; scripts declare the same state at once. libvirt later
//! renames `n-IF-*` to `IF-*` and drops the temporary jumps once the old
//! generation is gone; that bookkeeping depends on the previous state and
//! is not part of a static artifact.

mod ethernet;
mod inet;
mod instance;

use std::net::Ipv4Addr;

use ir::{
    ChainId, ChainKind, Commands, Comment, Family, Field, Hook, KeyType, MapId, Match, Name,
    Notation, Ownership, Provenance, Rule, Ruleset, Set, Spelling, Step, Table as IrTable, Value,
    Verdict,
};

pub(crate) use instance::{instances, Fidelity, Table};

use super::nft_shared::{lower_rules, Dispatch, PortSink};
use super::Port;
use crate::layout::LowerError;
use crate::nwfilter::{ChainKind as FilterChain, InstantiatedRule};

/// The layer-2 table.
pub const ETHERNET_TABLE: &str = "libvirt_nwfilter_ethernet";
/// The layer-3 table.
pub const INET_TABLE: &str = "libvirt_nwfilter_inet";
/// The comment libvirt gives both tables.
pub const TABLE_COMMENT: &str = "Managed by libvirt for network filters: \
     https://libvirt.org/firewall.html#the-network-filter-driver";

const VMAP_IN: &str = "vmap-oif";
const VMAP_OUT: &str = "vmap-iif";

/// Lowers bound ports into libvirt's two bridge tables.
pub fn lower(ports: &[Port]) -> Result<Ruleset, LowerError> {
    let mut rs = Ruleset::default();
    if ports.is_empty() {
        return Ok(rs);
    }
    let mut b = Builder {
        eth: base_table(ETHERNET_TABLE, Spelling::Ethernet, 0),
        inet: base_table(INET_TABLE, Spelling::Inet, 1),
        seq: 0,
    };
    b.eth.add_set(same_ip_set());
    for port in ports {
        b.port(port)?;
    }
    rs.tables = vec![b.eth, b.inet];
    Ok(rs)
}

fn name(text: &str) -> Name {
    Name::new(text).expect("libvirt's nwfilter names are valid identifiers")
}

/// A table with its maps, base chains and dispatch rules.
fn base_table(table: &str, spelling: Spelling, priority: i32) -> IrTable {
    let mut t = IrTable::new(Family::Bridge, name(table), Ownership::Owned);
    t.comment = Some(Comment::new(TABLE_COMMENT).expect("a short comment"));
    t.commands = Commands::Append {
        steps: Vec::new(),
        spelling,
    };
    for (map, hook, chain, key) in [
        (VMAP_IN, Hook::Postrouting, "postrouting", Field::Oif),
        (VMAP_OUT, Hook::Prerouting, "prerouting", Field::Iif),
    ] {
        Dispatch {
            map: name(map),
            key_type: KeyType::IfIndex,
            chain: name(chain),
            hook,
            priority,
            key,
            why: "dispatch to the interfaces' chains",
        }
        .add_to(&mut t);
    }
    t
}

/// libvirt's helper set for gratuitous ARP: for each byte position, every
/// value paired with itself (`x.0.0.0 . x.0.0.0`, ...), in libvirt's order
/// (`0.0.0.0 . 0.0.0.0` four times).
pub(crate) fn same_ip_set() -> Set {
    let mut elements = Vec::with_capacity(1024);
    for pos in 0..4 {
        for v in 0..=255u8 {
            let mut b = [0u8; 4];
            b[pos] = v;
            let a = Value::Prefix(ipnet::IpNet::from(std::net::IpAddr::V4(Ipv4Addr::from(b))));
            elements.push(vec![a.clone(), a]);
        }
    }
    Set {
        name: name("same-ip-set"),
        key: vec![KeyType::Ipv4Addr, KeyType::Ipv4Addr],
        interval: false,
        elements,
    }
}

struct Builder {
    eth: IrTable,
    inet: IrTable,
    seq: u32,
}

/// A sub-chain of a port: a filter chain other than `root`.
pub(crate) struct SubChain {
    /// `arp-xyz`.
    pub suffix: String,
    /// Its kind, which decides the guard of the jump into it.
    pub kind: FilterChain,
    /// Its priority.
    pub priority: i32,
    /// Whether ethernet rules of direction `in` (or `inout`) use it.
    pub inbound: bool,
    /// Whether ethernet rules of direction `out` (or `inout`) use it.
    pub outbound: bool,
}

impl PortSink for Builder {
    fn add_sub_chain(&mut self, name: &str) -> Result<ChainId, String> {
        self.chain(Table::Ethernet, name)
    }

    fn add_rule(&mut self, table: Table, chain: ChainId, rule: Rule) {
        self.append(table, chain, rule);
    }
}

impl Builder {
    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    fn table(&mut self, t: Table) -> &mut IrTable {
        match t {
            Table::Ethernet => &mut self.eth,
            Table::Inet => &mut self.inet,
        }
    }

    fn step(&mut self, t: Table, step: Step) {
        let seq = self.next();
        if let Commands::Append { steps, .. } = &mut self.table(t).commands {
            steps.push((seq, step));
        }
    }

    fn chain(&mut self, t: Table, chain: &str) -> Result<ChainId, String> {
        let n = Name::new(chain).map_err(|e| e.to_string())?;
        let table = self.table(t);
        if table.chain_id(chain).is_some() {
            return Err(format!(
                "chain {chain} exists twice (an interface bound twice?)"
            ));
        }
        let id = table.add_chain(n, ChainKind::Regular, Ownership::Owned);
        self.step(t, Step::CreateChain(id));
        Ok(id)
    }

    fn append(&mut self, t: Table, chain: ChainId, rule: Rule) {
        let seq = self.next();
        self.table(t).chain_mut(chain).rules.push(rule.at_seq(seq));
    }

    fn port(&mut self, port: &Port) -> Result<(), LowerError> {
        let fail = |message: String| LowerError {
            at: port.source.clone(),
            message,
        };
        let ifname = port.ifname.as_str();
        let prefix = format!("n-{ifname}");
        let root_in = format!("{prefix}-in");
        let root_out = format!("{prefix}-out");
        let mut roots = [[ChainId(0); 2]; 2];
        for (i, chain) in [&root_in, &root_out].into_iter().enumerate() {
            for (j, t) in [Table::Ethernet, Table::Inet].into_iter().enumerate() {
                roots[j][i] = self.chain(t, chain).map_err(fail)?;
            }
        }
        let root = |t: Table, inbound: bool| {
            let j = usize::from(t == Table::Inet);
            roots[j][usize::from(!inbound)]
        };
        lower_rules(self, port, &prefix, root, Fidelity::Libvirt, |m| m)?;
        self.activate(port, Field::Oif, "postrouting", VMAP_IN, |t| root(t, true));
        self.activate(port, Field::Iif, "prerouting", VMAP_OUT, |t| root(t, false));
        Ok(())
    }

    /// libvirt's switch-over to a port's new chains: a temporary jump from
    /// the base chain in both tables, then the verdict-map element,
    /// replaced, in the inet table first.
    fn activate(
        &mut self,
        port: &Port,
        key: Field,
        base: &str,
        map: &str,
        root: impl Fn(Table) -> ChainId,
    ) {
        let ifname = Value::Ifname(port.ifname.clone());
        for t in [Table::Inet, Table::Ethernet] {
            let target = root(t);
            let base_id = self.table(t).chain_id(base).expect("base chains exist");
            let jump = Rule::new(
                Provenance::Layout("temporary jump while the verdict map changes"),
                vec![Match::eq(key, ifname.clone())],
                Some(Verdict::Jump(target)),
            );
            self.append(t, base_id, jump);
        }
        for t in [Table::Inet, Table::Ethernet] {
            let target = root(t);
            let table = self.table(t);
            let m = table
                .maps
                .iter()
                .position(|m| m.name.as_str() == map)
                .map(MapId)
                .expect("verdict maps exist");
            table.maps[m.0]
                .elements
                .push((vec![ifname.clone()], Verdict::Jump(target)));
            let index = table.maps[m.0].elements.len() - 1;
            self.step(t, Step::ReplaceElement { map: m, index });
        }
    }
}

/// The jump guard of a sub-chain: its protocol's ether type (`0x0806`),
/// STP's destination, or nothing for `mac` chains.
pub(crate) fn guard(kind: FilterChain) -> Option<Match> {
    let ether = |t: u16| {
        Some(Match::eq(
            Field::EtherType,
            Value::Int(ir::IntRange::single(t.into()).written(Notation::Hex { width: 4 })),
        ))
    };
    match kind {
        FilterChain::Ipv4 => ether(0x0800),
        FilterChain::Ipv6 => ether(0x86dd),
        FilterChain::Arp => ether(0x0806),
        FilterChain::Rarp => ether(0x8035),
        FilterChain::Vlan => ether(0x8100),
        FilterChain::Stp => Some(Match::eq(
            Field::EtherDaddr,
            Value::Mac(ethernet::STP_DESTINATION),
        )),
        FilterChain::Mac | FilterChain::Root => None,
    }
}

/// One step of creating a port's chains and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Planned {
    /// Create the sub-chain (by index into [`sub_chains`]) and jump to it.
    SubChain(usize),
    /// Add the rule (by index into [`sorted`]).
    Rule(usize),
}

/// libvirt's order of sub-chain creation and rules
/// (`nftablesHandleCreateChains`): each sub-chain, in priority order, comes
/// after the root chain's ethernet rules of lower priority; then every
/// other rule in sorted order.
pub(crate) fn plan(rules: &[Sorted<'_>], subs: &[SubChain]) -> Vec<Planned> {
    let is_eth_root =
        |r: &Sorted<'_>| r.rule.chain.is_root() && Table::of(&r.rule.rule) == Table::Ethernet;
    let mut out = Vec::new();
    let mut next_root = 0;
    let mut done_upto: Option<usize> = None;
    for (i, sub) in subs.iter().enumerate() {
        let mut j = next_root;
        while j < rules.len() && rules[j].rule.chain.is_root() && sub.priority > rules[j].priority {
            if is_eth_root(&rules[j]) {
                out.push(Planned::Rule(j));
                next_root = j + 1;
                done_upto = Some(j);
            }
            j += 1;
        }
        out.push(Planned::SubChain(i));
    }
    for (i, r) in rules.iter().enumerate() {
        if !(done_upto.is_some_and(|d| d >= i) && is_eth_root(r)) {
            out.push(Planned::Rule(i));
        }
    }
    out
}

/// A rule with the priority it is sorted by.
pub(crate) struct Sorted<'a> {
    pub rule: &'a InstantiatedRule,
    pub priority: i32,
}

/// libvirt's order: root-chain rules first, then by priority, a sub-chain
/// rule's priority raised to its chain's; stable.
pub(crate) fn sorted(rules: &[InstantiatedRule]) -> Vec<Sorted<'_>> {
    let mut out: Vec<Sorted<'_>> = rules
        .iter()
        .map(|r| Sorted {
            rule: r,
            priority: if r.chain.is_root() {
                r.rule.priority
            } else {
                r.rule.priority.max(r.chain_priority)
            },
        })
        .collect();
    out.sort_by_key(|s| (!s.rule.chain.is_root(), s.priority));
    out
}

/// The sub-chains of the sorted rules, in creation order (by chain
/// priority, then first use), with the directions their ethernet rules need.
pub(crate) fn sub_chains(rules: &[Sorted<'_>]) -> Vec<SubChain> {
    let mut subs: Vec<SubChain> = Vec::new();
    for r in rules.iter().filter(|r| !r.rule.chain.is_root()) {
        let idx = match subs.iter().position(|s| s.suffix == r.rule.chain.as_str()) {
            Some(i) => i,
            None => {
                subs.push(SubChain {
                    suffix: r.rule.chain.as_str().to_owned(),
                    kind: r.rule.chain.kind(),
                    priority: r.rule.chain_priority,
                    inbound: false,
                    outbound: false,
                });
                subs.len() - 1
            }
        };
        if Table::of(&r.rule.rule) == Table::Ethernet {
            let d = r.rule.rule.direction;
            use crate::nwfilter::Direction as D;
            subs[idx].inbound |= matches!(d, D::In | D::InOut);
            subs[idx].outbound |= matches!(d, D::Out | D::InOut);
        }
    }
    subs.sort_by_key(|s| s.priority);
    subs
}

#[cfg(test)]
mod tests;
