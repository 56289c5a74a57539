//! The `nft -j -f` document: setup declares fwc's tables from scratch,
//! teardown deletes them, each as one transaction like the nft script.
//!
//! The document is `{"nftables": [...]}` with one command per line, so
//! that two artifacts diff line by line. Setup resets each table (`add`
//! then `delete`, which works whether or not it existed) and declares it
//! in the order nft expands a table block of a script: the table, its
//! chains, its sets and maps with their elements (map elements may jump to
//! any chain), then the rules. JSON has no comment lines, so each rule's
//! provenance goes into its `comment` (the rule's own comment, when it has
//! one, wins: it is what the nft script puts into the kernel too).

use ir::{ChainKind, Comment, Rule, Ruleset, Table};
use serde_json::{json, Value as Json};

use super::expr;
use crate::nft::model;
use crate::Note;

/// Why a checksum-fill rule is missing from the document.
pub(crate) const CHECKSUM_NOTE: &str = "nft has no checksum-fill statement, so the rule is left \
     out of the JSON; libvirt's `tc ... action csum` companion is available with --target nft \
     --format commands, and --target all writes it as setup.tc.sh";

/// The document around `commands`, one per line.
fn document(commands: &[Json]) -> String {
    let mut out = String::from("{\"nftables\": [\n");
    let metainfo = json!({ "metainfo": { "json_schema_version": 1 } });
    for (i, c) in std::iter::once(&metainfo).chain(commands).enumerate() {
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&c.to_string());
    }
    out.push_str("\n]}\n");
    out
}

fn table_object(t: &Table) -> Json {
    json!({ "table": { "family": t.family.keyword(), "name": t.name.as_str() } })
}

/// `add table` then `delete table`: the table is gone afterwards whether or
/// not it existed, within the same transaction.
fn reset(out: &mut Vec<Json>, t: &Table) {
    out.push(json!({ "add": table_object(t) }));
    out.push(json!({ "delete": table_object(t) }));
}

/// Every table, declared from scratch. Loading the document twice leaves
/// the same ruleset as loading it once.
pub(crate) fn setup(rs: &Ruleset, notes: &mut Vec<Note>) -> String {
    let mut out = Vec::new();
    for t in &rs.tables {
        reset(&mut out, t);
        declare(&mut out, t, notes);
    }
    document(&out)
}

/// Deletes every table setup declares, last first.
pub(crate) fn teardown(rs: &Ruleset) -> String {
    let mut out = Vec::new();
    for t in rs.tables.iter().rev() {
        reset(&mut out, t);
    }
    document(&out)
}

/// `family`, `table` and `name` (or another key for the name) of an object
/// of table `t`.
fn in_table(t: &Table, key: &str, name: &str) -> serde_json::Map<String, Json> {
    let mut o = serde_json::Map::new();
    o.insert("family".into(), json!(t.family.keyword()));
    o.insert("table".into(), json!(t.name.as_str()));
    o.insert(key.into(), json!(name));
    o
}

/// A set's or map's `type`: one name, or a list for a concatenation.
fn key_type(key: &[ir::KeyType]) -> Json {
    let names = model::key_type_names(key);
    if names.len() == 1 {
        json!(names[0])
    } else {
        json!(names)
    }
}

