//! libvirt's `iptables`/`ip6tables` command lines, one per output line.
//!
//! Tables built by appends (libvirt's nwfilter chains,
//! [`ir::Commands::Append`]) are written by [`crate::appended`] after the
//! others, with libvirt's short options and no `--table filter`.
//!
//! Setup (convention 9): per table, each chain fwc owns is created
//! (`--new-chain`) and immediately entered from its parents by the layout's
//! jumps (`--insert PARENT --jump C`); then every other rule is inserted at
//! the head of its chain in ascending sequence number, and rules without one
//! are appended in chain order. Teardown is libvirt's: the identical argv of
//! every such rule with `--insert`/`--append` replaced by `--delete`, last
//! first. Chains and the layout's jumps stay, as libvirt leaves them.

use std::cmp::Reverse;

use super::model::{Model, XRule, XTable};
use crate::{appended, quote, xtables};

/// One rule command before the verb is chosen.
struct Cmd<'m> {
    table: &'static str,
    chain: &'m str,
    verb: &'static str,
    rule: &'m XRule,
}

fn argv(bin: &str, table: &str, verb: &str, chain: &str, r: &XRule) -> Vec<String> {
    let mut a: Vec<String> = [bin, "-w", "--table", table, verb, chain]
        .iter()
        .map(|w| (*w).to_owned())
        .collect();
    a.extend(r.args.iter().map(|x| x.argv().to_owned()));
    a
}

/// The tables built by inserts, which libvirt's network driver fills.
fn inserted(m: &Model) -> impl Iterator<Item = &XTable> {
    m.tables.iter().filter(|t| t.steps.is_none())
}

/// A table built by appends, for [`appended`].
fn appended_table(t: &XTable, bin: &str) -> appended::Table {
    let mut prefix = vec![bin.to_owned(), "-w".to_owned()];
    if t.name != "filter" {
        prefix.extend(["-t".to_owned(), t.name.to_owned()]);
    }
    xtables::appended_table(t, prefix, |r| xtables::RuleView {
        args: &r.args,
        staged: &r.staged,
        seq: r.seq,
        enters: r.enters.as_deref(),
        input: r.input,
    })
}

/// The commands of the tables built by appends.
fn appended_commands(
    m: &Model,
    bin: &str,
    write: fn(&appended::Table) -> Vec<Vec<String>>,
) -> Vec<Vec<String>> {
    m.tables
        .iter()
        .filter(|t| t.steps.is_some())
        .flat_map(|t| write(&appended_table(t, bin)))
        .collect()
}

/// The rules after chain creation, in the order setup runs them.
fn rule_commands(m: &Model) -> Vec<Cmd<'_>> {
    let mut seqd = Vec::new();
    let mut unseqd = Vec::new();
    for t in inserted(m) {
        for c in &t.chains {
            for (i, r) in c.rules.iter().enumerate() {
                if r.layout_jump.is_some() {
                    continue;
                }
                let cmd = |verb| Cmd {
                    table: t.name,
                    chain: &c.name,
                    verb,
                    rule: r,
                };
                match r.seq {
                    Some(seq) => seqd.push(((seq, r.origin, Reverse(i)), cmd("--insert"))),
                    None => unseqd.push(cmd("--append")),
                }
            }
        }
    }
    // Several iptables rules from one IR rule share its seq; inserting them
    // last first keeps their order.
    seqd.sort_by_key(|(k, _)| *k);
    seqd.into_iter().map(|(_, c)| c).chain(unseqd).collect()
}

fn lines(cmds: impl Iterator<Item = Vec<String>>) -> String {
    cmds.map(|a| quote::command_line(&a) + "\n").collect()
}

