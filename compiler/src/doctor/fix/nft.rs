//! Fixes for foreign nftables tables: an accept rule inserted at the head of
//! the blocking base chain, marked with fwc's comment.
//!
//! The rule is rendered by the nft emitter in command form (`nft -ae insert
//! rule F T C ...`). nft deletes rules only by handle, so teardown lists the
//! chain with handles and deletes each rule whose comment is exactly the
//! flow's marker; setup skips the insert when such a rule is already there,
//! so applying twice adds it once.

use emitters::{emit, Direction, Format, Options, Target};
use ir::{ChainKind, ChainType, Family, Name, Ownership, Rule, Ruleset};

use super::{accept_rule, by_hand, chain_label, marker, quote, summary, Entry, Part};
use crate::doctor::finding::Blocked;

/// The fix for one blocked flow in a foreign nftables table.
pub(super) fn part(e: &Entry) -> Part {
    let b = e.blocked;
    if !matches!(b.family, Family::Ip | Family::Ip6 | Family::Inet) {
        return by_hand(
            e,
            format!(
                "fwc fixes IP flows in ip, ip6 and inet tables, not in a {} table; \
                 allow the flow there by hand",
                b.family
            ),
            None,
        );
    }
    let rule = match accept_rule(e.flow) {
        Ok(r) => r,
        Err(why) => return by_hand(e, why, None),
    };
    let (Ok(table), Ok(chain)) = (Name::new(&b.table), Name::new(&b.base_chain)) else {
        let example = insert(b, "TABLE", "CHAIN", &rule).ok().map(|l| vec![l]);
        return by_hand(
            e,
            format!(
                "the table or chain name ({}) is not one fwc prints into a shell command; \
                 insert this rule by hand, with TABLE and CHAIN replaced:",
                chain_label(b.family, &b.table, &b.base_chain)
            ),
            example,
        );
    };
    let insert = match insert(b, table.as_str(), chain.as_str(), &rule) {
        Ok(l) => l,
        Err(why) => return by_hand(e, why, None),
    };
    let family = b.family.keyword();
    let place = |verb: &[&str]| {
        let mut argv = vec!["nft"];
        argv.extend_from_slice(verb);
        argv.extend([family, table.as_str(), chain.as_str()]);
        quote::command_line(&argv)
    };
    // What nft lists for the rule's comment, found as a fixed string.
    let listed =
        quote::shell(&format!("comment {}", quote::nft_string(&marker(e.flow)))).into_owned();
    let label = format!(
        "{}: {}",
        chain_label(b.family, table.as_str(), chain.as_str()),
        marker(e.flow)
    );
    Part {
        summary: vec![summary(e)],
        setup: vec![
            quote::comment_line(&label),
            format!(
                "{} | grep -qF {listed} || {insert}",
                place(&["list", "chain"])
            ),
        ],
        teardown: vec![
            quote::comment_line(&label),
            format!(
                "for handle in $({} 2>/dev/null | grep -F {listed} | \
                 sed -n 's/.* # handle \\([0-9][0-9]*\\)$/\\1/p'); do {} handle \"$handle\"; done",
                place(&["-a", "list", "chain"]),
                place(&["delete", "rule"]),
            ),
        ],
        rules: 1,
        ..Part::default()
    }
}

/// The emitter's `nft -ae insert rule` line for `rule` in `table chain`.
fn insert(b: &Blocked, table: &str, chain: &str, rule: &Rule) -> Result<String, String> {
    let table = Name::new(table).map_err(|e| e.to_string())?;
    let chain = Name::new(chain).map_err(|e| e.to_string())?;
    let mut rs = Ruleset::default();
    let t = rs.table_mut(b.family, &table, Ownership::External);
    // External: the command form never creates it, so its policy does not
    // matter; the hook and priority are the live chain's.
    let c = t.add_chain(
        chain,
        ChainKind::accepting(b.hook, ChainType::Filter, b.priority),
        Ownership::External,
    );
    t.chain_mut(c).rules.push(rule.clone());
    let opts = Options {
        format: Format::Commands,
        direction: Direction::Setup,
    };
    let a = emit(&rs, Target::Nft, &opts).map_err(|e| e.to_string())?;
    if let Some(n) = a.notes.first() {
        return Err(n.message.clone());
    }
    match a.text.lines().collect::<Vec<_>>()[..] {
        [line] if line.starts_with("nft -ae insert rule ") => Ok(line.to_owned()),
        _ => Err(format!(
            "the nft emitter wrote unexpected commands for the rule:\n{}",
            a.text
        )),
    }
}
