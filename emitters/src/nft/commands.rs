//! libvirt's `nft` (and `tc`) command lines, one per output line.
//!
//! The order follows libvirt: per table, the table, its sets and maps, then
//! each chain fwc owns right before the layout rules that jump to it; after
//! all tables, every other rule in ascending sequence number, inserted at the
//! head of its chain (`nft -ae insert rule`, `-ae` being how libvirt learns
//! the handle it later deletes by); last, rules without a sequence number,
//! appended in chain order.

use ir::{Field, Ownership, Provenance, Rule, Ruleset, Table, Value, Verdict};

use super::append::{argv, table_cmd, Argv};
use super::render::{self, Token};
use crate::{quote, Note};

/// Whether the rule is layout plumbing into a chain fwc creates, which is
/// inserted right after that chain.
fn layout_jump_target(t: &Table, r: &Rule) -> Option<ir::ChainId> {
    match (&r.provenance, &r.verdict) {
        (Provenance::Layout(_), Some(Verdict::Jump(c)))
            if t.chain(*c).ownership == Ownership::Owned =>
        {
            Some(*c)
        }
        _ => None,
    }
}

/// A rule's command: `nft [-ae] insert|add rule F T C <tokens>`. Layout rules
/// go without `-ae`: libvirt adds them outside its rollback transaction and
/// never removes them.
fn rule_argv(t: &Table, chain: &str, r: &Rule, verb: &str) -> Argv {
    let mut a = vec!["nft".to_owned()];
    if matches!(r.provenance, Provenance::Input(_)) {
        a.push("-ae".into());
    }
    a.extend(
        [verb, "rule", t.family.keyword(), t.name.as_str(), chain]
            .iter()
            .map(|w| (*w).to_owned()),
    );
    a.extend(
        render::rule_tokens(t, r)
            .iter()
            .map(|tok| Token::arg(tok).to_owned()),
    );
    a
}

/// libvirt's replacement for a checksum-fill rule: an htb root qdisc on the
/// output device and a u32 filter whose action fills in the checksum. A rule
/// the optimiser merged over several bridges (`oifname { a, b }` or a named
/// set) gets one pair per device, in the set's order.
fn tc_companion(t: &Table, r: &Rule) -> Result<Vec<Argv>, String> {
    let devices = r
        .matches
        .iter()
        .find_map(|m| match (&m.field, m.op, &m.value) {
            (Field::Oif | Field::OifName, ir::CmpOp::Eq, v) => ifnames(t, v),
            _ => None,
        });
    let port = r
        .matches
        .iter()
        .find_map(|m| match (&m.field, m.op, &m.value) {
            (
                Field::Dport(p @ (ir::L4Proto::Udp | ir::L4Proto::Tcp)),
                ir::CmpOp::Eq,
                Value::Ports(pr),
            ) if pr.start == pr.end => Some((*p, pr.start)),
            _ => None,
        });
    let (Some(devices), Some((proto, port))) = (devices, port) else {
        return Err(
            "tc can only fill checksums for a rule with output interfaces given by name and \
             one udp or tcp destination port; the rule is left out"
                .into(),
        );
    };
    if !matches!(t.family, ir::Family::Ip | ir::Family::Inet) {
        return Err(format!(
            "libvirt's tc checksum companion handles IPv4 only, not table family {}; the rule \
             is left out",
            t.family
        ));
    }
    let port = port.to_string();
    let mut lines = Vec::with_capacity(2 * devices.len());
    for dev in &devices {
        lines.push(argv(&[
            "tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb", "default", "2",
        ]));
        lines.push(argv(&[
            "tc",
            "filter",
            "add",
            "dev",
            dev,
            "prio",
            "2",
            "protocol",
            "ip",
            "parent",
            "1:",
            "u32",
            "match",
            "ip",
            "dport",
            &port,
            "ffff",
            "action",
            "csum",
            "ip",
            "and",
            proto.name(),
        ]));
    }
    Ok(lines)
}

