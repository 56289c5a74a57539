//! `named`: give the optimiser's verdict maps, and its sets of interfaces
//! and MACs, names of their own, so that one network's or one port's
//! elements can be added and removed without touching any rule
//! (`nft add element inet fwc guest_output_iifname { "virbr9" : jump ... }`).
//!
//! Every inline verdict map becomes a named map, and every inline set of
//! interface names or MACs (the per-network and per-port values) a named set;
//! sets of prefixes, protocols and ports are the policy's constants
//! (`{ 224.0.0.0/24, 255.255.255.255 }`, `{ 53, 67 }`) and stay inline. Names
//! come from the chain and the key fields (`input_iifname`,
//! `guest_cross_iifname_oifname`); a chain's identical sets on one field
//! share one named set. The elements are the same, so is the behaviour.

use std::collections::HashMap;

use ir::{
    ChainId, Field, KeyType, Map, MapId, MapRef, Match, Rule, Ruleset, Set, SetId, SetRef, Table,
    Value, Verdict,
};

use super::analysis::is_interval;
use super::naming::{field_word, Names};

/// Names the inline maps and interface/MAC sets of every table.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        let mut namer = Namer {
            names: Names::objects(table),
            shared: HashMap::new(),
        };
        for ci in 0..table.chains.len() {
            let mut rules = std::mem::take(&mut table.chains[ci].rules);
            for r in &mut rules {
                namer.rule(table, ChainId(ci), r);
            }
            table.chains[ci].rules = rules;
        }
    }
}

struct Namer {
    names: Names,
    /// Sets already named, by chain, field and elements.
    shared: HashMap<(ChainId, Field, Vec<Value>), SetId>,
}

impl Namer {
    fn rule(&mut self, t: &mut Table, c: ChainId, r: &mut Rule) {
        for Match { field, value, .. } in &mut r.matches {
            let per_entity = matches!(
                field.key_type(),
                KeyType::Ifname | KeyType::IfIndex | KeyType::EtherAddr
            );
            if let (true, Value::Set(SetRef::Anonymous(items))) = (per_entity, &*value) {
                let id = self.set(t, c, *field, items.clone());
                *value = Value::Set(SetRef::Named(id));
            }
        }
        if let Some(Verdict::Vmap {
            key,
            map: map @ MapRef::Anonymous(_),
        }) = &mut r.verdict
        {
            let MapRef::Anonymous(elements) = std::mem::replace(map, MapRef::Anonymous(Vec::new()))
            else {
                unreachable!("matched an anonymous map");
            };
            *map = MapRef::Named(self.map(t, c, key, elements));
        }
    }

    fn set(&mut self, t: &mut Table, c: ChainId, field: Field, items: Vec<Value>) -> SetId {
        if let Some(id) = self.shared.get(&(c, field, items.clone())) {
            return *id;
        }
        let name = self
            .names
            .fresh(&[t.chain(c).name.as_str(), &field_word(field)]);
        let id = t.add_set(Set {
            name,
            key: vec![field.key_type()],
            interval: items.iter().any(is_interval),
            elements: items.iter().map(|v| vec![v.clone()]).collect(),
        });
        self.shared.insert((c, field, items), id);
        id
    }

    fn map(
        &mut self,
        t: &mut Table,
        c: ChainId,
        key: &[Field],
        elements: Vec<(Vec<Value>, Verdict)>,
    ) -> MapId {
        let mut parts = vec![t.chain(c).name.to_string()];
        parts.extend(key.iter().map(|f| field_word(*f)));
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let name = self.names.fresh(&parts);
        t.add_map(Map {
            name,
            key: key.iter().map(|f| f.key_type()).collect(),
            interval: elements.iter().flat_map(|(k, _)| k).any(is_interval),
            elements,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{ChainKind, ChainType, Family, Hook, IpFamily, Name, Ownership, Policy, Provenance};

    #[test]
    fn maps_and_interface_sets_get_names_prefix_sets_do_not() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("fwc").unwrap(), Ownership::Owned);
        let sub = t.add_chain(
            Name::new("sub").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        let fwd = add_base(
            t,
            "forward",
            Hook::Forward,
            ChainType::Filter,
            0,
            Policy::Accept,
        );
        let bridges = || Value::Set(SetRef::Anonymous(vec![ifname("a"), ifname("b")]));
        let nets = Value::Set(SetRef::Anonymous(vec![
            Value::Prefix("10.0.0.0/24".parse().unwrap()),
            Value::Prefix("10.0.1.0/24".parse().unwrap()),
        ]));
        let rule = |m, v| Rule::new(Provenance::Layout("test"), m, Some(v));
        t.chain_mut(fwd).rules = vec![
            rule(vec![Match::eq(Field::IifName, bridges())], Verdict::Accept),
            rule(
                vec![
                    Match::eq(Field::IifName, bridges()),
                    Match::eq(Field::Saddr(IpFamily::V4), nets.clone()),
                ],
                Verdict::Drop,
            ),
            rule(
                vec![],
                Verdict::Vmap {
                    key: vec![Field::Saddr(IpFamily::V4)],
                    map: MapRef::Anonymous(vec![(
                        vec![Value::Prefix("10.0.0.0/24".parse().unwrap())],
                        Verdict::Jump(sub),
                    )]),
                },
            ),
        ];
        run(&mut rs);
        assert_eq!(ir::validate(&rs), Ok(()));
        let t = &rs.tables[0];
        assert_eq!(t.sets.len(), 1, "both rules share the bridges set");
        assert_eq!(t.sets[0].name.as_str(), "forward_iifname");
        assert_eq!(t.maps.len(), 1);
        assert_eq!(t.maps[0].name.as_str(), "forward_ip_saddr");
        assert!(t.maps[0].interval);
        let rules = &t.chains[1].rules;
        assert_eq!(rules[1].matches[1].value, nets);
        assert_eq!(
            rules[0].matches[0].value,
            Value::Set(SetRef::Named(SetId(0)))
        );
    }
}
