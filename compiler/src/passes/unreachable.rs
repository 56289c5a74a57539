//! `unreachable`: drop chains no packet can reach, and the named maps and
//! sets nothing uses any more.
//!
//! The jump graph of a table has a node per chain and per named verdict map:
//! a rule's `jump`/`goto` and the elements of an inline verdict map are edges
//! from its chain to the target chains; a lookup in a named map is an edge to
//! the map, and each element of the map an edge on to its chain. Packets
//! enter at base chains; chains fwc does not own are someone else's and are
//! kept too. Everything a depth-first search from those roots does not visit
//! is removed, and the handles of what remains are renumbered. A jump cycle
//! is an error that [`ir::validate`] reports before any pass runs; the search
//! visits each node once whatever the graph.

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::Dfs;

use ir::{
    ChainId, ChainKind, MapId, MapRef, Match, Ownership, Rule, Ruleset, SetId, SetRef, Table,
    Value, Verdict,
};

/// Removes, in every table, the chains, maps and sets nothing reaches.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        prune(table);
    }
}

/// The jump graph: chains are nodes `0..chains`, maps follow.
fn graph(t: &Table) -> DiGraph<(), ()> {
    let chains = t.chains.len();
    let mut g = DiGraph::with_capacity(chains + t.maps.len(), 0);
    for _ in 0..chains + t.maps.len() {
        g.add_node(());
    }
    let map_node = |m: MapId| NodeIndex::new(chains + m.0);
    for (ci, c) in t.chains.iter().enumerate() {
        let from = NodeIndex::new(ci);
        for r in &c.rules {
            if let Some(v) = &r.verdict {
                edges(v, &mut |to| match to {
                    Target::Chain(c) => g.add_edge(from, NodeIndex::new(c.0), ()),
                    Target::Map(m) => g.add_edge(from, map_node(m), ()),
                });
            }
        }
    }
    for (mi, m) in t.maps.iter().enumerate() {
        let from = map_node(MapId(mi));
        for (_, v) in &m.elements {
            edges(v, &mut |to| match to {
                Target::Chain(c) => g.add_edge(from, NodeIndex::new(c.0), ()),
                Target::Map(m) => g.add_edge(from, map_node(m), ()),
            });
        }
    }
    g
}

enum Target {
    Chain(ChainId),
    Map(MapId),
}

fn edges<R>(v: &Verdict, add: &mut impl FnMut(Target) -> R) {
    match v {
        Verdict::Jump(c) | Verdict::Goto(c) => {
            add(Target::Chain(*c));
        }
        Verdict::Vmap {
            map: MapRef::Anonymous(elems),
            ..
        } => elems.iter().for_each(|(_, v)| edges(v, add)),
        Verdict::Vmap {
            map: MapRef::Named(m),
            ..
        } => {
            add(Target::Map(*m));
        }
        _ => {}
    }
}

fn prune(t: &mut Table) {
    let g = graph(t);
    let chains = t.chains.len();
    let mut seen = vec![false; g.node_count()];
    for (ci, c) in t.chains.iter().enumerate() {
        let root = matches!(c.kind, ChainKind::Base { .. }) || c.ownership == Ownership::External;
        if root && !seen[ci] {
            let mut dfs = Dfs::new(&g, NodeIndex::new(ci));
            while let Some(n) = dfs.next(&g) {
                seen[n.index()] = true;
            }
        }
    }
    let keep_chain = &seen[..chains];
    let keep_map = &seen[chains..];
    if keep_chain.iter().all(|k| *k) && keep_map.iter().all(|k| *k) && sets_all_used(t) {
        return;
    }
    let chain_ids = renumber(keep_chain);
    let map_ids = renumber(keep_map);
    t.chains = std::mem::take(&mut t.chains)
        .into_iter()
        .zip(keep_chain)
        .filter_map(|(c, k)| k.then_some(c))
        .collect();
    t.maps = std::mem::take(&mut t.maps)
        .into_iter()
        .zip(keep_map)
        .filter_map(|(m, k)| k.then_some(m))
        .collect();
    let mut used_sets = vec![false; t.sets.len()];
    for r in t.chains.iter().flat_map(|c| &c.rules) {
        for m in &r.matches {
            if let Value::Set(SetRef::Named(s)) = m.value {
                used_sets[s.0] = true;
            }
        }
    }
    let set_ids = renumber(&used_sets);
    t.sets = std::mem::take(&mut t.sets)
        .into_iter()
        .zip(&used_sets)
        .filter_map(|(s, k)| k.then_some(s))
        .collect();
    let ids = Renumbering {
        chains: chain_ids,
        maps: map_ids,
        sets: set_ids,
    };
    for r in t.chains.iter_mut().flat_map(|c| &mut c.rules) {
        ids.rule(r);
    }
    for m in &mut t.maps {
        for (_, v) in &mut m.elements {
            ids.verdict(v);
        }
    }
}

