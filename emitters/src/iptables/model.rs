//! The ruleset as iptables sees it: built-in tables holding built-in and
//! user chains, each rule one target at most.
//!
//! Built once per emit from the IR and shared by the restore and command
//! forms. Tables of the emitted family (`ip` or `ip6`) must be iptables' own
//! tables. Tables of family `inet` (fwc's layout) are split: each base chain
//! fwc owns becomes a user chain of the same name, entered by a jump from the
//! built-in chain of its hook; a regular chain goes into every table whose
//! base chains reach it; only rules of the emitted IP family are kept. Rules
//! are rendered by [`super::render`]; what it cannot say becomes a [`Note`].

use std::collections::BTreeSet;

use ir::{
    ChainKind, ChainType, CmpOp, Family, Hook, IpFamily, L4Proto, Nat, Ownership, Policy,
    Provenance, Rule, Ruleset, Table, Value, Verdict,
};

use super::render::{render_rule, Arg, Flavor, Names, Spelling, Style};
use super::unsupported;
use crate::xtables::{self, Placement};
use crate::{Error, Note};

/// The tables iptables has.
const XT_TABLES: [&str; 5] = ["filter", "nat", "mangle", "raw", "security"];

/// One iptables rule: matches and at most one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct XRule {
    /// Everything after `-A CHAIN`.
    pub args: Vec<Arg>,
    /// The IR rule's provenance.
    pub provenance: Provenance,
    /// The IR rule's sequence number.
    pub seq: Option<u32>,
    /// Which IR rule this came from (one IR rule may give several).
    pub origin: usize,
    /// For layout plumbing that enters a chain fwc creates, that chain.
    pub layout_jump: Option<String>,
    /// `args` with the staging names of the chains jumped to
    /// ([`ir::Chain::staging`]), for command lines that build them.
    pub staged: Vec<Arg>,
    /// The chain the rule jumps or goes to, by name.
    pub enters: Option<String>,
    /// Whether the rule comes from an input.
    pub input: bool,
}

/// A chain of an iptables table.
pub(crate) type XChain = xtables::Chain<XRule>;

/// One of iptables' tables.
pub(crate) type XTable = xtables::Table<XRule>;

/// Everything one emit installs in one family.
pub(crate) type Model = xtables::Model<XRule>;

/// Builds the model of the tables `flavor` emits.
pub(crate) fn build(rs: &Ruleset, flavor: Flavor, notes: &mut Vec<Note>) -> Result<Model, Error> {
    let mut b = Builder {
        flavor,
        model: Model::default(),
        notes,
        origin: 0,
    };
    for t in &rs.tables {
        match t.family {
            f if f == flavor.family => b.xt_table(t)?,
            Family::Inet => b.inet_table(t)?,
            _ => {}
        }
    }
    Ok(b.model)
}

struct Builder<'n> {
    flavor: Flavor,
    model: Model,
    notes: &'n mut Vec<Note>,
    /// Counter for [`XRule::origin`].
    origin: usize,
}

