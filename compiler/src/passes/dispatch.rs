//! `dispatch`: split a run of rules keyed by one field into a chain per key,
//! entered through a verdict map (`iifname vmap { "virbr0" : jump
//! guest_output_virbr0, ... }`), so a packet walks its own key's rules
//! instead of everyone's.
//!
//! A rule is keyed by field F when it compares F for equality with one
//! interface, address prefix or MAC, or with an inline set of them (it then
//! goes into the chain of each, since for a packet of that key the set match
//! holds exactly when the key does). A run starting at rule `i` collects the
//! following rules keyed by F whose keys are equal to, or share no packet
//! with, every key so far; each key's rules keep their order in its chain,
//! without the key match. Rules in between that are not keyed by F may stay
//! behind the map only if no later rule of the run can match a packet they
//! match (so moving them after the run changes nothing: a packet meets at
//! most one of the two); typically IPv6 rules among IPv4 ones.
//!
//! Why this keeps behaviour: a packet whose F lies in key K can only match
//! K's rules among the run, and meets them in the same order in K's chain.
//! If none decides, evaluation must continue after the run. With `jump`, the
//! chain returns to the rule after the map, which is where the run ended. A
//! rule that leaves the chain early (`return`, `goto`) would then leave K's
//! chain only, so such runs use `goto`, which is right only when no rule
//! after the run can match a packet of any key: then falling off K's chain
//! and falling off the dispatching chain are the same thing.
//!
//! Among the fields of the run's first rule, the one whose run covers the
//! most rules (and leaves the fewest behind) wins. A run needs two keys and
//! must pay: the lookup plus the longest key's chain must be shorter than
//! the run, and splitting rules over sets must not more than double the
//! rules (a handful of rules over sets of every bridge, as [`super::merge`]
//! makes them, stay as they are). When each key has a single rule and the
//! rules are otherwise equal, a set is better and the run is left to merge.

use std::collections::{HashMap, HashSet};

use ir::{
    ChainId, ChainKind, CmpOp, Field, IpFamily, MapRef, Match, Ownership, Provenance, Rule,
    Ruleset, SetRef, Table, Value, Verdict,
};

use super::analysis::{
    family, has_seq, is_point, matches_conflict, rule_excludes, same_effect, values_disjoint,
};
use super::naming::{value_word, Names};

/// How many rules past the last member a run looks for more.
pub const MAX_GAP: usize = 64;

/// How many rule pairs one run may compare to move rules out of its way;
/// past that the run ends where it is (a bound on pathological chains).
pub const MAX_CHECKS: usize = 1 << 20;

/// Why the optimiser's dispatch maps exist, for their provenance.
const WHY: &str = "dispatch to a chain per key, built by the optimiser";

/// Splits keyed runs into per-key chains in every table.
pub fn run(rs: &mut Ruleset) {
    for table in &mut rs.tables {
        let mut names = Names::chains(table);
        // New chains are appended and visited too: their rules may be keyed
        // by another field.
        let mut ci = 0;
        while ci < table.chains.len() {
            if !has_seq(&table.chains[ci].rules) {
                dispatch_chain(table, ChainId(ci), &mut names);
            }
            ci += 1;
        }
    }
}

/// Whether a field can key a dispatch map.
fn dispatchable(f: Field) -> bool {
    matches!(
        f,
        Field::Iif
            | Field::Oif
            | Field::IifName
            | Field::OifName
            | Field::Saddr(_)
            | Field::Daddr(_)
            | Field::EtherSaddr
            | Field::EtherDaddr
    )
}

/// The position of the rule's key match on `f` and its keys: one value, or
/// each value of an inline set (the rule then belongs to each key's chain).
fn key_of(r: &Rule, f: Field) -> Option<(usize, Vec<&Value>)> {
    let dispatchable = |v: &Value| matches!(v, Value::Ifname(_) | Value::Prefix(_) | Value::Mac(_));
    r.matches.iter().enumerate().find_map(|(i, m)| {
        if m.field != f || m.op != CmpOp::Eq {
            return None;
        }
        let mut keys: Vec<&Value> = match &m.value {
            Value::Set(SetRef::Anonymous(items)) if items.iter().all(dispatchable) => {
                items.iter().collect()
            }
            v if dispatchable(v) => vec![v],
            _ => return None,
        };
        let mut seen = HashSet::with_capacity(keys.len());
        keys.retain(|k| seen.insert(*k));
        Some((i, keys))
    })
}