fn sets_all_used(t: &Table) -> bool {
    let mut used = vec![false; t.sets.len()];
    for r in t.chains.iter().flat_map(|c| &c.rules) {
        for m in &r.matches {
            if let Value::Set(SetRef::Named(s)) = m.value {
                if let Some(u) = used.get_mut(s.0) {
                    *u = true;
                }
            }
        }
    }
    used.iter().all(|u| *u)
}

/// New index of each kept element (`None` for removed ones).
fn renumber(keep: &[bool]) -> Vec<Option<usize>> {
    let mut next = 0;
    keep.iter()
        .map(|k| {
            k.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

/// Old handle → new handle, for chains, maps and sets.
struct Renumbering {
    chains: Vec<Option<usize>>,
    maps: Vec<Option<usize>>,
    sets: Vec<Option<usize>>,
}

impl Renumbering {
    fn chain(&self, c: ChainId) -> ChainId {
        ChainId(self.chains[c.0].expect("a kept chain only reaches kept chains"))
    }

    fn rule(&self, r: &mut Rule) {
        for Match { value, .. } in &mut r.matches {
            if let Value::Set(SetRef::Named(s)) = value {
                *s = SetId(self.sets[s.0].expect("used sets are kept"));
            }
        }
        if let Some(v) = &mut r.verdict {
            self.verdict(v);
        }
    }

    fn verdict(&self, v: &mut Verdict) {
        match v {
            Verdict::Jump(c) | Verdict::Goto(c) => *c = self.chain(*c),
            Verdict::Vmap {
                map: MapRef::Anonymous(elems),
                ..
            } => elems.iter_mut().for_each(|(_, v)| self.verdict(v)),
            Verdict::Vmap {
                map: MapRef::Named(m),
                ..
            } => *m = MapId(self.maps[m.0].expect("a kept chain only uses kept maps")),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{ChainType, Family, Field, Hook, KeyType, Map, Name, Policy, Provenance, Set};

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn rule(matches: Vec<Match>, v: Verdict) -> Rule {
        Rule::new(Provenance::Layout("test"), matches, Some(v))
    }

    #[test]
    fn drops_what_no_base_chain_reaches_and_renumbers_the_rest() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("t"), Ownership::Owned);
        let orphan = t.add_chain(name("orphan"), ChainKind::Regular, Ownership::Owned);
        let via_map = t.add_chain(name("via_map"), ChainKind::Regular, Ownership::Owned);
        let dead_set = t.add_set(Set {
            name: name("dead"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![vec![ifname("x")]],
        });
        let live_set = t.add_set(Set {
            name: name("live"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![vec![ifname("y")]],
        });
        let map = t.add_map(Map {
            name: name("dispatch"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![(vec![ifname("a")], Verdict::Jump(via_map))],
        });
        let deeper = t.add_chain(name("deeper"), ChainKind::Regular, Ownership::Owned);
        let fwd = add_base(
            t,
            "forward",
            Hook::Forward,
            ChainType::Filter,
            0,
            Policy::Accept,
        );
        t.chain_mut(orphan).rules = vec![rule(
            vec![Match::eq(
                Field::IifName,
                Value::Set(SetRef::Named(dead_set)),
            )],
            Verdict::Jump(deeper),
        )];
        t.chain_mut(via_map).rules = vec![rule(vec![], Verdict::Goto(deeper))];
        t.chain_mut(fwd).rules = vec![
            rule(
                vec![Match::eq(
                    Field::OifName,
                    Value::Set(SetRef::Named(live_set)),
                )],
                Verdict::Accept,
            ),
            rule(
                vec![],
                Verdict::Vmap {
                    key: vec![Field::IifName],
                    map: MapRef::Named(map),
                },
            ),
        ];
        run(&mut rs);
        let t = &rs.tables[0];
        let names: Vec<_> = t.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["via_map", "deeper", "forward"]);
        assert_eq!(t.sets.len(), 1);
        assert_eq!(t.sets[0].name.as_str(), "live");
        assert_eq!(t.maps[0].elements[0].1, Verdict::Jump(ChainId(0)));
        assert_eq!(
            t.chains[0].rules[0].verdict,
            Some(Verdict::Goto(ChainId(1)))
        );
        assert_eq!(
            t.chains[2].rules[0].matches[0].value,
            Value::Set(SetRef::Named(SetId(0)))
        );
        assert_eq!(ir::validate(&rs), Ok(()));
    }

    #[test]
    fn external_chains_are_roots_and_unused_maps_go() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        let sub = t.add_chain(name("LIBVIRT_FWO"), ChainKind::Regular, Ownership::Owned);
        let fwd = t.add_chain(name("FORWARD"), ChainKind::Regular, Ownership::External);
        t.add_map(Map {
            name: name("unused"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![(vec![ifname("a")], Verdict::Accept)],
        });
        t.chain_mut(fwd).rules = vec![rule(vec![], Verdict::Jump(sub))];
        let before = rs.tables[0].chains.clone();
        run(&mut rs);
        assert_eq!(rs.tables[0].chains, before);
        assert!(rs.tables[0].maps.is_empty());
    }
}