/// The setup commands.
pub(crate) fn setup(m: &Model, bin: &str) -> String {
    let mut out = Vec::new();
    for t in inserted(m) {
        for c in t.chains.iter().filter(|c| c.owned) {
            out.push(
                [bin, "-w", "--table", t.name, "--new-chain", &c.name]
                    .iter()
                    .map(|w| (*w).to_owned())
                    .collect(),
            );
            for parent in &t.chains {
                for r in parent.rules.iter().rev() {
                    if r.layout_jump.as_deref() == Some(c.name.as_str()) {
                        out.push(argv(bin, t.name, "--insert", &parent.name, r));
                    }
                }
            }
        }
    }
    out.extend(
        rule_commands(m)
            .iter()
            .map(|c| argv(bin, c.table, c.verb, c.chain, c.rule)),
    );
    out.extend(appended_commands(m, bin, appended::setup));
    lines(out.into_iter())
}

/// The teardown commands.
pub(crate) fn teardown(m: &Model, bin: &str) -> String {
    let mut out: Vec<Vec<String>> = rule_commands(m)
        .iter()
        .rev()
        .map(|c| argv(bin, c.table, "--delete", c.chain, c.rule))
        .collect();
    out.extend(appended_commands(m, bin, appended::teardown));
    lines(out.into_iter())
}

#[cfg(test)]
mod tests {
    use ir::*;

    use crate::testutil::*;
    use crate::{Direction, Format, Target};

    fn commands(rs: &Ruleset, target: Target, direction: Direction) -> crate::Artifact {
        emit_as(rs, target, Format::Commands, direction).unwrap()
    }

    fn base_lines(bin: &str) -> Vec<String> {
        corpus("base.iptables")
            .into_iter()
            .filter(|l| l.starts_with(&format!("{bin} ")))
            .collect()
    }

    #[test]
    fn libvirt_nat_default_reproduces_libvirts_iptables_commands() {
        let a = commands(
            &libvirt_xt_nat_default(),
            Target::Iptables,
            Direction::Setup,
        );
        let mut expected = base_lines("iptables");
        expected.extend(corpus("nat-default-linux.iptables"));
        assert_eq!(a.text, lines(&expected));
        assert!(a.notes.is_empty(), "{:?}", a.notes);
    }

    #[test]
    fn ip6tables_gets_only_the_ip6_tables() {
        let a = commands(
            &libvirt_xt_nat_default(),
            Target::Ip6tables,
            Direction::Setup,
        );
        assert_eq!(a.text, lines(&base_lines("ip6tables")));
    }

    #[test]
    fn teardown_deletes_every_input_rule_last_first() {
        let rs = libvirt_xt_nat_default();
        let a = commands(&rs, Target::Iptables, Direction::Teardown);
        let mut expected: Vec<String> = corpus("nat-default-linux.iptables")
            .iter()
            .map(|l| l.replacen("--insert", "--delete", 1))
            .collect();
        expected.reverse();
        assert_eq!(a.text, lines(&expected));
        // Chains and the layout's jumps stay, as libvirt leaves them.
        assert!(!a.text.contains("--jump LIBVIRT_"));
    }

    #[test]
    fn empty_ruleset_gives_no_commands() {
        for d in [Direction::Setup, Direction::Teardown] {
            assert_eq!(commands(&Ruleset::default(), Target::Iptables, d).text, "");
        }
    }

    /// Setup then teardown in a namespace: libvirt's chains and jumps remain,
    /// every rule is gone.
    #[test]
    fn kernel_runs_setup_and_teardown() {
        let rs = libvirt_xt_nat_default();
        let setup = temp_file(&commands(&rs, Target::Iptables, Direction::Setup).text);
        let teardown = temp_file(&commands(&rs, Target::Iptables, Direction::Teardown).text);
        let sh = format!(
            "set -e; sh -e {s}; iptables-save | grep -c -- '-A LIBVIRT_'; sh -e {t}; \
             iptables-save | grep -c -- '-A LIBVIRT_' || true; iptables -S | grep -c -- '-j LIBVIRT_'",
            s = setup.path().display(),
            t = teardown.path().display()
        );
        let Some(out) = in_netns(&sh, &["iptables", "iptables-save"]) else {
            return;
        };
        assert_succeeded(&out);
        let counts: Vec<_> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(counts, ["19", "0", "5"]);
    }
}