/// Whether a verdict may leave the chain it runs in other than by falling
/// off its end (a named map may come to hold anything).
fn may_leave(v: &Verdict) -> bool {
    match v {
        Verdict::Return | Verdict::Goto(_) => true,
        Verdict::Vmap {
            map: MapRef::Anonymous(elems),
            ..
        } => elems.iter().any(|(_, v)| may_leave(v)),
        Verdict::Vmap {
            map: MapRef::Named(_),
            ..
        } => true,
        _ => false,
    }
}

/// A run found by [`plan`].
struct Plan {
    field: Field,
    /// Each key with its rules: (index in the chain, position of the key
    /// match). A rule keyed by a set is in several groups.
    groups: Vec<(Value, Vec<(usize, usize)>)>,
    /// How many rules the run takes in.
    members: usize,
    /// Rules in the run's span that are not in it, moved after the map.
    skipped: Vec<usize>,
    /// The last rule of the run.
    last: usize,
    /// Whether the map must `goto` (the run has rules that leave early).
    goto: bool,
}

impl Plan {
    fn score(&self) -> isize {
        self.members as isize - self.skipped.len() as isize
    }

    /// Whether the map shortens the walk through the run (one lookup and
    /// the longest key's rules, against every rule of the run) without
    /// copying set-keyed rules into more than twice as many rules: a few
    /// rules over big sets of bridges are better left as they are.
    fn pays(&self) -> bool {
        let copies: usize = self.groups.iter().map(|(_, g)| g.len()).sum();
        let longest = self.groups.iter().map(|(_, g)| g.len()).max().unwrap_or(0);
        1 + longest < self.members && copies <= 2 * self.members
    }
}

fn dispatch_chain(t: &mut Table, cid: ChainId, names: &mut Names) {
    // Per field, the last rule an attempt that was not carried out looked
    // at: starting again inside that span would find the same or less.
    let mut exhausted: HashMap<Field, usize> = HashMap::new();
    // Each rule's IP family, recomputed when the chain changes.
    let mut fams: Vec<Option<IpFamily>> = Vec::new();
    let mut i = 0;
    while i < t.chains[cid.0].rules.len() {
        let rules = &t.chains[cid.0].rules;
        if fams.len() != rules.len() {
            fams = rules.iter().map(family).collect();
        }
        let mut fields: Vec<Field> = Vec::new();
        for m in &rules[i].matches {
            if dispatchable(m.field) && !fields.contains(&m.field) {
                fields.push(m.field);
            }
        }
        let mut best: Option<Plan> = None;
        for f in fields {
            if exhausted.get(&f).is_some_and(|&end| i <= end) {
                continue;
            }
            match plan(rules, &fams, i, f) {
                Ok(p) => {
                    // Starting again inside this run would find less.
                    exhausted.insert(f, p.last);
                    let better = match &best {
                        Some(b) => p.score() > b.score(),
                        None => true,
                    };
                    if p.score() > 0 && p.pays() && better {
                        best = Some(p);
                    }
                }
                Err(end) => {
                    exhausted.insert(f, end);
                }
            }
        }
        if let Some(p) = best {
            apply(t, cid, i, p, names);
            // The chain changed: indices and families are new.
            fams.clear();
            exhausted.clear();
        }
        i += 1;
    }
}

/// The keys of a run so far, each with its rules.
#[derive(Default)]
struct Keys {
    groups: Vec<(Value, Vec<(usize, usize)>)>,
    by_key: HashMap<Value, usize>,
    /// Groups whose key is a range (a prefix), which may overlap others.
    ranges: Vec<usize>,
}

impl Keys {
    /// Where each of a rule's keys goes: an existing group, or a new one
    /// (`None`); `None` overall if a key overlaps a key without equalling it.
    fn place(&self, keys: &[&Value]) -> Option<Vec<Option<usize>>> {
        let mut out = Vec::with_capacity(keys.len());
        let mut ranges_so_far = false;
        for (n, v) in keys.iter().enumerate() {
            // Distinct single values never overlap (key_of dropped repeats);
            // a range may overlap anything.
            let point = is_point(v);
            if (!point || ranges_so_far) && keys[..n].iter().any(|w| !values_disjoint(w, v)) {
                return None;
            }
            ranges_so_far |= !point;
            match self.by_key.get(*v) {
                Some(&g) => out.push(Some(g)),
                None => {
                    let clash = if is_point(v) {
                        self.ranges
                            .iter()
                            .any(|&g| !values_disjoint(&self.groups[g].0, v))
                    } else {
                        self.groups.iter().any(|(k, _)| !values_disjoint(k, v))
                    };
                    if clash {
                        return None;
                    }
                    out.push(None);
                }
            }
        }
        Some(out)
    }

