//! The nft target: an `nft -f` script, or the `nft`/`tc` command lines
//! libvirt runs.
//!
//! The script form owns whole tables: setup declares each table after
//! deleting it in the same transaction, so loading it is atomic and
//! idempotent; teardown deletes exactly those tables. The command form
//! reproduces libvirt's incremental commands: for tables its network driver
//! builds ([`ir::Commands::Insert`], convention 9 of the rendering
//! conventions) chains are created, then every rule is inserted in the order
//! of its sequence number; for tables its nwfilter driver builds
//! ([`ir::Commands::Append`]) the objects come first, then chains, appended
//! rules and verdict-map swaps in one sequence (`append`), each rule spelt
//! as that driver spells it (`spelling`).

mod append;
mod commands;
pub(crate) mod model;
pub(crate) mod render;
mod script;
mod spelling;

use ir::{ChainKind, Hook, Ownership, Ruleset, Statement};

use crate::{quote, Artifact, Direction, Error, Format, Note, Options};

/// The target's name in errors.
const TARGET: &str = "nft";

/// Emits a ruleset that [`ir::validate`] accepted.
pub(crate) fn emit(rs: &Ruleset, opts: &Options) -> Result<Artifact, Error> {
    check_device_hooks(rs)?;
    let mut notes = match opts.direction {
        Direction::Setup => long_string_notes(rs),
        Direction::Teardown => Vec::new(),
    };
    let text = match (opts.format, opts.direction) {
        (Format::Script, Direction::Setup) => {
            check_owned(rs)?;
            script::setup(rs, &mut notes)
        }
        (Format::Script, Direction::Teardown) => {
            check_owned(rs)?;
            script::teardown(rs)
        }
        (Format::Commands, Direction::Setup) => commands::setup(rs, &mut notes),
        (Format::Commands, Direction::Teardown) => {
            return Err(unsupported(
                "libvirt removes its nft rules by their handles (printed by `nft -ae` when \
                 they were added, or listed with `nft -a list`), which a static artifact \
                 cannot know; use --format script, whose teardown deletes exactly fwc's \
                 tables",
            ))
        }
    };
    Ok(Artifact { text, notes })
}

fn unsupported(reason: impl Into<String>) -> Error {
    Error::Unsupported {
        target: TARGET,
        reason: reason.into(),
    }
}

/// A script replaces whole tables, so it can only hold objects fwc owns.
pub(crate) fn check_owned(rs: &Ruleset) -> Result<(), Error> {
    for t in &rs.tables {
        if t.ownership == Ownership::External {
            return Err(unsupported(format!(
                "table {} {} belongs to someone else, and an nft script only replaces \
                 tables fwc owns",
                t.family, t.name
            )));
        }
        if let Some(c) = t.chains.iter().find(|c| c.ownership == Ownership::External) {
            return Err(unsupported(format!(
                "chain {} of table {} {} belongs to someone else, and an nft script only \
                 replaces tables fwc owns",
                c.name, t.family, t.name
            )));
        }
    }
    Ok(())
}

/// Notes for comments and log prefixes longer than nft keeps: the artifacts
/// carry them cut to [`quote::NFT_STRING_MAX`] bytes.
pub(crate) fn long_string_notes(rs: &Ruleset) -> Vec<Note> {
    let mut notes = Vec::new();
    for (_, _, r) in rs.rules() {
        let prefixes = r.statements.iter().filter_map(|s| match s {
            Statement::Log { prefix } => Some(("log prefix", prefix)),
            _ => None,
        });
        for (what, text) in r.comment.iter().map(|c| ("comment", c)).chain(prefixes) {
            if what == "log prefix" && text.as_str().contains('$') {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message: "nft reads `$` in a log prefix as a variable; it is written as `_`"
                        .into(),
                });
            }
            if quote::nft_text_is_cut(text.as_str()) {
                notes.push(Note {
                    provenance: r.provenance.clone(),
                    message: format!(
                        "nft keeps at most {} bytes of a {what}; this one ({} bytes) is cut",
                        quote::NFT_STRING_MAX,
                        text.as_str().len()
                    ),
                });
            }
        }
    }
    notes
}