/// Where an IR chain lives in iptables.
impl Builder<'_> {
    /// A table of the emitted family: one of iptables' own tables.
    fn xt_table(&mut self, t: &Table) -> Result<(), Error> {
        let name = XT_TABLES
            .iter()
            .find(|n| **n == t.name.as_str())
            .copied()
            .ok_or_else(|| {
                unsupported(format!(
                    "table {} {} is not one of iptables' tables ({})",
                    t.family,
                    t.name,
                    XT_TABLES.join(", ")
                ))
            })?;
        let places = t
            .chains
            .iter()
            .map(|c| Placement {
                tables: vec![name],
                builtin: match (c.ownership, &c.kind) {
                    (Ownership::Owned, ChainKind::Base { hook, .. }) => Some(builtin_name(*hook)),
                    _ => None,
                },
            })
            .collect();
        self.chains(t, places, false)?;
        if let Some(creates) = xtables::chain_creations(t) {
            self.model.table(name).steps = Some(creates);
        }
        Ok(())
    }

    /// A table of family `inet`, split into iptables' tables.
    fn inet_table(&mut self, t: &Table) -> Result<(), Error> {
        if t.ownership == Ownership::External {
            return Err(unsupported(format!(
                "table {} {} belongs to someone else; iptables has no such table",
                t.family, t.name
            )));
        }
        let mut places: Vec<Placement> = Vec::new();
        for c in &t.chains {
            let place = match (&c.kind, c.ownership) {
                (_, Ownership::External) => {
                    return Err(unsupported(format!(
                        "chain {} of table {} {} belongs to someone else; iptables has no \
                         such chain",
                        c.name, t.family, t.name
                    )))
                }
                (
                    ChainKind::Base {
                        hook, ty, priority, ..
                    },
                    _,
                ) => {
                    let (table, builtin) =
                        map_base_chain(*ty, *hook, *priority).ok_or_else(|| {
                            unsupported(format!(
                            "base chain {} of table {} {} ({} hook {} priority {priority}) has \
                             no iptables equivalent",
                            c.name,
                            t.family,
                            t.name,
                            ty.keyword(),
                            hook.keyword()
                        ))
                        })?;
                    Placement {
                        tables: vec![table],
                        builtin: Some(builtin),
                    }
                }
                (ChainKind::Regular, _) => Placement {
                    tables: Vec::new(),
                    builtin: None,
                },
            };
            places.push(place);
        }
        xtables::spread(t, &mut places);
        self.chains(t, places, true)
    }

    /// Declares the chains of `t` where `places` says and fills them.
    fn chains(
        &mut self,
        t: &Table,
        places: Vec<Placement>,
        filter_family: bool,
    ) -> Result<(), Error> {
        let mut entries = Vec::new();
        let style = |names| Style {
            flavor: self.flavor,
            spelling: Spelling::of(t),
            names,
        };
        let (final_names, staging_names) = (style(Names::Final), style(Names::Staging));
        for (c, place) in t.chains.iter().zip(&places) {
            let owned = c.ownership == Ownership::Owned;
            for &table in &place.tables {
                let mut rules = Vec::new();
                for r in &c.rules {
                    if filter_family && !self.rule_in_family(r) {
                        continue;
                    }
                    let origin = self.next_origin();
                    let rendered = render_rule(t, r, final_names)
                        .and_then(|list| Ok((list, render_rule(t, r, staging_names)?)));
                    match rendered {
                        Ok((list, staged)) => {
                            rules.extend(list.into_iter().zip(staged).map(|(args, staged)| XRule {
                                layout_jump: layout_jump(t, r),
                                args,
                                staged,
                                enters: entered(t, r),
                                input: matches!(r.provenance, Provenance::Input(_)),
                                provenance: r.provenance.clone(),
                                seq: r.seq,
                                origin,
                            }))
                        }
                        Err(message) => self.notes.push(Note {
                            provenance: r.provenance.clone(),
                            message,
                        }),
                    }
                }
                if let (
                    Some(_),
                    ChainKind::Base {
                        policy: Policy::Drop,
                        ..
                    },
                ) = (place.builtin, &c.kind)
                {
                    let args = vec![Arg::word("--jump"), Arg::word("DROP")];
                    rules.push(XRule {
                        staged: args.clone(),
                        args,
                        provenance: Provenance::Layout("the base chain's drop policy"),
                        seq: None,
                        origin: self.next_origin(),
                        layout_jump: None,
                        enters: None,
                        input: false,
                    });
                }
                let chain = self
                    .model
                    .chain("iptables", table, c.name.as_str(), owned, None)?;
                chain.rules.extend(rules);
                chain.staging = c.staging.as_ref().map(|s| s.to_string());
                if let (Some(builtin), ChainKind::Base { priority, .. }) = (place.builtin, &c.kind)
                {
                    entries.push((*priority, table, builtin, c.name.to_string()));
                }
            }
        }
        // Base chains on one hook run in priority order; so do their jumps.
        entries.sort_by_key(|e| e.0);
        for (_, table, builtin, name) in entries {
            let origin = self.next_origin();
            let args = vec![Arg::word("--jump"), Arg::Word(name.clone())];
            self.model
                .chain("iptables", table, builtin, false, None)?
                .rules
                .push(XRule {
                    staged: args.clone(),
                    args,
                    provenance: Provenance::Layout("jump from the built-in chain to a base chain"),
                    seq: None,
                    origin,
                    layout_jump: Some(name.clone()),
                    enters: Some(name),
                    input: false,
                });
        }
        Ok(())
    }

    fn next_origin(&mut self) -> usize {
        self.origin += 1;
        self.origin
    }

    /// Whether a rule of an inet table applies to the emitted IP family.
    fn rule_in_family(&self, r: &Rule) -> bool {
        rule_families(r).iter().all(|f| *f == self.flavor.ip)
    }
}

