//! Combining rulesets lowered separately (networks and nwfilter ports) into
//! one, as a host installs them together.

use std::collections::HashMap;

use crate::rule::{MapRef, Rule, SetRef, Value, Verdict};
use crate::ruleset::{ChainId, Commands, MapId, Ruleset, SetId, Step, Table};

impl Ruleset {
    /// Adds `other` to `self`. Tables with the same family and name become
    /// one (iptables' `filter` table serves networks and nwfilter alike);
    /// within them, chains, sets and maps with the same name become one —
    /// a chain gets `other`'s rules appended, a set or map its elements —
    /// and everything else is appended. Handles in `other` are renumbered.
    pub fn merge(&mut self, other: Ruleset) {
        for table in other.tables {
            match self
                .tables
                .iter_mut()
                .find(|t| t.family == table.family && t.name == table.name)
            {
                Some(mine) => merge_table(mine, table),
                None => self.tables.push(table),
            }
        }
    }
}

fn merge_table(mine: &mut Table, mut theirs: Table) {
    reconcile_commands(mine, &mut theirs);
    let mut chains = HashMap::new();
    for (i, c) in theirs.chains.iter().enumerate() {
        let id = match mine.chain_id(c.name.as_str()) {
            Some(id) => id,
            None => {
                let id = mine.add_chain(c.name.clone(), c.kind.clone(), c.ownership);
                let added = mine.chain_mut(id);
                added.staging = c.staging.clone();
                added.end_policy = c.end_policy;
                id
            }
        };
        chains.insert(ChainId(i), id);
    }
    let mut sets = HashMap::new();
    for (i, s) in theirs.sets.iter().enumerate() {
        let id = match mine.sets.iter().position(|m| m.name == s.name) {
            Some(p) => SetId(p),
            None => mine.add_set(crate::Set {
                elements: Vec::new(),
                ..s.clone()
            }),
        };
        sets.insert(SetId(i), id);
    }
    let mut maps = HashMap::new();
    for (i, m) in theirs.maps.iter().enumerate() {
        let id = match mine.maps.iter().position(|x| x.name == m.name) {
            Some(p) => MapId(p),
            None => mine.add_map(crate::Map {
                elements: Vec::new(),
                ..m.clone()
            }),
        };
        maps.insert(MapId(i), id);
    }
    // Their elements go after mine, so their element steps shift.
    let element_base: Vec<usize> = (0..theirs.maps.len())
        .map(|i| mine.maps[maps[&MapId(i)].0].elements.len())
        .collect();
    let ids = Ids { chains, sets, maps };
    mine.comment = mine.comment.take().or(theirs.comment);
    if let Commands::Append { steps, spelling } = theirs.commands {
        let steps = steps.into_iter().map(|(seq, step)| {
            let step = match step {
                Step::CreateChain(c) => Step::CreateChain(ids.chains[&c]),
                Step::ReplaceElement { map, index } => Step::ReplaceElement {
                    map: ids.maps[&map],
                    index: element_base[map.0] + index,
                },
            };
            (seq, step)
        });
        match &mut mine.commands {
            Commands::Append { steps: mine, .. } => mine.extend(steps),
            Commands::Insert => {
                mine.commands = Commands::Append {
                    steps: steps.collect(),
                    spelling,
                }
            }
        }
    }
    for (i, s) in theirs.sets.into_iter().enumerate() {
        let target = &mut mine.sets[ids.sets[&SetId(i)].0];
        target.elements.extend(
            s.elements
                .into_iter()
                .map(|e| e.into_iter().map(|v| ids.value(v)).collect()),
        );
    }
    for (i, m) in theirs.maps.into_iter().enumerate() {
        let target = ids.maps[&MapId(i)];
        let elements: Vec<_> = m
            .elements
            .into_iter()
            .map(|(k, v)| {
                (
                    k.into_iter().map(|x| ids.value(x)).collect(),
                    ids.verdict(v),
                )
            })
            .collect();
        mine.maps[target.0].elements.extend(elements);
    }
    for (i, c) in theirs.chains.into_iter().enumerate() {
        let target = ids.chains[&ChainId(i)];
        let rules: Vec<Rule> = c.rules.into_iter().map(|r| ids.rule(r)).collect();
        mine.chain_mut(target).rules.extend(rules);
    }
}