    fn add(&mut self, j: usize, pos: usize, keys: &[&Value], places: Vec<Option<usize>>) {
        for (v, place) in keys.iter().zip(places) {
            match place {
                Some(g) => self.groups[g].1.push((j, pos)),
                None => {
                    let g = self.groups.len();
                    self.by_key.insert((*v).clone(), g);
                    if !is_point(v) {
                        self.ranges.push(g);
                    }
                    self.groups.push(((*v).clone(), vec![(j, pos)]));
                }
            }
        }
    }
}

/// The run of rules keyed by `f` from rule `i`, or the last rule looked at.
fn plan(rules: &[Rule], fams: &[Option<IpFamily>], i: usize, f: Field) -> Result<Plan, usize> {
    let (pos, first) = key_of(&rules[i], f).ok_or(i)?;
    let mut keys = Keys::default();
    let places = keys.place(&first).ok_or(i)?;
    keys.add(i, pos, &first, places);
    let mut members = 1;
    // Rules left behind so far, by the IP family they are restricted to:
    // a later member must share no packet with them.
    let mut skipped: Vec<usize> = Vec::new();
    let mut skipped_by_family: [Vec<usize>; 3] = Default::default();
    let slot = |fam: Option<IpFamily>| match fam {
        Some(IpFamily::V4) => 0,
        Some(IpFamily::V6) => 1,
        None => 2,
    };
    let mut last = i;
    let mut checks = 0;
    for (j, r) in rules.iter().enumerate().skip(i + 1) {
        if j - last > MAX_GAP {
            break;
        }
        // A run that leaves more behind than it takes in never pays.
        if skipped.len() > members + MAX_GAP || checks > MAX_CHECKS {
            break;
        }
        let joined = key_of(r, f).and_then(|(pos, ks)| {
            let places = keys.place(&ks)?;
            // Rules of the other IP family are disjoint from `r` already.
            let lists: [&[usize]; 2] = match fams[j] {
                Some(_) => [&skipped_by_family[slot(fams[j])], &skipped_by_family[2]],
                None => [&skipped, &[]],
            };
            checks += lists[0].len() + lists[1].len();
            let ok = lists.iter().all(|list| {
                list.iter()
                    .all(|&s| disjoint_families(fams[s], fams[j]) || matches_conflict(&rules[s], r))
            });
            ok.then_some((pos, ks, places))
        });
        match joined {
            Some((pos, ks, places)) => {
                keys.add(j, pos, &ks, places);
                members += 1;
                last = j;
            }
            None => {
                skipped.push(j);
                skipped_by_family[slot(fams[j])].push(j);
            }
        }
    }
    skipped.retain(|&s| s < last);
    let groups = keys.groups;
    if groups.len() < 2 || better_as_set(rules, &groups) {
        return Err(last);
    }
    let goto = groups
        .iter()
        .flat_map(|(_, g)| g)
        .any(|&(j, _)| rules[j].verdict.as_ref().is_some_and(may_leave));
    if goto {
        let after = skipped.iter().copied().chain(last + 1..rules.len());
        let keys: Vec<Match> = groups
            .iter()
            .map(|(k, _)| Match::eq(f, k.clone()))
            .collect();
        let safe = after.map(|a| &rules[a]).all(|r| excludes_all(r, f, &keys));
        if !safe {
            return Err(last);
        }
    }
    Ok(Plan {
        field: f,
        groups,
        members,
        skipped,
        last,
        goto,
    })
}

fn disjoint_families(a: Option<IpFamily>, b: Option<IpFamily>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// Whether no packet of any key matches `r`.
fn excludes_all(r: &Rule, f: Field, keys: &[Match]) -> bool {
    if let (Some(a), Some(b)) = (family(r), f.ip_family()) {
        if a != b {
            return true;
        }
    }
    keys.iter().all(|k| rule_excludes(r, k))
}

/// Whether every key has one rule and the rules are equal but for the key
/// (or are one rule over a set already).
fn better_as_set(rules: &[Rule], groups: &[(Value, Vec<(usize, usize)>)]) -> bool {
    if groups.iter().any(|(_, g)| g.len() != 1) {
        return false;
    }
    let (j0, p0) = groups[0].1[0];
    groups[1..].iter().all(|(_, g)| {
        let (j, p) = g[0];
        j == j0 || same_but_key(&rules[j0], p0, &rules[j], p)
    })
}

/// Whether two rules are equal except for the matches at `pa` and `pb`.
fn same_but_key(a: &Rule, pa: usize, b: &Rule, pb: usize) -> bool {
    fn others(r: &Rule, p: usize) -> impl Iterator<Item = &Match> {
        r.matches
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i != p)
            .map(|(_, m)| m)
    }
    a.matches.len() == b.matches.len() && same_effect(a, b) && others(a, pa).eq(others(b, pb))
}