/// The built-in chain of a hook in iptables' own tables.
fn builtin_name(hook: Hook) -> &'static str {
    match hook {
        Hook::Prerouting => "PREROUTING",
        Hook::Input => "INPUT",
        Hook::Forward => "FORWARD",
        Hook::Output => "OUTPUT",
        Hook::Postrouting => "POSTROUTING",
        Hook::Ingress => "INGRESS",
    }
}

/// The iptables table and built-in chain that correspond to an nft base
/// chain. Filter chains before conntrack-dependent NAT (priority <= -150,
/// nft's `mangle`) are mangle chains.
fn map_base_chain(
    ty: ChainType,
    hook: Hook,
    priority: i32,
) -> Option<(&'static str, &'static str)> {
    let chain = builtin_name(hook);
    match (ty, hook) {
        (ChainType::Filter, Hook::Prerouting | Hook::Postrouting) if priority <= -150 => {
            Some(("mangle", chain))
        }
        (ChainType::Filter, Hook::Input | Hook::Forward | Hook::Output) => Some(("filter", chain)),
        (ChainType::Nat, Hook::Prerouting | Hook::Postrouting | Hook::Input | Hook::Output) => {
            Some(("nat", chain))
        }
        (ChainType::Route, Hook::Output) => Some(("mangle", chain)),
        _ => None,
    }
}