fn declare(out: &mut Vec<Json>, t: &Table, notes: &mut Vec<Note>) {
    let mut table = table_object(t);
    if let Some(c) = &t.comment {
        table["table"]["comment"] = json!(crate::quote::nft_text(c.as_str()));
    }
    out.push(json!({ "add": table }));
    for c in &t.chains {
        let mut o = in_table(t, "name", c.name.as_str());
        if let ChainKind::Base {
            hook,
            ty,
            priority,
            policy,
        } = &c.kind
        {
            o.insert("type".into(), json!(ty.keyword()));
            o.insert("hook".into(), json!(hook.keyword()));
            o.insert("prio".into(), json!(priority));
            o.insert("policy".into(), json!(policy.keyword()));
        }
        out.push(json!({ "add": { "chain": o } }));
    }
    for s in &t.sets {
        let mut o = in_table(t, "name", s.name.as_str());
        o.insert("type".into(), key_type(&s.key));
        if s.interval {
            o.insert("flags".into(), json!(["interval"]));
        }
        if !s.elements.is_empty() {
            let elems: Vec<_> = s.elements.iter().map(|e| expr::element(t, e)).collect();
            o.insert("elem".into(), json!(elems));
        }
        out.push(json!({ "add": { "set": o } }));
    }
    for m in &t.maps {
        let mut o = in_table(t, "name", m.name.as_str());
        o.insert("type".into(), key_type(&m.key));
        o.insert("map".into(), json!("verdict"));
        if m.interval {
            o.insert("flags".into(), json!(["interval"]));
        }
        if !m.elements.is_empty() {
            o.insert("elem".into(), json!(expr::map_elements(t, &m.elements)));
        }
        out.push(json!({ "add": { "map": o } }));
    }
    for c in &t.chains {
        for r in &c.rules {
            if model::has_checksum_fill(r) {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message: CHECKSUM_NOTE.into(),
                });
                continue;
            }
            if let Some(message) = model::inexpressible(t, r) {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message,
                });
                continue;
            }
            let mut o = in_table(t, "chain", c.name.as_str());
            o.insert(
                "comment".into(),
                json!(crate::quote::nft_text(comment(r).as_str())),
            );
            o.insert("expr".into(), json!(expr::rule_exprs(t, r)));
            out.push(json!({ "add": { "rule": o } }));
        }
    }
}

/// The rule's comment, else its provenance made into a comment.
fn comment(r: &Rule) -> Comment {
    r.comment
        .clone()
        .unwrap_or_else(|| Comment::lossy(&r.provenance.to_string()))
}

#[cfg(test)]
mod tests {
    use ir::*;
    use serde_json::{json, Value as Json};

    use crate::testutil::*;
    use crate::{emit, Artifact, Direction, Error, Format, Options, Target};

    fn run(rs: &Ruleset, direction: Direction) -> Result<Artifact, Error> {
        emit_as(rs, Target::NftJson, Format::Script, direction)
    }

    fn parse(text: &str) -> Json {
        serde_json::from_str(text).expect("the document is JSON")
    }