/// One table built by inserts and one built by appends (iptables' `filter`
/// table holds libvirt's network chains and its nwfilter chains): the
/// inserting table's rules become appends in their final chain order, and
/// the appending table's sequence follows the other's, so that one
/// [`Commands::Append`] sequence builds both in the order they run.
fn reconcile_commands(mine: &mut Table, theirs: &mut Table) {
    match (&mine.commands, &theirs.commands) {
        (Commands::Insert, Commands::Append { .. }) => {
            let offset = appends_from_inserts(mine, 0);
            shift(theirs, offset);
        }
        (Commands::Append { .. }, Commands::Insert) => {
            let next = last_seq(mine).map_or(0, |s| s + 1);
            appends_from_inserts(theirs, next);
            if let Commands::Append { spelling, .. } = &mine.commands {
                theirs.commands = Commands::Append {
                    steps: Vec::new(),
                    spelling: *spelling,
                };
            }
        }
        _ => {}
    }
}

/// Renumbers the inserted rules of `t` as appends from `first` on, in
/// chain order; returns the next free number.
fn appends_from_inserts(t: &mut Table, first: u32) -> u32 {
    let mut next = first;
    for c in &mut t.chains {
        for r in c.rules.iter_mut().filter(|r| r.seq.is_some()) {
            r.seq = Some(next);
            next += 1;
        }
    }
    next
}

/// The highest sequence number a rule or step of `t` has.
fn last_seq(t: &Table) -> Option<u32> {
    let rules = t.chains.iter().flat_map(|c| &c.rules).filter_map(|r| r.seq);
    let steps: Vec<u32> = match &t.commands {
        Commands::Append { steps, .. } => steps.iter().map(|(s, _)| *s).collect(),
        Commands::Insert => Vec::new(),
    };
    rules.chain(steps).max()
}

/// Moves every sequence number of `t` up by `offset`.
fn shift(t: &mut Table, offset: u32) {
    for r in t.chains.iter_mut().flat_map(|c| &mut c.rules) {
        if let Some(s) = &mut r.seq {
            *s += offset;
        }
    }
    if let Commands::Append { steps, .. } = &mut t.commands {
        for (s, _) in steps {
            *s += offset;
        }
    }
}

/// How `other`'s handles map to the merged table's.
struct Ids {
    chains: HashMap<ChainId, ChainId>,
    sets: HashMap<SetId, SetId>,
    maps: HashMap<MapId, MapId>,
}

impl Ids {
    fn rule(&self, mut r: Rule) -> Rule {
        for m in &mut r.matches {
            m.value = self.value(std::mem::replace(&mut m.value, Value::Bool(false)));
        }
        r.verdict = r.verdict.map(|v| self.verdict(v));
        r
    }

    fn value(&self, v: Value) -> Value {
        match v {
            Value::Set(SetRef::Named(id)) => {
                Value::Set(SetRef::Named(self.sets.get(&id).copied().unwrap_or(id)))
            }
            Value::Set(SetRef::Anonymous(items)) => Value::Set(SetRef::Anonymous(
                items.into_iter().map(|v| self.value(v)).collect(),
            )),
            other => other,
        }
    }