/// The IP families a rule is restricted to by what it matches or translates.
fn rule_families(r: &Rule) -> BTreeSet<IpFamily> {
    fn value(v: &Value, out: &mut BTreeSet<IpFamily>) {
        match v {
            Value::Prefix(n) => {
                out.insert(IpFamily::of_net(n));
            }
            Value::Proto(L4Proto::Icmp) => {
                out.insert(IpFamily::V4);
            }
            Value::Proto(L4Proto::Icmpv6) => {
                out.insert(IpFamily::V6);
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    for m in &r.matches {
        if let Some(f) = m.field.ip_family() {
            out.insert(f);
        }
        if m.op == CmpOp::Eq {
            value(&m.value, &mut out);
        }
    }
    if let Some(Verdict::Vmap { key, .. }) = &r.verdict {
        out.extend(key.iter().filter_map(|f| f.ip_family()));
    }
    if let Some(Nat::Snat { addr, .. } | Nat::Dnat { addr, .. }) = r.nat() {
        out.insert(IpFamily::of(&addr.start));
    }
    out
}

/// The chain a rule jumps or goes to, by name.
fn entered(t: &Table, r: &Rule) -> Option<String> {
    match &r.verdict {
        Some(Verdict::Jump(c) | Verdict::Goto(c)) => Some(t.chain(*c).name.to_string()),
        _ => None,
    }
}

/// The owned chain a layout rule jumps to, by name.
fn layout_jump(t: &Table, r: &Rule) -> Option<String> {
    match (&r.provenance, &r.verdict) {
        (Provenance::Layout(_), Some(Verdict::Jump(c)))
            if t.chain(*c).ownership == Ownership::Owned =>
        {
            Some(t.chain(*c).name.to_string())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use ir::*;

    use crate::testutil::*;
    use crate::{emit, Artifact, Direction, Format, Options, Target};

    fn run(rs: &Ruleset, target: Target, format: Format, direction: Direction) -> Artifact {
        emit_as(rs, target, format, direction).unwrap()
    }

    const NET4: &str = "192.168.122.0/24";
    const NET6: &str = "2001:db8:ca2:2::/64";

    /// fwc's own layout in miniature: one inet table with a set, a verdict
    /// map, base chains of three kinds and rules of both families.
    fn inet() -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
        let bridges = t.add_set(Set {
            name: name("bridges"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![vec![ifname("virbr0")], vec![ifname("virbr1")]],
        });
        let fwd = drop_forward(t, 0);
        let guests = regular(t, "from_guests");
        let post = base(t, "postrouting", Hook::Postrouting, ChainType::Nat, 100);
        let masq = regular(t, "masq_eth0");
        let mangle = base(t, "mangle_post", Hook::Postrouting, ChainType::Filter, -150);
        let p = from("net.xml", 2, "network");
        let ct = Value::CtStates(CtStates::RELATED_ESTABLISHED);
        t.chain_mut(fwd).rules = vec![
            Rule::new(
                p.clone(),
                vec![Match::eq(Field::CtState, ct)],
                Some(Verdict::Accept),
            ),
            Rule::new(
                p.clone(),
                vec![Match::eq(
                    Field::IifName,
                    Value::Set(SetRef::Named(bridges)),
                )],
                Some(Verdict::Jump(guests)),
            ),
            Rule::new(
                p.clone(),
                vec![Match::eq(Field::L4Proto, Value::Proto(L4Proto::Icmpv6))],
                Some(Verdict::Accept),
            ),
        ];
        t.chain_mut(guests).rules = vec![
            Rule::new(
                p.clone(),
                vec![Match::eq(Field::Saddr(IpFamily::V4), net(NET4))],
                Some(Verdict::Accept),
            ),
            Rule::new(
                p.clone(),
                vec![Match::eq(Field::Saddr(IpFamily::V6), net(NET6))],
                Some(Verdict::Accept),
            ),
            Rule::new(p.clone(), vec![], Some(Verdict::Drop))
                .with(Statement::Log {
                    prefix: Comment::new("fwc drop: ").unwrap(),
                })
                .with(Statement::Counter),
        ];
        t.chain_mut(post).rules = vec![Rule::new(
            p.clone(),
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::OifName],
                map: MapRef::Anonymous(vec![(vec![ifname("eth0")], Verdict::Jump(masq))]),
            }),
        )];
        t.chain_mut(masq).rules = vec![Rule::new(
            p.clone(),
            vec![Match::eq(Field::Saddr(IpFamily::V4), net(NET4))],
            None,
        )
        .with(Statement::Nat(Nat::Masquerade { ports: None }))];
        t.chain_mut(mangle).rules = vec![Rule::new(
            p,
            vec![
                Match::eq(Field::OifName, ifname("virbr0")),
                Match::eq(Field::Dport(L4Proto::Udp), ports(68, 68)),
            ],
            None,
        )
        .with(Statement::ChecksumFill)];
        rs
    }

    fn rules_only(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn inet_tables_split_into_iptables_tables_per_family() {
        let a = run(&inet(), Target::Iptables, Format::Script, Direction::Setup);
        assert!(a.notes.is_empty(), "{:?}", a.notes);
        assert_eq!(
            rules_only(&a.text),
            [
                "*filter",
                ":forward - [0:0]",
                ":from_guests - [0:0]",
                "-A forward --match conntrack --ctstate ESTABLISHED,RELATED --jump ACCEPT",
                "-A forward --in-interface virbr0 --jump from_guests",
                "-A forward --in-interface virbr1 --jump from_guests",
                "-A forward --jump DROP",
                "-A from_guests --source 192.168.122.0/24 --jump ACCEPT",
                "-A from_guests --jump LOG --log-prefix \"fwc drop: \"",
                "-A from_guests --jump DROP",
                "-I FORWARD --jump forward",
                "COMMIT",
                "*nat",
                ":postrouting - [0:0]",
                ":masq_eth0 - [0:0]",
                "-A postrouting --out-interface eth0 --jump masq_eth0",
                "-A masq_eth0 --source 192.168.122.0/24 --jump MASQUERADE",
                "-I POSTROUTING --jump postrouting",
                "COMMIT",
                "*mangle",
                ":mangle_post - [0:0]",
                "-A mangle_post --out-interface virbr0 --protocol udp --destination-port 68 --jump CHECKSUM --checksum-fill",
                "-I POSTROUTING --jump mangle_post",
                "COMMIT",
            ]
        );
        let a = run(&inet(), Target::Ip6tables, Format::Script, Direction::Setup);
        let six = rules_only(&a.text);
        assert!(six.contains(&"-A forward -p icmpv6 --jump ACCEPT"));
        assert!(six.contains(&"-A from_guests --source 2001:db8:ca2:2::/64 --jump ACCEPT"));
        assert!(!a.text.contains("192.168.122.0/24"));
        assert!(!a.text.contains("--jump MASQUERADE"));
    }

    #[test]
    fn inet_commands_create_chains_then_append() {
        let a = run(
            &inet(),
            Target::Iptables,
            Format::Commands,
            Direction::Setup,
        );
        let got: Vec<&str> = a.text.lines().collect();
        assert_eq!(
            &got[..4],
            [
                "iptables -w --table filter --new-chain forward",
                "iptables -w --table filter --insert FORWARD --jump forward",
                "iptables -w --table filter --new-chain from_guests",
                "iptables -w --table nat --new-chain postrouting",
            ]
        );
        assert_eq!(got.last(), Some(&"iptables -w --table mangle --append mangle_post --out-interface virbr0 --protocol udp --destination-port 68 --jump CHECKSUM --checksum-fill"));
        assert!(got.contains(
            &"iptables -w --table filter --append from_guests --jump LOG --log-prefix 'fwc drop: '"
        ));
        // The drop policy is appended after the chain's rules.
        let drop = got
            .iter()
            .position(|l| *l == "iptables -w --table filter --append forward --jump DROP")
            .unwrap();
        let last_fwd = got
            .iter()
            .rposition(|l| l.contains("--append forward "))
            .unwrap();
        assert_eq!(drop, last_fwd);
    }

    #[test]
    fn tables_iptables_lacks_are_unsupported_for_the_asked_target() {
        let mut rs = Ruleset::default();
        rs.table_mut(Family::Ip6, &name("libvirt_network"), Ownership::Owned);
        match emit(&rs, Target::Ip6tables, &Options::default()) {
            Err(crate::Error::Unsupported { target, reason }) => {
                assert_eq!(target, "ip6tables");
                assert!(reason.contains("ip6 libvirt_network"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // The other family's target does not look at the table.
        assert!(emit(&rs, Target::Iptables, &Options::default()).is_ok());
    }

    /// Both halves of the inet table load, and teardown removes them.
    #[test]
    fn kernel_loads_inet_split_and_tears_it_down() {
        let rs = inet();
        let files: Vec<_> = [Target::Iptables, Target::Ip6tables]
            .iter()
            .flat_map(|t| {
                [Direction::Setup, Direction::Teardown]
                    .map(|d| temp_file(&run(&rs, *t, Format::Script, d).text))
            })
            .collect();
        let p = |i: usize| files[i].path().display().to_string();
        let sh = format!(
            "set -e
             iptables-restore --noflush {}; ip6tables-restore --noflush {}
             iptables -S | grep -c -- '-j from_guests'; ip6tables -S | grep -c -- '-p ipv6-icmp'
             iptables-restore --noflush {}; ip6tables-restore --noflush {}
             iptables-save | grep -c -- '^-A' || true; ip6tables-save | grep -c -- '^-A' || true",
            p(0),
            p(2),
            p(1),
            p(3)
        );
        let Some(out) = in_netns(&sh, &["iptables-restore", "ip6tables-restore"]) else {
            return;
        };
        assert_succeeded(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "2\n1\n0\n0\n");
    }
}
