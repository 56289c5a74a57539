//! The command lines of tables built as libvirt's nftables nwfilter driver
//! builds them ([`ir::Commands::Append`]).
//!
//! Each table first gets its objects: the table (with its comment), sets
//! with their elements, verdict maps, the chains no step creates and the
//! rules without a sequence number in them (libvirt's dispatch rules). Then
//! the steps of all such tables run in one sequence: a chain is created
//! (`add chain ... '{ }'`), a rule appended (`nft add rule`, no `-ae`: the
//! driver deletes chains, not rules), a map element replaced (`delete
//! element` then `add element`, which is how the driver swaps an
//! interface's dispatch). Element lists are passed with every value and
//! separator as its own argument (`'{' vnet0 : jump n-vnet0-in '}'`), and
//! rules are spelt as the driver spells them ([`super::spelling`]).

use ir::{ChainKind, Commands, Rule, Spelling, Step, Table};

use super::render;
use super::spelling;
use crate::Note;

/// One command line's argv.
pub(crate) type Argv = Vec<String>;

/// `words` as one command line's argv.
pub(crate) fn argv(words: &[&str]) -> Argv {
    words.iter().map(|w| (*w).to_owned()).collect()
}

/// `nft VERB OBJECT FAMILY TABLE` followed by `rest`: the head of every
/// command on one of `t`'s objects.
pub(crate) fn table_cmd(t: &Table, verb: &str, object: &str, rest: &[&str]) -> Argv {
    let head = ["nft", verb, object, t.family.keyword(), t.name.as_str()];
    argv(&[&head[..], rest].concat())
}

/// The table's spelling and steps, if it is built by appending.
fn appended(t: &Table) -> Option<(Spelling, &[(u32, Step)])> {
    match &t.commands {
        Commands::Append { steps, spelling } => Some((*spelling, steps)),
        Commands::Insert => None,
    }
}

/// Whether the table is built by appending.
pub(crate) fn is_appended(t: &Table) -> bool {
    appended(t).is_some()
}

/// `nft add table F T`, with the table's comment as libvirt writes it.
pub(crate) fn table_argv(t: &Table) -> Argv {
    let mut a = table_cmd(t, "add", "table", &[]);
    if let Some(c) = &t.comment {
        a.push(format!(
            "{{ comment {}; }}",
            crate::quote::nft_string(c.as_str())
        ));
    }
    a
}

/// The specification libvirt gives a chain it creates.
fn chain_spec(kind: &ChainKind) -> String {
    match kind {
        ChainKind::Base {
            hook,
            ty,
            priority,
            policy,
        } => format!(
            "{{ type {} hook {} priority {priority}; policy {};  }}",
            ty.keyword(),
            hook.keyword(),
            policy.keyword()
        ),
        ChainKind::Regular => "{ }".into(),
    }
}

fn chain_argv(t: &Table, c: ir::ChainId) -> Argv {
    let chain = t.chain(c);
    let mut a = table_cmd(t, "add", "chain", &[chain.name.as_str()]);
    a.push(chain_spec(&chain.kind));
    a
}

fn rule_argv(
    t: &Table,
    spelling: Spelling,
    chain: &str,
    r: &Rule,
    out: &mut Vec<Argv>,
    notes: &mut Vec<Note>,
) {
    match spelling::rule_args(t, spelling, r) {
        Ok(args) => {
            let mut a = table_cmd(t, "add", "rule", &[chain]);
            a.extend(args);
            out.push(a);
        }
        Err(message) => notes.push(Note {
            provenance: r.provenance.clone(),
            message: format!("{message}; the rule is left out"),
        }),
    }
}

/// `nft add element F T M '{' KEY : VERDICT '}'` (`with_verdict`), or the
/// `delete element` of the key alone.
fn element_argv(
    t: &Table,
    map: ir::MapId,
    index: usize,
    verb: &str,
    with_verdict: bool,
) -> Result<Argv, String> {
    let m = &t.maps[map.0];
    let (key, verdict) = &m.elements[index];
    let mut a = table_cmd(t, verb, "element", &[m.name.as_str(), "{"]);
    spelling::element_args(t, key, &mut a);
    if with_verdict {
        a.push(":".into());
        spelling::element_verdict_args(t, verdict, &mut a)?;
    }
    a.push("}".into());
    Ok(a)
}