/// Carries out a plan: per-key chains, the map in place of the run, the
/// rules left behind after it.
fn apply(t: &mut Table, cid: ChainId, i: usize, plan: Plan, names: &mut Names) {
    let base = t.chains[cid.0].name.to_string();
    let mut slots: Vec<Option<Rule>> = std::mem::take(&mut t.chains[cid.0].rules)
        .into_iter()
        .map(Some)
        .collect();
    let mut elements = Vec::with_capacity(plan.groups.len());
    for (key, members) in &plan.groups {
        let name = names.fresh(&[&base, &value_word(key)]);
        let body: Vec<Rule> = members
            .iter()
            .map(|&(j, pos)| {
                let mut r = slots[j].clone().expect("members are in the chain");
                r.matches.remove(pos);
                r
            })
            .collect();
        let id = t.add_chain(name, ChainKind::Regular, Ownership::Owned);
        t.chain_mut(id).rules = body;
        let verdict = if plan.goto {
            Verdict::Goto(id)
        } else {
            Verdict::Jump(id)
        };
        elements.push((vec![key.clone()], verdict));
    }
    for &(j, _) in plan.groups.iter().flat_map(|(_, g)| g) {
        slots[j] = None;
    }
    let map = Rule::new(
        Provenance::Layout(WHY),
        Vec::new(),
        Some(Verdict::Vmap {
            key: vec![plan.field],
            map: MapRef::Anonymous(elements),
        }),
    );
    // Kept before the map, the map, the rules left behind, the rest.
    let len = slots.len();
    let mut rules: Vec<Rule> = slots[..i].iter_mut().filter_map(Option::take).collect();
    rules.push(map);
    rules.extend(plan.skipped.iter().filter_map(|&j| slots[j].take()));
    rules.extend(
        slots[plan.last + 1..len]
            .iter_mut()
            .filter_map(Option::take),
    );
    t.chain_mut(cid).rules = rules;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::passes::analysis::testing::*;
    use ir::{
        ChainType, Family, Hook, L4Proto, Name, Nat, Policy, PortRange, RejectKind, Statement,
    };

    fn rule(m: Vec<Match>, v: Option<Verdict>) -> Rule {
        Rule::new(Provenance::Layout("test"), m, v)
    }

    fn table(hook: Hook, ty: ChainType, rules: Vec<Rule>) -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &Name::new("fwc").unwrap(), Ownership::Owned);
        let c = add_base(t, hook.keyword(), hook, ty, 0, Policy::Accept);
        t.chain_mut(c).rules = rules;
        rs
    }

    fn chain<'a>(rs: &'a Ruleset, name: &str) -> &'a [Rule] {
        let t = &rs.tables[0];
        &t.chain(t.chain_id(name).unwrap()).rules
    }

    /// fwc's guest_output shape: per bridge, accepts by subnet then a reject.
    fn guest_output(bridges: &[(&str, &str)]) -> Vec<Rule> {
        let mut rules = Vec::new();
        for (br, subnet) in bridges {
            rules.push(rule(
                vec![
                    Match::eq(Field::Saddr(IpFamily::V4), net(subnet)),
                    Match::eq(Field::IifName, ifname(br)),
                ],
                Some(Verdict::Accept),
            ));
            rules.push(rule(
                vec![Match::eq(Field::IifName, ifname(br))],
                Some(Verdict::Reject(RejectKind::Default)),
            ));
        }
        rules
    }

    #[test]
    fn per_bridge_rules_get_a_chain_each_behind_a_map() {
        let mut rs = table(
            Hook::Forward,
            ChainType::Filter,
            guest_output(&[("virbr0", "10.0.0.0/24"), ("virbr1", "10.0.1.0/24")]),
        );
        run(&mut rs);
        assert_eq!(ir::validate(&rs), Ok(()));
        let fwd = chain(&rs, "forward");
        assert_eq!(fwd.len(), 1);
        let Some(Verdict::Vmap {
            key,
            map: MapRef::Anonymous(elems),
        }) = &fwd[0].verdict
        else {
            panic!("{fwd:?}")
        };
        assert_eq!(key, &[Field::IifName]);
        assert_eq!(elems.len(), 2);
        assert!(matches!(elems[0].1, Verdict::Jump(_)), "no rule returns");
        let br0 = chain(&rs, "forward_virbr0");
        assert_eq!(br0.len(), 2);
        assert_eq!(br0[0].matches.len(), 1, "the key match is gone");
        assert!(br0[1].matches.is_empty());
    }

    #[test]
    fn returns_use_goto_and_other_families_stay_behind() {
        let s4 = Field::Saddr(IpFamily::V4);
        let s6 = Field::Saddr(IpFamily::V6);
        let masq = Statement::Nat(Nat::Masquerade { ports: None });
        let mut rules = Vec::new();
        for (v4, v6) in [("10.0.0.0/24", "fd00::/64"), ("10.0.1.0/24", "fd01::/64")] {
            rules.push(rule(
                vec![
                    Match::eq(s4, net(v4)),
                    Match::eq(Field::Daddr(IpFamily::V4), net("224.0.0.0/24")),
                ],
                Some(Verdict::Return),
            ));
            rules.push(rule(vec![Match::eq(s4, net(v4))], None).with(masq.clone()));
            rules.push(rule(vec![Match::eq(s6, net(v6))], None).with(masq.clone()));
        }
        let mut rs = table(Hook::Postrouting, ChainType::Nat, rules);
        run(&mut rs);
        assert_eq!(ir::validate(&rs), Ok(()));
        let post = chain(&rs, "postrouting");
        assert_eq!(post.len(), 3, "{}", rs);
        // The IPv4 rules return: goto, since nothing after them sees IPv4.
        let Some(Verdict::Vmap {
            map: MapRef::Anonymous(elems),
            ..
        }) = &post[0].verdict
        else {
            panic!("{rs}")
        };
        assert!(
            elems.iter().all(|(_, v)| matches!(v, Verdict::Goto(_))),
            "{rs}"
        );
        // One rule per IPv6 key, equal but for it: left for a set.
        assert!(post[1..].iter().all(|r| r.matches.len() == 1), "{rs}");
        assert_eq!(chain(&rs, "postrouting_10.0.1.0_24").len(), 2);
    }

    #[test]
    fn a_return_before_rules_that_could_match_keeps_the_run_flat() {
        let rules = vec![
            rule(
                vec![Match::eq(Field::IifName, ifname("a"))],
                Some(Verdict::Return),
            ),
            rule(
                vec![Match::eq(Field::IifName, ifname("b"))],
                Some(Verdict::Return),
            ),
            rule(
                vec![Match::eq(Field::IifName, ifname("a"))],
                Some(Verdict::Drop),
            ),
            rule(
                vec![Match::eq(
                    Field::Dport(L4Proto::Tcp),
                    Value::Ports(PortRange::new(22, 22).unwrap()),
                )],
                Some(Verdict::Accept),
            ),
        ];
        let mut rs = table(Hook::Input, ChainType::Filter, rules.clone());
        run(&mut rs);
        assert_eq!(chain(&rs, "input"), rules.as_slice());
    }

    #[test]
    fn a_rule_keyed_by_a_set_goes_to_each_keys_chain() {
        let mut rules = guest_output(&[("a", "10.0.0.0/24"), ("b", "10.0.1.0/24")]);
        rules.push(rule(
            vec![Match::eq(
                Field::IifName,
                Value::Set(SetRef::Anonymous(vec![ifname("c"), ifname("d")])),
            )],
            Some(Verdict::Drop),
        ));
        let mut rs = table(Hook::Forward, ChainType::Filter, rules);
        run(&mut rs);
        assert_eq!(ir::validate(&rs), Ok(()));
        assert_eq!(chain(&rs, "forward").len(), 1, "{rs}");
        for br in ["c", "d"] {
            let rules = chain(&rs, &format!("forward_{br}"));
            assert_eq!(rules.len(), 1);
            assert!(rules[0].matches.is_empty());
            assert_eq!(rules[0].verdict, Some(Verdict::Drop));
        }
    }

    #[test]
    fn single_equal_rules_are_left_for_a_set() {
        let rules: Vec<_> = ["a", "b", "c"]
            .iter()
            .map(|n| {
                rule(vec![Match::eq(Field::OifName, ifname(n))], None).with(Statement::ChecksumFill)
            })
            .collect();
        let mut rs = table(Hook::Postrouting, ChainType::Filter, rules.clone());
        run(&mut rs);
        assert_eq!(chain(&rs, "postrouting"), rules.as_slice());
    }
}
