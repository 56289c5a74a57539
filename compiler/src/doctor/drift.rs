//! Drift: fwc's own objects missing or altered on the live host.
//!
//! The live ruleset is compared with fwc's setup as the kernel lists it
//! once loaded (so the kernel's normalisation — dropped protocol
//! dependencies, set notation, iptables-nft's counters — is on both
//! sides): fwc's tables and its own chains in shared tables whole (chain
//! type, hook, priority, policy, rules in order, sets and maps), and its
//! rules in shared chains (iptables' built-in chains) by presence.

use ir::{ChainKind, Family, Ownership, Table};

use super::analyse::{handle_text, match_shared};
use super::compiled::Compiled;
use super::finding::Drift;
use super::live::{key, Live};
use crate::readback::render;

/// Every way `live` differs from fwc's `expected` form, in the order of
/// the compiled tables and chains.
pub fn drift(compiled: &Compiled, live: &Live, expected: &Live) -> Vec<Drift> {
    let mut out = Vec::new();
    for ct in &compiled.readback.ruleset.tables {
        let name = ct.name.as_str();
        let label = format!("{} {name}", ct.family);
        let live_t = live.ruleset().table(ct.family, name);
        let exp_t = expected.ruleset().table(ct.family, name);
        let (Some(lt), Some(et)) = (live_t, exp_t) else {
            if live_t.is_none() {
                let problem = if ct.ownership == Ownership::Owned {
                    "missing: fwc's ruleset is not loaded"
                } else {
                    "missing: fwc's rules in it are not loaded"
                };
                out.push(Drift {
                    object: label,
                    problem: problem.into(),
                });
            }
            continue;
        };
        if ct.ownership == Ownership::Owned {
            owned_table(&label, et, lt, live, expected, &mut out);
            continue;
        }
        for c in &ct.chains {
            let object = format!("{label} {}", c.name);
            let cname = c.name.as_str();
            if lt.chain_id(cname).is_none() {
                out.push(Drift {
                    object,
                    problem: "missing".into(),
                });
                continue;
            }
            if c.ownership == Ownership::Owned {
                if et.chain_id(cname).is_some() {
                    chain(&object, et, lt, cname, live, expected, &mut out);
                }
                continue;
            }
            let (_, missing) = match_shared(live, expected, ct.family, name, cname);
            out.extend(missing.into_iter().map(|text| Drift {
                object: object.clone(),
                problem: format!("rule missing: {text}"),
            }));
        }
    }
    out
}

/// A table fwc owns: every chain, set and map, and nothing else.
fn owned_table(
    label: &str,
    et: &Table,
    lt: &Table,
    live: &Live,
    expected: &Live,
    out: &mut Vec<Drift>,
) {
    for c in &et.chains {
        let object = format!("{label} {}", c.name);
        if lt.chain_id(c.name.as_str()).is_none() {
            out.push(Drift {
                object,
                problem: "missing".into(),
            });
        } else {
            chain(&object, et, lt, c.name.as_str(), live, expected, out);
        }
    }
    for c in &lt.chains {
        if et.chain_id(c.name.as_str()).is_none() {
            out.push(Drift {
                object: format!("{label} {}", c.name),
                problem: "added: fwc does not create this chain".into(),
            });
        }
    }
    let elements = |t: &Table| -> Vec<(String, Vec<String>)> {
        let sets = t.sets.iter().map(|s| {
            let mut e: Vec<String> = s.elements.iter().map(|v| render::element(t, v)).collect();
            e.sort();
            (format!("set {}", s.name), e)
        });
        let maps = t.maps.iter().map(|m| {
            let mut e: Vec<String> = m
                .elements
                .iter()
                .map(|(k, v)| format!("{} : {}", render::element(t, k), render::verdict(t, v)))
                .collect();
            e.sort();
            (format!("map {}", m.name), e)
        });
        sets.chain(maps).collect()
    };
    let live_objects = elements(lt);
    for (what, want) in elements(et) {
        let object = format!("{label} {what}");
        match live_objects.iter().find(|(w, _)| *w == what) {
            None => out.push(Drift {
                object,
                problem: "missing".into(),
            }),
            Some((_, have)) => {
                let missing: Vec<&String> = want.iter().filter(|e| !have.contains(e)).collect();
                let added: Vec<&String> = have.iter().filter(|e| !want.contains(e)).collect();
                for (sign, list) in [("element missing", missing), ("element added", added)] {
                    for e in list {
                        out.push(Drift {
                            object: object.clone(),
                            problem: format!("{sign}: {e}"),
                        });
                    }
                }
            }
        }
    }
}

/// One chain fwc owns: its kind, then its rules.
fn chain(
    object: &str,
    et: &Table,
    lt: &Table,
    name: &str,
    live: &Live,
    expected: &Live,
    out: &mut Vec<Drift>,
) {
    let (Some(ei), Some(li)) = (et.chain_id(name), lt.chain_id(name)) else {
        return;
    };
    let spec = |k: &ChainKind| render::chain_spec(k).unwrap_or_else(|| "a regular chain".into());
    let (ek, lk) = (&et.chain(ei).kind, &lt.chain(li).kind);
    if ek != lk {
        let problem = match (ek, lk) {
            (
                ChainKind::Base {
                    hook: h1,
                    ty: t1,
                    priority: p1,
                    policy: want,
                },
                ChainKind::Base {
                    hook: h2,
                    ty: t2,
                    priority: p2,
                    policy: have,
                },
            ) if (h1, t1, p1) == (h2, t2, p2) => {
                format!("policy is {}, fwc sets {}", have.keyword(), want.keyword())
            }
            _ => format!("is `{}`, fwc makes it `{}`", spec(lk), spec(ek)),
        };
        out.push(Drift {
            object: object.into(),
            problem,
        });
    }
    rules(
        object,
        et.family,
        lt.name.as_str(),
        name,
        live,
        expected,
        out,
    );
}

/// The rules of a chain fwc owns, which must be exactly fwc's, in order.
fn rules(
    object: &str,
    family: Family,
    table: &str,
    chain: &str,
    live: &Live,
    expected: &Live,
    out: &mut Vec<Drift>,
) {
    let want = expected.chain_rules(family, table, chain);
    let have = live.chain_rules(family, table, chain);
    let keys = |rules: &[(usize, &crate::readback::nft_json::ListedRule)]| -> Vec<String> {
        rules.iter().map(|(_, r)| key(&r.text)).collect()
    };
    let (wk, hk) = (keys(&want), keys(&have));
    if wk == hk {
        return;
    }
    let mut taken = vec![false; have.len()];
    let mut missing = Vec::new();
    for (i, k) in wk.iter().enumerate() {
        match (0..have.len()).find(|&j| !taken[j] && hk[j] == *k) {
            Some(j) => taken[j] = true,
            None => missing.push(want[i].1.text.clone()),
        }
    }
    let before = out.len();
    for text in missing {
        out.push(Drift {
            object: object.into(),
            problem: format!("rule missing: {text}"),
        });
    }
    for (j, (_, r)) in have.iter().enumerate() {
        if !taken[j] {
            out.push(Drift {
                object: object.into(),
                problem: format!("rule added{}: {}", handle_text(r.handle), r.text),
            });
        }
    }
    if out.len() == before {
        out.push(Drift {
            object: object.into(),
            problem: "its rules are in another order than fwc's".into(),
        });
    }
}