/// The table's objects, before any step.
pub(crate) fn preamble(t: &Table, out: &mut Vec<Argv>, notes: &mut Vec<Note>) {
    let Some((spelling, steps)) = appended(t) else {
        return;
    };
    out.push(table_argv(t));
    for s in &t.sets {
        let flags = if s.interval { " flags interval;" } else { "" };
        let spec = format!("{{ type {};{flags} }}", render::key_type_text(&s.key));
        out.push(table_cmd(t, "add", "set", &[s.name.as_str(), &spec]));
        if !s.elements.is_empty() {
            // libvirt ends every element, the last too, with a comma.
            let mut a = table_cmd(t, "add", "element", &[s.name.as_str(), "{"]);
            for e in &s.elements {
                spelling::element_args(t, e, &mut a);
                a.push(",".into());
            }
            a.push("}".into());
            out.push(a);
        }
    }
    for m in &t.maps {
        let spec = format!("{{ type {}: verdict; }}", render::key_type_text(&m.key));
        out.push(table_cmd(t, "add", "map", &[m.name.as_str(), &spec]));
    }
    let stepped_chain = |c: usize| {
        steps
            .iter()
            .any(|(_, s)| *s == Step::CreateChain(ir::ChainId(c)))
    };
    let early: Vec<usize> = (0..t.chains.len()).filter(|c| !stepped_chain(*c)).collect();
    for &c in &early {
        out.push(chain_argv(t, ir::ChainId(c)));
    }
    for &c in &early {
        let chain = &t.chains[c];
        for r in chain.rules.iter().filter(|r| r.seq.is_none()) {
            rule_argv(t, spelling, chain.name.as_str(), r, out, notes);
        }
    }
    for (mi, m) in t.maps.iter().enumerate() {
        for index in 0..m.elements.len() {
            let replaced = steps.iter().any(|(_, s)| {
                *s == Step::ReplaceElement {
                    map: ir::MapId(mi),
                    index,
                }
            });
            if !replaced {
                match element_argv(t, ir::MapId(mi), index, "add", true) {
                    Ok(a) => out.push(a),
                    Err(message) => notes.push(Note {
                        provenance: ir::Provenance::Layout("a verdict map element"),
                        message,
                    }),
                }
            }
        }
    }
}

/// One thing the sequence does.
enum Event<'t> {
    Chain(ir::ChainId),
    Rule(&'t str, &'t Rule),
    Element(ir::MapId, usize),
}

