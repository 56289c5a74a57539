//! The interface names a ruleset refers to: a harness or `fwc check`
//! creates them before loading rules that match by index.

use crate::rule::{MapRef, SetRef, Value, Verdict};
use crate::ruleset::Ruleset;

impl Ruleset {
    /// Every interface name the ruleset mentions (in matches, sets and map
    /// keys), sorted and deduplicated.
    pub fn interface_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tables {
            for s in &t.sets {
                s.elements
                    .iter()
                    .flatten()
                    .for_each(|v| from_value(v, &mut out));
            }
            for m in &t.maps {
                for (k, v) in &m.elements {
                    k.iter().for_each(|x| from_value(x, &mut out));
                    from_verdict(v, &mut out);
                }
            }
            for r in t.chains.iter().flat_map(|c| &c.rules) {
                r.matches
                    .iter()
                    .for_each(|m| from_value(&m.value, &mut out));
                if let Some(v) = &r.verdict {
                    from_verdict(v, &mut out);
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

fn from_value(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Ifname(n) => out.push(n.to_string()),
        Value::Set(SetRef::Anonymous(items)) => items.iter().for_each(|v| from_value(v, out)),
        _ => {}
    }
}

fn from_verdict(v: &Verdict, out: &mut Vec<String>) {
    if let Verdict::Vmap {
        map: MapRef::Anonymous(elems),
        ..
    } = v
    {
        for (k, v) in elems {
            k.iter().for_each(|x| from_value(x, out));
            from_verdict(v, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::*;

    #[test]
    fn names_come_from_matches_sets_and_maps() {
        let ifv = |n: &str| Value::Ifname(Ifname::new(n).unwrap());
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("t").unwrap(), Ownership::Owned);
        let c = t.add_chain(
            Name::new("c").unwrap(),
            ChainKind::Regular,
            Ownership::Owned,
        );
        let m = t.add_map(Map {
            name: Name::new("m").unwrap(),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![(vec![ifv("vnet1")], Verdict::Jump(c))],
        });
        t.chain_mut(c).rules = vec![
            Rule::new(
                Provenance::Layout("t"),
                vec![Match::eq(Field::IifName, ifv("virbr0"))],
                None,
            ),
            Rule::new(
                Provenance::Layout("t"),
                vec![Match::eq(
                    Field::Oif,
                    Value::Set(SetRef::Anonymous(vec![ifv("virbr1"), ifv("virbr0")])),
                )],
                Some(Verdict::Vmap {
                    key: vec![Field::IifName],
                    map: MapRef::Named(m),
                }),
            ),
        ];
        assert_eq!(rs.interface_names(), ["virbr0", "virbr1", "vnet1"]);
    }
}