/// nft needs a `device` for ingress chains, which the IR does not carry.
pub(crate) fn check_device_hooks(rs: &Ruleset) -> Result<(), Error> {
    for t in &rs.tables {
        for c in &t.chains {
            if let ChainKind::Base {
                hook: Hook::Ingress,
                ..
            } = c.kind
            {
                return Err(unsupported(format!(
                    "base chain {} of table {} {} hooks ingress, which needs a device the \
                     IR does not name",
                    c.name, t.family, t.name
                )));
            }
        }
    }
    Ok(())
}

/// Bridge-family constructs of the nwfilter layouts, for the writers'
/// tests: masked MACs, STP and RARP fields read raw, TCP flags, a
/// gratuitous-ARP test with its set, header protocols, ports as numbers,
/// bare addresses.
#[cfg(test)]
pub(crate) fn bridge_constructs() -> Ruleset {
    use ir::*;

    use crate::testutil::*;
    let p = || from("f.xml", 2, "rule");
    let int = |a, b| Value::Int(IntRange::new(a, b).unwrap());
    let mac = |s: &str| s.parse::<MacAddr>().unwrap();
    let mut rs = Ruleset::default();
    let t = rs.table_mut(Family::Bridge, &name("fwc_test"), Ownership::Owned);
    t.comment = Some(Comment::new("a \"test\" table").unwrap());
    let mut same = Vec::new();
    for pos in 0..4 {
        for v in [0u8, 10, 255] {
            let mut b = [0u8; 4];
            b[pos] = v;
            let a = Value::Prefix(std::net::IpAddr::from(b).into());
            same.push(vec![a.clone(), a]);
        }
    }
    t.add_set(Set {
        name: name("same-ip-set"),
        key: vec![KeyType::Ipv4Addr, KeyType::Ipv4Addr],
        interval: false,
        elements: same,
    });
    let c = base(t, "forward", Hook::Forward, ChainType::Filter, 0);
    let rarp = Value::Int(IntRange::single(0x8035).written(Notation::Hex { width: 1 }));
    t.chain_mut(c).rules = vec![
        Rule::new(
            p(),
            vec![Match::eq(
                Field::EtherSaddr,
                Value::MacMasked {
                    addr: mac("52:54:00:00:00:00"),
                    mask: mac("ff:ff:ff:00:00:00"),
                },
            )],
            Some(Verdict::Accept),
        ),
        Rule::new(
            p(),
            vec![
                Match::eq(Field::EtherDaddr, Value::Mac(mac("01:80:c2:00:00:00"))),
                Match::eq(Field::Stp(StpField::Type), int(0x12, 0x12)),
                Match::ne(Field::Stp(StpField::RootPriority), int(0x1234, 0x2345)),
                Match::eq(
                    Field::Stp(StpField::RootAddress),
                    Value::MacMasked {
                        addr: mac("06:05:04:03:02:01"),
                        mask: mac("ff:ff:ff:ff:ff:00"),
                    },
                ),
            ],
            Some(Verdict::Return),
        ),
        Rule::new(
            p(),
            vec![
                Match::eq(Field::EtherType, rarp),
                Match::eq(Field::Arp(ArpField::Opcode), int(3, 3)),
                Match::eq(Field::Arp(ArpField::SenderIp), net("10.0.1.0/24")),
                Match::eq(
                    Field::Arp(ArpField::TargetMac),
                    Value::Mac(mac("52:54:00:aa:bb:cc")),
                ),
            ],
            Some(Verdict::Accept),
        ),
        Rule::new(
            p(),
            vec![
                Match::eq(Field::EtherType, int(0x0806, 0x0806)),
                Match::eq(Field::Arp(ArpField::Gratuitous), Value::Bool(true)),
            ],
            Some(Verdict::Accept),
        ),
        Rule::new(
            p(),
            vec![
                Match::eq(Field::IpProto(IpFamily::V4), int(6, 6)),
                Match::eq(Field::Dport(L4Proto::Tcp), int(65535, 65535)),
                Match::eq(
                    Field::Saddr(IpFamily::V4),
                    Value::AddrRange(AddrRange::single("10.0.0.5".parse().unwrap())),
                ),
                Match::eq(
                    Field::TcpFlags,
                    Value::TcpFlags {
                        mask: TcpFlagSet(0x12),
                        set: TcpFlagSet(0x02),
                    },
                ),
            ],
            None,
        ),
        Rule::new(
            p(),
            vec![Match::eq(
                Field::IpProto(IpFamily::V6),
                Value::Proto(L4Proto::Icmpv6),
            )],
            Some(Verdict::Drop),
        ),
    ];
    rs
}