    /// A base chain jumping through a verdict map, a named set and NAT.
    fn small() -> Ruleset {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Inet, &name("fwc"), Ownership::Owned);
        let nets = t.add_set(Set {
            name: name("nets"),
            key: vec![KeyType::Ipv4Addr],
            interval: true,
            elements: vec![vec![net("192.168.122.0/24")]],
        });
        let fwd = drop_forward(t, 0);
        let guest = regular(t, "guest");
        let bridges = t.add_map(Map {
            name: name("bridges"),
            key: vec![KeyType::Ifname],
            interval: false,
            elements: vec![(vec![ifname("virbr0")], Verdict::Jump(guest))],
        });
        let bridge = from("net.xml", 3, "bridge");
        t.chain_mut(fwd).rules = vec![Rule::new(
            bridge,
            vec![],
            Some(Verdict::Vmap {
                key: vec![Field::IifName],
                map: MapRef::Named(bridges),
            }),
        )];
        let mut own = Rule::new(
            from("net.xml", 4, "ip"),
            vec![Match::eq(
                Field::Saddr(IpFamily::V4),
                Value::Set(SetRef::Named(nets)),
            )],
            Some(Verdict::Accept),
        )
        .with(Statement::Counter);
        own.comment = Some(Comment::new("guests").unwrap());
        t.chain_mut(guest).rules = vec![own];
        rs
    }

    #[test]
    fn setup_resets_then_declares_each_table() {
        let a = run(&small(), Direction::Setup).unwrap();
        assert!(a.notes.is_empty());
        let fwc = json!({ "family": "inet", "name": "fwc" });
        let obj = |kind: &str, extra: Json| {
            let mut o = json!({ "family": "inet", "table": "fwc" });
            o.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            json!({ "add": { kind: o } })
        };
        let expected = json!({ "nftables": [
            { "metainfo": { "json_schema_version": 1 } },
            { "add": { "table": fwc } },
            { "delete": { "table": fwc } },
            { "add": { "table": fwc } },
            obj("chain", json!({ "name": "forward", "type": "filter", "hook": "forward", "prio": 0, "policy": "drop" })),
            obj("chain", json!({ "name": "guest" })),
            obj("set", json!({ "name": "nets", "type": "ipv4_addr", "flags": ["interval"],
                "elem": [{ "prefix": { "addr": "192.168.122.0", "len": 24 } }] })),
            obj("map", json!({ "name": "bridges", "type": "ifname", "map": "verdict",
                "elem": [["virbr0", { "jump": { "target": "guest" } }]] })),
            obj("rule", json!({ "chain": "forward", "comment": "net.xml:3:3 <bridge>", "expr": [
                { "vmap": { "key": { "meta": { "key": "iifname" } }, "data": "@bridges" } }
            ] })),
            obj("rule", json!({ "chain": "guest", "comment": "guests", "expr": [
                { "match": { "op": "==", "left": { "payload": { "protocol": "ip", "field": "saddr" } }, "right": "@nets" } },
                { "counter": null },
                { "accept": null }
            ] })),
        ] });
        assert_eq!(parse(&a.text), expected);
        // One command per line, between the document's first and last line.
        let lines: Vec<&str> = a.text.lines().collect();
        assert_eq!(lines.len(), 2 + 10);
        assert_eq!(lines[0], "{\"nftables\": [");
        assert_eq!(lines[lines.len() - 1], "]}");
    }

    #[test]
    fn teardown_resets_each_table_last_first() {
        let mut rs = small();
        rs.table_mut(Family::Ip6, &name("other"), Ownership::Owned);
        let a = run(&rs, Direction::Teardown).unwrap();
        let t = |f: &str, n: &str| json!({ "table": { "family": f, "name": n } });
        assert_eq!(
            parse(&a.text),
            json!({ "nftables": [
                { "metainfo": { "json_schema_version": 1 } },
                { "add": t("ip6", "other") },
                { "delete": t("ip6", "other") },
                { "add": t("inet", "fwc") },
                { "delete": t("inet", "fwc") },
            ] })
        );
    }

    #[test]
    fn empty_ruleset_is_only_the_metainfo() {
        for d in [Direction::Setup, Direction::Teardown] {
            assert_eq!(
                run(&Ruleset::default(), d).unwrap().text,
                "{\"nftables\": [\n{\"metainfo\":{\"json_schema_version\":1}}\n]}\n"
            );
        }
    }

    #[test]
    fn checksum_fill_is_left_out_with_a_note() {
        let a = run(&libvirt_nft_nat_default(), Direction::Setup).unwrap();
        assert_eq!(a.notes.len(), 1);
        assert_eq!(a.notes[0].provenance, from("nat-default.xml", 9, "ip"));
        assert!(a.notes[0].message.contains("--format commands"));
        assert!(!a.text.contains("\"dport\""), "{}", a.text);
    }

    #[test]
    fn hostile_provenance_is_a_plain_comment_of_at_most_128_bytes() {
        let mut rs = Ruleset::default();
        let t = rs.table_mut(Family::Ip, &name("fwc"), Ownership::Owned);
        let c = regular(t, "c");
        let evil = format!("x.xml\"}}]}}\n{}", "y".repeat(200));
        t.chain_mut(c).rules.push(Rule::new(
            from(&evil, 1, "ip"),
            vec![],
            Some(Verdict::Accept),
        ));
        let doc = parse(&run(&rs, Direction::Setup).unwrap().text);
        let comment = doc["nftables"][5]["add"]["rule"]["comment"]
            .as_str()
            .unwrap();
        assert!(comment.starts_with("x.xml_}]}_yyy"), "{comment}");
        assert_eq!(comment.len(), Comment::SAFE_LEN);
    }

    #[test]
    fn commands_and_foreign_objects_are_unsupported() {
        let commands = Options {
            format: Format::Commands,
            direction: Direction::Setup,
        };
        match emit(&small(), Target::NftJson, &commands) {
            Err(Error::Unsupported { target, reason }) => {
                assert_eq!(target, "nft-json");
                assert!(reason.contains("--format script"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        let mut rs = Ruleset::default();
        rs.table_mut(Family::Ip, &name("filter"), Ownership::External);
        match run(&rs, Direction::Setup) {
            Err(Error::Unsupported { target, reason }) => {
                assert_eq!(target, "nft-json");
                assert!(reason.contains("ip filter"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
