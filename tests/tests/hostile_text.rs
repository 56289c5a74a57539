//! Free text (rule comments, log prefixes) full of quotes and shell
//! metacharacters — as libvirt's nwfilter comments are — reaches the kernel
//! intact through every target and format, and never runs as a command.

use std::path::Path;

use emitters::{emit, Direction, Format, Options, Target};
use fwc_tests::netns::Netns;
use ir::*;

/// libvirt's own hostile comments (nwfilter-tests/comment.xml), with a
/// command substitution that would leave a file behind if it ever ran.
const CANARY: &str = "/tmp/fwc-hostile-text-canary";
fn hostile() -> String {
    format!("`ls`;${{COLUMNS}};$(touch {CANARY});\"test\";&'3   spaces' \\ $x")
}

fn ruleset(comment: &str, prefix: &str) -> Ruleset {
    let mut rs = Ruleset::default();
    let t = rs.table_mut(Family::Inet, &Name::new("fwc").unwrap(), Ownership::Owned);
    let input = t.add_chain(
        Name::new("input").unwrap(),
        ChainKind::Base {
            hook: Hook::Input,
            ty: ChainType::Filter,
            priority: 0,
            policy: Policy::Accept,
        },
        Ownership::Owned,
    );
    let mut rule = Rule::new(
        Provenance::Layout("hostile text test"),
        vec![
            Match::eq(
                Field::Saddr(IpFamily::V4),
                Value::Prefix("192.0.2.0/24".parse().unwrap()),
            ),
            Match::eq(
                Field::Dport(L4Proto::Tcp),
                Value::Ports(PortRange::new(22, 22).unwrap()),
            ),
        ],
        Some(Verdict::Accept),
    );
    rule.comment = Some(Comment::new(comment).unwrap());
    t.chain_mut(input).rules.push(rule);
    t.chain_mut(input).rules.push(
        Rule::new(
            Provenance::Layout("hostile text test"),
            vec![Match::eq(
                Field::Saddr(IpFamily::V4),
                Value::Prefix("198.51.100.0/24".parse().unwrap()),
            )],
            None,
        )
        .with(Statement::Log {
            prefix: Comment::new(prefix).unwrap(),
        }),
    );
    rs
}

fn artifact(rs: &Ruleset, target: Target, format: Format) -> String {
    emit(
        rs,
        target,
        &Options {
            format,
            direction: Direction::Setup,
        },
    )
    .unwrap_or_else(|e| panic!("{}: {e}", target.name()))
    .text
}

#[test]
fn hostile_comments_reach_the_kernel_intact_and_run_nothing() {
    let Some(_) = Netns::for_test("hostile_comments_reach_the_kernel_intact_and_run_nothing")
    else {
        return;
    };
    let _ = std::fs::remove_file(CANARY);
    let comment = hostile();
    let prefix = "a'b\"c$(d) ";
    let rs = ruleset(&comment, prefix);
    let nft_comment = comment.replace('"', "'");

    // nft script and nft JSON: nft has no escapes, so `"` becomes `'`.
    for target in [Target::Nft, Target::NftJson] {
        let ns = Netns::new();
        let text = artifact(&rs, target, Format::Script);
        match target {
            Target::Nft => ns.nft_load(&text),
            _ => ns.run("nft", &["-j", "-f", "-"], Some(&text)).map(drop),
        }
        .unwrap_or_else(|f| panic!("{}: {f}\n{text}", target.name()));
        let listed = ns.ruleset_text();
        assert!(
            listed.contains(&format!("comment \"{nft_comment}\"")),
            "{}:\n{listed}",
            target.name()
        );
        assert!(
            listed.contains("log prefix \"a'b'c_(d) \""),
            "{}:\n{listed}",
            target.name()
        );
    }

    // nft command lines, run by a shell as libvirt's runner would.
    let ns = Netns::new();
    for line in artifact(&rs, Target::Nft, Format::Commands).lines() {
        ns.sh(line).unwrap_or_else(|f| panic!("{f}"));
    }
    assert!(ns
        .ruleset_text()
        .contains(&format!("comment \"{nft_comment}\"")));

    // iptables-restore input and iptables command lines keep the text exactly.
    for format in [Format::Script, Format::Commands] {
        let ns = Netns::new();
        let text = artifact(&rs, Target::Iptables, format);
        match format {
            Format::Script => ns.xtables_restore(false, &text).map(drop),
            Format::Commands => text.lines().try_for_each(|l| ns.sh(l).map(drop)),
        }
        .unwrap_or_else(|f| panic!("iptables {format:?}: {f}\n{text}"));
        let saved = ns.run("iptables", &["-S"], None).unwrap();
        // `iptables -S` prints the stored text with \\, \" and \' escaped.
        let escaped = comment
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\'', "\\'");
        assert!(
            saved.contains(&format!("--comment \"{escaped}\"")),
            "{format:?}:\n{saved}"
        );
        assert!(
            saved.contains(r#"--log-prefix "a\'b\"c$(d) ""#),
            "{format:?}:\n{saved}"
        );
    }

    assert!(!Path::new(CANARY).exists(), "a comment ran as a command");
}

#[test]
fn comments_longer_than_nft_keeps_are_cut_with_a_note() {
    let long = "x".repeat(200);
    let rs = ruleset(&long, "p");
    for target in [Target::Nft, Target::NftJson] {
        let a = emit(&rs, target, &Options::default()).unwrap();
        assert!(
            a.text.contains(&"x".repeat(128)) && !a.text.contains(&"x".repeat(129)),
            "{}",
            target.name()
        );
        assert_eq!(a.notes.len(), 1, "{}: {:?}", target.name(), a.notes);
        assert!(a.notes[0].message.contains("at most 128 bytes"));
    }
    // iptables keeps 255 bytes: no cut, no note.
    let a = emit(&rs, Target::Iptables, &Options::default()).unwrap();
    assert!(a.text.contains(&long) && a.notes.is_empty());
}