/// The steps of every appended table, in one sequence.
pub(crate) fn steps(tables: &[Table], out: &mut Vec<Argv>, notes: &mut Vec<Note>) {
    let mut events: Vec<(u32, &Table, Spelling, Event<'_>)> = Vec::new();
    for t in tables {
        let Some((spelling, steps)) = appended(t) else {
            continue;
        };
        for (seq, step) in steps {
            let e = match *step {
                Step::CreateChain(c) => Event::Chain(c),
                Step::ReplaceElement { map, index } => Event::Element(map, index),
            };
            events.push((*seq, t, spelling, e));
        }
        for c in &t.chains {
            for r in &c.rules {
                if let Some(seq) = r.seq {
                    events.push((seq, t, spelling, Event::Rule(c.name.as_str(), r)));
                }
            }
        }
    }
    // Stable: equal sequence numbers keep table and declaration order.
    events.sort_by_key(|(seq, ..)| *seq);
    for (_, t, spelling, e) in events {
        match e {
            Event::Chain(c) => out.push(chain_argv(t, c)),
            Event::Rule(chain, r) => rule_argv(t, spelling, chain, r, out, notes),
            Event::Element(map, index) => {
                let both = element_argv(t, map, index, "delete", false)
                    .and_then(|d| Ok([d, element_argv(t, map, index, "add", true)?]));
                match both {
                    Ok(lines) => out.extend(lines),
                    Err(message) => notes.push(Note {
                        provenance: ir::Provenance::Layout("a verdict map element"),
                        message,
                    }),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use ir::*;

    use crate::testutil::*;
    use crate::{Direction, Format, Target};

    /// The writers' bridge constructs, built as libvirt's nwfilter driver
    /// builds its ethernet table: a port chain created, a rule appended to
    /// it, then the port's verdict-map element replaced.
    fn appended() -> Ruleset {
        let mut rs = crate::nft::bridge_constructs();
        let t = &mut rs.tables[0];
        let chain = regular(t, "n-vnet0-in");
        let map = t.add_map(Map {
            name: name("vmap-oif"),
            key: vec![KeyType::IfIndex],
            interval: false,
            elements: vec![(vec![ifname("vnet0")], Verdict::Jump(chain))],
        });
        let masked = Value::MacMasked {
            addr: "1:2:3:4:5:6".parse().unwrap(),
            mask: "ff:ff:ff:ff:ff:ff".parse().unwrap(),
        };
        t.chain_mut(chain).rules.push(
            Rule::new(
                from("f.xml", 3, "rule"),
                vec![Match::eq(Field::EtherSaddr, masked)],
                None,
            )
            .at_seq(2),
        );
        t.commands = Commands::Append {
            steps: vec![
                (1, Step::CreateChain(chain)),
                (3, Step::ReplaceElement { map, index: 0 }),
            ],
            spelling: Spelling::Ethernet,
        };
        rs
    }

    #[test]
    fn objects_first_then_the_steps_in_sequence() {
        let a = emit_as(&appended(), Target::Nft, Format::Commands, Direction::Setup).unwrap();
        assert!(a.notes.is_empty(), "{:?}", a.notes);
        let lines: Vec<&str> = a.text.lines().collect();
        let t = "bridge fwc_test";
        assert_eq!(
            lines[0],
            format!("nft add table {t} '{{ comment \"a '\\''test'\\'' table\"; }}'")
        );
        assert_eq!(
            lines[1],
            format!("nft add set {t} same-ip-set '{{ type ipv4_addr . ipv4_addr; }}'")
        );
        assert!(lines[2].starts_with(&format!(
            "nft add element {t} same-ip-set '{{' 0.0.0.0 . 0.0.0.0 , 10.0.0.0 . 10.0.0.0 ,"
        )));
        assert!(
            lines[2].ends_with(" 0.0.0.255 . 0.0.0.255 , '}'"),
            "{}",
            lines[2]
        );
        assert_eq!(
            lines[3],
            format!("nft add map {t} vmap-oif '{{ type iface_index: verdict; }}'")
        );
        assert_eq!(
            lines[4],
            format!(
                "nft add chain {t} forward '{{ type filter hook forward priority 0; policy accept;  }}'"
            )
        );
        assert!(
            lines.contains(
                &format!(
            "nft add rule {t} forward ether type 0x8035 @nh,48,16 0x3 @nh,112,24 0x0a000100 \
             @nh,144,48 0x525400aabbcc accept"
        )
                .as_str()
            ),
            "{}",
            a.text
        );
        assert!(
            lines.contains(
                &format!(
                    "nft add rule {t} forward ip protocol 6 th dport 65535 ip saddr 10.0.0.5 \
             tcp flags '&' syn,ack == '{{' syn '}}' continue"
                )
                .as_str()
            ),
            "{}",
            a.text
        );
        let n = lines.len();
        assert_eq!(
            lines[n - 4..],
            [
                format!("nft add chain {t} n-vnet0-in '{{ }}'"),
                format!(
                    "nft add rule {t} n-vnet0-in ether saddr '& ff:ff:ff:ff:ff:ff == 01:02:03:04:05:06' continue"
                ),
                format!("nft delete element {t} vmap-oif '{{' vnet0 '}}'"),
                format!("nft add element {t} vmap-oif '{{' vnet0 : jump n-vnet0-in '}}'"),
            ]
        );
    }
}
