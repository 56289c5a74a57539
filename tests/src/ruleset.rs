//! Interface names an IR ruleset refers to, so a harness can create them.

use ir::{MapRef, Ruleset, SetRef, Value, Verdict};

/// Every interface name the ruleset matches on, sorted and deduplicated.
pub fn interfaces(rs: &Ruleset) -> Vec<String> {
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
    let mut out = Vec::new();
    for t in &rs.tables {
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
        for c in &t.chains {
            for r in &c.rules {
                r.matches
                    .iter()
                    .for_each(|m| from_value(&m.value, &mut out));
                if let Some(v) = &r.verdict {
                    from_verdict(v, &mut out);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}