/// The interface names an output-interface match value stands for: one
/// name, or every element of an anonymous or named set of names.
fn ifnames(t: &Table, v: &Value) -> Option<Vec<String>> {
    let name = |e: &Value| match e {
        Value::Ifname(n) => Some(n.to_string()),
        _ => None,
    };
    let names: Option<Vec<String>> = match v {
        Value::Ifname(n) => return Some(vec![n.to_string()]),
        Value::Set(ir::SetRef::Anonymous(values)) => values.iter().map(name).collect(),
        Value::Set(ir::SetRef::Named(id)) => t
            .sets
            .get(id.0)?
            .elements
            .iter()
            .map(|key| match key.as_slice() {
                [single] => name(single),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    names.filter(|n| !n.is_empty())
}

/// Adds the commands for one rule (tc lines for a checksum fill).
fn push_rule(
    out: &mut Vec<Argv>,
    notes: &mut Vec<Note>,
    t: &Table,
    chain: &str,
    r: &Rule,
    verb: &str,
) {
    if let Some(message) = super::model::inexpressible(t, r) {
        notes.push(Note {
            provenance: r.provenance.clone(),
            message,
        });
        return;
    }
    if !super::model::has_checksum_fill(r) {
        out.push(rule_argv(t, chain, r, verb));
        return;
    }
    match tc_companion(t, r) {
        Ok(lines) => out.extend(lines),
        Err(message) => notes.push(Note {
            provenance: r.provenance.clone(),
            message,
        }),
    }
}

/// Creates a table's objects and the layout jumps into its chains.
fn create(out: &mut Vec<Argv>, t: &Table) {
    if t.ownership == Ownership::Owned {
        out.push(super::append::table_argv(t));
    }
    for s in &t.sets {
        let flags = if s.interval { " flags interval;" } else { "" };
        let spec = format!("{{ type {};{flags} }}", render::key_type_text(&s.key));
        out.push(table_cmd(t, "add", "set", &[s.name.as_str(), &spec]));
        if !s.elements.is_empty() {
            let elems = format!("{{ {} }}", render::set_elements(t, &s.elements));
            out.push(table_cmd(t, "add", "element", &[s.name.as_str(), &elems]));
        }
    }
    for m in &t.maps {
        let flags = if m.interval { " flags interval;" } else { "" };
        let spec = format!(
            "{{ type {} : verdict;{flags} }}",
            render::key_type_text(&m.key)
        );
        out.push(table_cmd(t, "add", "map", &[m.name.as_str(), &spec]));
    }
    for (ci, c) in t.chains.iter().enumerate() {
        if c.ownership != Ownership::Owned {
            continue;
        }
        let mut a = table_cmd(t, "add", "chain", &[c.name.as_str()]);
        if let Some(spec) = render::chain_spec(&c.kind) {
            a.push(format!("{{ {spec} }}"));
        }
        out.push(a);
        for parent in &t.chains {
            // Inserted last-first so that they end up in Chain.rules order.
            for r in parent.rules.iter().rev() {
                if layout_jump_target(t, r) == Some(ir::ChainId(ci)) {
                    out.push(rule_argv(t, parent.name.as_str(), r, "insert"));
                }
            }
        }
    }
    // Map elements may jump to any chain, so they come once all exist.
    for m in &t.maps {
        if !m.elements.is_empty() {
            let elems = format!("{{ {} }}", render::map_elements(t, &m.elements));
            out.push(table_cmd(t, "add", "element", &[m.name.as_str(), &elems]));
        }
    }
}

/// The setup commands, one per line: tables built by inserting (libvirt's
/// network driver) as described above, then those built by appending
/// (libvirt's nwfilter driver, [`super::append`]).
pub(crate) fn setup(rs: &Ruleset, notes: &mut Vec<Note>) -> String {
    let mut out = Vec::new();
    let inserted = || rs.tables.iter().filter(|t| !super::append::is_appended(t));
    for t in inserted() {
        create(&mut out, t);
    }
    let rest = inserted().flat_map(|t| {
        t.chains.iter().flat_map(move |c| {
            c.rules
                .iter()
                .filter(move |r| layout_jump_target(t, r).is_none())
                .map(move |r| (t, c, r))
        })
    });
    let (mut seqd, unseqd): (Vec<_>, Vec<_>) = rest.partition(|(_, _, r)| r.seq.is_some());
    // Stable: equal sequence numbers keep declaration order.
    seqd.sort_by_key(|(_, _, r)| r.seq);
    for (t, c, r) in seqd {
        push_rule(&mut out, notes, t, c.name.as_str(), r, "insert");
    }
    for (t, c, r) in unseqd {
        push_rule(&mut out, notes, t, c.name.as_str(), r, "add");
    }
    for t in &rs.tables {
        super::append::preamble(t, &mut out, notes);
    }
    super::append::steps(&rs.tables, &mut out, notes);
    out.iter().map(|a| quote::command_line(a) + "\n").collect()
}

#[cfg(test)]
mod tests {
    use ir::*;

    use crate::testutil::*;
    use crate::{Direction, Error, Format, Target};

    fn commands(rs: &Ruleset) -> crate::Artifact {
        emit_as(rs, Target::Nft, Format::Commands, Direction::Setup).unwrap()
    }

    #[test]
    fn libvirt_nat_default_reproduces_libvirts_commands() {
        let a = commands(&libvirt_nft_nat_default());
        let mut expected = corpus("base.nftables");
        expected.extend(corpus("nat-default-linux.nftables"));
        assert_eq!(a.text, lines(&expected));
        assert!(a.notes.is_empty(), "{:?}", a.notes);
    }

    #[test]
    fn checksum_fill_becomes_the_tc_companion_at_its_seq() {
        let text = commands(&libvirt_nft_nat_default()).text;
        let first_rule = text.lines().position(|l| l.starts_with("nft -ae")).unwrap();
        let got: Vec<&str> = text.lines().collect();
        assert_eq!(
            &got[first_rule - 2..first_rule],
            [
                "tc qdisc add dev virbr0 root handle 1: htb default 2",
                "tc filter add dev virbr0 prio 2 protocol ip parent 1: u32 match ip dport 68 ffff action csum ip and udp",
            ]
        );
    }

    #[test]
    fn checksum_fill_without_device_is_a_note() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("t"), Ownership::Owned);
        let c = base(t, "post", Hook::Postrouting, ChainType::Filter, 0);
        let prov = from("n.xml", 2, "ip");
        t.chain_mut(c).rules.push(
            Rule::new(
                prov.clone(),
                vec![Match::eq(Field::Dport(L4Proto::Udp), ports(68, 68))],
                None,
            )
            .with(Statement::ChecksumFill),
        );
        let a = commands(&rs);
        assert!(!a.text.contains("tc "), "{}", a.text);
        assert_eq!(a.notes.len(), 1);
        assert_eq!(a.notes[0].provenance, prov);
    }

    #[test]
    fn checksum_fill_over_a_set_of_bridges_gets_a_tc_pair_per_bridge() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
        let c = base(t, "post", Hook::Postrouting, ChainType::Filter, 0);
        let bridges = Value::Set(SetRef::Anonymous(vec![ifname("virbr0"), ifname("virbr1")]));
        t.chain_mut(c).rules.push(
            Rule::new(
                from("n.xml", 2, "ip"),
                vec![
                    Match::eq(Field::OifName, bridges),
                    Match::eq(Field::Dport(L4Proto::Udp), ports(68, 68)),
                ],
                None,
            )
            .with(Statement::ChecksumFill),
        );
        let a = commands(&rs);
        let tc: Vec<&str> = a.text.lines().filter(|l| l.starts_with("tc ")).collect();
        let pair = |dev: &str| {
            [
                format!("tc qdisc add dev {dev} root handle 1: htb default 2"),
                format!(
                    "tc filter add dev {dev} prio 2 protocol ip parent 1: u32 match ip dport 68 \
                     ffff action csum ip and udp"
                ),
            ]
        };
        let want: Vec<String> = pair("virbr0").into_iter().chain(pair("virbr1")).collect();
        assert_eq!(tc, want);
        assert!(a.notes.is_empty(), "{:?}", a.notes);
    }

    #[test]
    fn unsequenced_rules_are_appended_after_sequenced_ones() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
        let c = regular(t, "c");
        let p = from("n.xml", 4, "ip");
        t.chain_mut(c).rules.push(Rule::new(
            p.clone(),
            vec![Match::eq(Field::IifName, ifname("a"))],
            Some(Verdict::Accept),
        ));
        t.chain_mut(c)
            .rules
            .push(Rule::new(p.clone(), vec![], Some(Verdict::Drop)).at_seq(7));
        assert_eq!(
            commands(&rs).text,
            "nft add table inet fwc\n\
             nft add chain inet fwc c\n\
             nft -ae insert rule inet fwc c drop\n\
             nft -ae add rule inet fwc c iifname a accept\n"
        );
    }

    #[test]
    fn sets_and_maps_are_created_before_use() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
        let set = t.add_set(Set {
            name: name("nets"),
            key: vec![KeyType::Ipv4Addr],
            interval: true,
            elements: vec![vec![net("10.0.0.0/8")], vec![net("192.168.1.1/32")]],
        });
        let fwd = base(t, "forward", Hook::Forward, ChainType::Filter, 0);
        let per = regular(t, "per_net");
        let map = t.add_map(Map {
            name: name("dispatch"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![(vec![ifname("virbr0")], Verdict::Jump(per))],
        });
        let p = from("n.xml", 4, "ip");
        t.chain_mut(fwd).rules.push(Rule::new(
            p.clone(),
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::IifName],
                map: MapRef::Named(map),
            }),
        ));
        t.chain_mut(per).rules.push(Rule::new(
            p,
            vec![Match::eq(
                Field::Saddr(IpFamily::V4),
                Value::Set(SetRef::Named(set)),
            )],
            Some(Verdict::Accept),
        ));
        assert_eq!(
            commands(&rs).text,
            "nft add table inet fwc\n\
             nft add set inet fwc nets '{ type ipv4_addr; flags interval; }'\n\
             nft add element inet fwc nets '{ 10.0.0.0/8, 192.168.1.1 }'\n\
             nft add map inet fwc dispatch '{ type ifname : verdict; }'\n\
             nft add chain inet fwc forward '{ type filter hook forward priority 0; policy accept; }'\n\
             nft add chain inet fwc per_net\n\
             nft add element inet fwc dispatch '{ \"virbr0\" : jump per_net }'\n\
             nft -ae add rule inet fwc forward iifname vmap @dispatch\n\
             nft -ae add rule inet fwc per_net ip saddr @nets accept\n"
        );
    }

    #[test]
    fn teardown_is_unsupported_and_points_to_the_script() {
        match emit_as(
            &libvirt_nft_nat_default(),
            Target::Nft,
            Format::Commands,
            Direction::Teardown,
        ) {
            Err(Error::Unsupported { target, reason }) => {
                assert_eq!(target, "nft");
                assert!(
                    reason.contains("handle") && reason.contains("--format script"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// libvirt's commands run as a shell script in a namespace with the
    /// bridge they name.
    #[test]
    fn kernel_accepts_the_libvirt_commands() {
        let text = commands(&libvirt_nft_nat_default()).text;
        // htb and act_csum may be missing from a test kernel; tc is libvirt's
        // business, the nft lines are fwc's.
        let nft_only: String = text
            .lines()
            .filter(|l| l.starts_with("nft "))
            .map(|l| format!("{l}\n"))
            .collect();
        let f = temp_file(&nft_only);
        let script = format!(
            "set -e; ip link add virbr0 type bridge; sh -e {} >/dev/null; nft list ruleset",
            f.path().display()
        );
        let Some(out) = in_netns(&script, &["nft", "ip"]) else {
            return;
        };
        let listing = String::from_utf8_lossy(&out.stdout);
        assert_succeeded(&out);
        assert!(
            listing.contains("ip daddr != 192.168.122.0/24 counter packets 0 bytes 0 masquerade"),
            "{listing}"
        );
    }
}