    fn verdict(&self, v: Verdict) -> Verdict {
        let chain = |c: ChainId| self.chains.get(&c).copied().unwrap_or(c);
        match v {
            Verdict::Jump(c) => Verdict::Jump(chain(c)),
            Verdict::Goto(c) => Verdict::Goto(chain(c)),
            Verdict::Vmap {
                key,
                map: MapRef::Named(id),
            } => Verdict::Vmap {
                key,
                map: MapRef::Named(self.maps.get(&id).copied().unwrap_or(id)),
            },
            Verdict::Vmap {
                key,
                map: MapRef::Anonymous(elems),
            } => Verdict::Vmap {
                key,
                map: MapRef::Anonymous(
                    elems
                        .into_iter()
                        .map(|(k, v)| {
                            (
                                k.into_iter().map(|x| self.value(x)).collect(),
                                self.verdict(v),
                            )
                        })
                        .collect(),
                ),
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    fn name(s: &str) -> Name {
        Name::new(s).unwrap()
    }

    fn one(chain_names: &[&str], jump_from_first: bool) -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        let ids: Vec<_> = chain_names
            .iter()
            .map(|n| t.add_chain(name(n), ChainKind::Regular, Ownership::Owned))
            .collect();
        if jump_from_first {
            let set = t.add_set(Set {
                name: name("ports"),
                key: vec![KeyType::InetService],
                interval: false,
                elements: vec![vec![Value::Ports(PortRange::new(22, 22).unwrap())]],
            });
            t.chain_mut(ids[0]).rules.push(Rule::new(
                Provenance::Layout("t"),
                vec![Match::eq(
                    Field::Dport(L4Proto::Tcp),
                    Value::Set(SetRef::Named(set)),
                )],
                Some(Verdict::Jump(*ids.last().unwrap())),
            ));
        }
        rs
    }

    #[test]
    fn same_tables_and_chains_merge_and_handles_follow() {
        let mut a = one(&["FORWARD", "LIBVIRT_FWO"], false);
        a.table_mut(Family::Ip6, &name("other"), Ownership::Owned);
        let b = one(&["FORWARD", "libvirt-in"], true);
        a.merge(b);
        assert_eq!(a.tables.len(), 2);
        let t = a.table(Family::Ip, "filter").unwrap();
        let names: Vec<_> = t.chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["FORWARD", "LIBVIRT_FWO", "libvirt-in"]);
        let rule = &t.chain(t.chain_id("FORWARD").unwrap()).rules[0];
        assert_eq!(
            rule.verdict,
            Some(Verdict::Jump(t.chain_id("libvirt-in").unwrap()))
        );
        assert_eq!(rule.matches[0].value, Value::Set(SetRef::Named(SetId(0))));
        assert_eq!(t.sets[0].elements.len(), 1);
        assert_eq!(validate(&a), Ok(()));
    }

    /// libvirt's network rules (inserted) and nwfilter rules (appended) in
    /// iptables' one `filter` table: one append sequence keeps both orders.
    #[test]
    fn inserted_and_appended_tables_merge_into_one_sequence() {
        let p = || Provenance::Layout("t");
        let mut net = one(&["LIBVIRT_FWO"], false);
        let fwo = ChainId(0);
        net.tables[0].chain_mut(fwo).rules = vec![
            Rule::new(p(), vec![], Some(Verdict::Accept)).at_seq(1),
            Rule::new(p(), vec![], Some(Verdict::Drop)).at_seq(0),
        ];
        let mut nwf = one(&["FI-vnet0"], false);
        let fi = ChainId(0);
        nwf.tables[0].chain_mut(fi).staging = Some(name("FJ-vnet0"));
        nwf.tables[0].chain_mut(fi).rules = vec![
            Rule::new(p(), vec![], Some(Verdict::Return)).at_seq(1),
            Rule::new(p(), vec![], Some(Verdict::Drop)).at_seq(2),
        ];
        nwf.tables[0].commands = Commands::Append {
            steps: vec![(0, Step::CreateChain(fi))],
            spelling: crate::Spelling::Inet,
        };
        let mut a = net.clone();
        a.merge(nwf.clone());
        assert_eq!(validate(&a), Ok(()));
        let t = &a.tables[0];
        let seqs = |c: &str| -> Vec<Option<u32>> {
            t.chain(t.chain_id(c).unwrap())
                .rules
                .iter()
                .map(|r| r.seq)
                .collect()
        };
        assert_eq!(seqs("LIBVIRT_FWO"), [Some(0), Some(1)]);
        assert_eq!(seqs("FI-vnet0"), [Some(3), Some(4)]);
        let fi = t.chain_id("FI-vnet0").unwrap();
        assert_eq!(t.chain(fi).staging, Some(name("FJ-vnet0")));
        assert!(
            matches!(&t.commands, Commands::Append { steps, .. } if steps == &[(2, Step::CreateChain(fi))])
        );

        // The other way round, the inserted rules follow the sequence.
        let mut b = nwf;
        b.merge(net);
        assert_eq!(validate(&b), Ok(()));
        let t = &b.tables[0];
        let fwo = t.chain_id("LIBVIRT_FWO").unwrap();
        let seqs: Vec<_> = t.chain(fwo).rules.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [Some(3), Some(4)]);
    }
}