#[cfg(test)]
mod tests {
    use crate::testutil::*;
    use crate::{Direction, Format, Target};

    fn script(target: Target) -> String {
        let a = emit_as(
            &super::bridge_constructs(),
            target,
            Format::Script,
            Direction::Setup,
        )
        .unwrap();
        assert!(a.notes.is_empty(), "{:?}", a.notes);
        a.text
    }

    #[test]
    fn bridge_constructs_in_nft_words() {
        let text = script(Target::Nft);
        for line in [
            "\tcomment \"a 'test' table\"",
            "\t\tether saddr & ff:ff:ff:00:00:00 == 52:54:00:00:00:00 accept",
            "\t\tether daddr 01:80:c2:00:00:00 @nh,48,8 0x12 @nh,64,16 != 0x1234-0x2345 \
             @nh,80,48 & 0xffffffffff00 == 0x60504030201 return",
            "\t\tether type 0x8035 @nh,48,16 0x3 @nh,112,32 & 0xffffff00 == 0xa000100 \
             @nh,144,48 0x525400aabbcc accept",
            "\t\tether type 0x0806 arp saddr ip & 255.0.0.0 . arp daddr ip & 255.0.0.0 @same-ip-set \
             arp saddr ip & 0.255.0.0 . arp daddr ip & 0.255.0.0 @same-ip-set \
             arp saddr ip & 0.0.255.0 . arp daddr ip & 0.0.255.0 @same-ip-set \
             arp saddr ip & 0.0.0.255 . arp daddr ip & 0.0.0.255 @same-ip-set accept",
            "\t\tip protocol 6 tcp dport 65535 ip saddr 10.0.0.5 tcp flags & (syn|ack) == syn",
            "\t\tip6 nexthdr icmpv6 drop",
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line}\nnot in\n{text}");
        }
    }

    /// The script and the JSON document both load, and install the same
    /// rules (the document adds provenance comments to rules; nft 1.0.6
    /// reads no table comment from JSON).
    #[test]
    fn kernel_accepts_bridge_constructs_in_both_forms() {
        let nft = temp_file(&script(Target::Nft));
        let json = temp_file(&script(Target::NftJson));
        let bare = "sed -e 's/ comment \"[^\"]*\"$//' -e '/^\tcomment /d'";
        let sh = format!(
            "set -e; nft -f {n}; nft list ruleset | {bare} > a; nft flush ruleset; \
             nft -j -f {j}; nft list ruleset | {bare} > b; diff a b && grep -c '@nh' a",
            n = nft.path().display(),
            j = json.path().display()
        );
        let dir = tempfile::tempdir().unwrap();
        let sh = format!("cd {}; {sh}", dir.path().display());
        let Some(out) = in_netns(&sh, &["nft"]) else {
            return;
        };
        assert_succeeded(&out);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    }
}
