//! Fixes for iptables(-nft) tables: Docker's (`DOCKER-USER`) and plain ones
//! (the blocking base chain itself).
//!
//! The accept rule is rendered by the iptables emitter in command form: an
//! `--insert` (at the head of the chain: before the `RETURN` Docker keeps
//! at the end of `DOCKER-USER`) and its `--delete`. Setup runs `--check`
//! first, so applying twice adds the rule once; teardown deletes while
//! `--check` finds it, so only rules with exactly fwc's matches and marker
//! go.

use emitters::{emit, Direction, Format, Options, Target};
use ir::{ChainKind, Family, Hook, Name, Ownership, Rule, Ruleset};

use super::{accept_rule, by_hand, chain_label, marker, quote, summary, Entry, Part};
use crate::doctor::finding::Manager;

/// The chain Docker leaves to the admin; `FORWARD` jumps to it first.
const DOCKER_USER: &str = "DOCKER-USER";

/// The fix for one blocked flow in an iptables table.
pub(super) fn part(e: &Entry) -> Part {
    let b = e.blocked;
    let (target, bin) = match b.family {
        Family::Ip => (Target::Iptables, "iptables"),
        Family::Ip6 => (Target::Ip6tables, "ip6tables"),
        other => {
            return by_hand(
                e,
                format!("iptables has no {other} tables; allow the flow in that table by hand"),
                None,
            )
        }
    };
    // DOCKER-USER is on the forward path only.
    let chain = if b.manager == Manager::Docker && b.hook == Hook::Forward {
        DOCKER_USER
    } else {
        b.base_chain.as_str()
    };
    let rule = match accept_rule(e.flow) {
        Ok(r) => r,
        Err(why) => return by_hand(e, why, None),
    };
    let (Ok(table), Ok(chain_name)) = (Name::new(&b.table), Name::new(chain)) else {
        let example = commands(target, bin, "filter", "CHAIN", &rule)
            .ok()
            .map(|(setup, _)| setup.into_iter().map(|(_, insert)| insert).collect());
        return by_hand(
            e,
            format!(
                "the table or chain name ({}) is not one fwc prints into a shell command; \
                 insert this rule by hand, with CHAIN (and the table) replaced:",
                chain_label(b.family, &b.table, chain)
            ),
            example,
        );
    };
    let (setup, teardown) = match commands(target, bin, table.as_str(), chain_name.as_str(), &rule)
    {
        Ok(c) => c,
        Err(why) => return by_hand(e, why, None),
    };
    let label = format!(
        "{}: {}",
        chain_label(b.family, table.as_str(), chain_name.as_str()),
        marker(e.flow)
    );
    let mut part = Part {
        summary: vec![summary(e)],
        rules: setup.len(),
        ..Part::default()
    };
    part.setup.push(quote::comment_line(&label));
    for (check, insert) in &setup {
        part.setup.push(format!("{check} 2>/dev/null || {insert}"));
    }
    part.teardown.push(quote::comment_line(&label));
    for (check, delete) in &teardown {
        part.teardown
            .push(format!("while {check} 2>/dev/null; do {delete}; done"));
    }
    part
}

/// Command lines, each with its `--check` twin: `(check, command)`.
type Checked = Vec<(String, String)>;

/// The `(check, insert)` and `(check, delete)` command lines of `rule` in
/// `table chain`, each check being its command with the verb replaced by
/// `--check`.
fn commands(
    target: Target,
    bin: &str,
    table: &str,
    chain: &str,
    rule: &Rule,
) -> Result<(Checked, Checked), String> {
    let table = Name::new(table).map_err(|e| e.to_string())?;
    let chain = Name::new(chain).map_err(|e| e.to_string())?;
    let mut rs = Ruleset::default();
    let t = rs.table_mut(
        if target == Target::Iptables {
            Family::Ip
        } else {
            Family::Ip6
        },
        &table,
        Ownership::External,
    );
    // External: the command form only adds rules to it, never creates it,
    // so whether it is a built-in chain does not matter.
    let c = t.add_chain(chain.clone(), ChainKind::Regular, Ownership::External);
    t.chain_mut(c).rules.push(rule.clone());
    let lines = |direction, verb: &str| -> Result<Checked, String> {
        let opts = Options {
            format: Format::Commands,
            direction,
        };
        let a = emit(&rs, target, &opts).map_err(|e| e.to_string())?;
        if let Some(n) = a.notes.first() {
            return Err(n.message.clone());
        }
        let prefix =
            quote::command_line(&[bin, "-w", "--table", table.as_str(), verb, chain.as_str()]);
        let check = quote::command_line(&[
            bin,
            "-w",
            "--table",
            table.as_str(),
            "--check",
            chain.as_str(),
        ]);
        a.text
            .lines()
            .map(|l| match l.strip_prefix(&prefix) {
                Some(rest) if rest.starts_with(' ') => Ok((format!("{check}{rest}"), l.to_owned())),
                _ => Err(format!(
                    "the iptables emitter wrote an unexpected command: {l}"
                )),
            })
            .collect()
    };
    let setup = lines(Direction::Setup, "--insert")?;
    let teardown = lines(Direction::Teardown, "--delete")?;
    if setup.is_empty() {
        return Err("the iptables emitter wrote no rule for the flow".into());
    }
    Ok((setup, teardown))
}
