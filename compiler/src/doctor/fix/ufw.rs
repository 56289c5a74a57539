//! Fixes for UFW: lines for `/etc/ufw/before.rules` (`before6.rules` for
//! IPv6), which the user installs. UFW rebuilds its chains from those files
//! on every reload, so a rule inserted into them would not last.
//!
//! The lines are the iptables emitter's restore form of the accept rule in
//! UFW's `ufw-before-*` chain, spelt with short options as UFW's own files
//! are, with `-A` (the file builds the chain by appending).

use emitters::{emit, Direction, Format, Options, Target};
use ir::{ChainKind, Commands, Family, Hook, IpFamily, Name, Ownership, Ruleset, Spelling};

use super::{accept_rule, marker, summary, Entry, Line, Part};

/// UFW's chain for a hook, in its IPv4 or IPv6 file.
fn chain(hook: Hook, family: IpFamily) -> Option<String> {
    let which = match hook {
        Hook::Input => "input",
        Hook::Forward => "forward",
        Hook::Output => "output",
        _ => return None,
    };
    let prefix = match family {
        IpFamily::V4 => "ufw",
        IpFamily::V6 => "ufw6",
    };
    Some(format!("{prefix}-before-{which}"))
}

/// The file holding UFW's rules for a family.
fn file(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "/etc/ufw/before.rules",
        IpFamily::V6 => "/etc/ufw/before6.rules",
    }
}

/// The `-A CHAIN ...` lines of one flow's accept rule, without a comment
/// match (the file gets a `#` line naming the flow instead).
fn lines(e: &Entry) -> Result<Vec<String>, String> {
    let family = e.flow.family;
    let chain = chain(e.blocked.hook, family).ok_or_else(|| {
        format!(
            "UFW's before rules have no chain on the {} hook",
            e.blocked.hook.keyword()
        )
    })?;
    let mut rule = accept_rule(e.flow)?;
    rule.comment = None;
    let (target, table_family) = match family {
        IpFamily::V4 => (Target::Iptables, Family::Ip),
        IpFamily::V6 => (Target::Ip6tables, Family::Ip6),
    };
    let mut rs = Ruleset::default();
    let t = rs.table_mut(
        table_family,
        &Name::new("filter").expect("a valid name"),
        Ownership::External,
    );
    // Written the way libvirt's nwfilter driver writes its appended
    // tables: short options, as in UFW's files.
    t.commands = Commands::Append {
        steps: Vec::new(),
        spelling: Spelling::Inet,
    };
    let c = t.add_chain(
        Name::new(&chain).expect("UFW's chain names are valid"),
        ChainKind::Regular,
        Ownership::External,
    );
    t.chain_mut(c).rules.push(rule);
    let opts = Options {
        format: Format::Script,
        direction: Direction::Setup,
    };
    let a = emit(&rs, target, &opts).map_err(|e| e.to_string())?;
    if let Some(n) = a.notes.first() {
        return Err(n.message.clone());
    }
    let insert = format!("-I {chain} ");
    let out: Vec<String> = a
        .text
        .lines()
        .filter_map(|l| l.strip_prefix(&insert))
        .map(|rest| format!("-A {chain} {rest}"))
        .collect();
    if out.is_empty() {
        return Err(format!(
            "the iptables emitter wrote no rule for the flow:\n{}",
            a.text
        ));
    }
    Ok(out)
}

/// The instructions for every flow UFW blocks.
pub(super) fn part(entries: &[&Entry]) -> Part {
    let mut part = Part::default();
    let mut unfixable = Vec::new();
    for family in [IpFamily::V4, IpFamily::V6] {
        let mut block = Vec::new();
        for e in entries.iter().filter(|e| e.flow.family == family) {
            part.summary.push(summary(e));
            match lines(e) {
                Ok(ls) => {
                    block.push(Line::Verbatim(format!("# {}", marker(e.flow))));
                    block.extend(ls.into_iter().map(Line::Verbatim));
                    part.left.push(format!(
                        "UFW: add the lines for \"{}\" to {} (see the script's comments)",
                        e.flow.description,
                        file(family)
                    ));
                }
                Err(why) => unfixable.push((e, why)),
            }
        }
        if block.is_empty() {
            continue;
        }
        part.manual.push(Line::Text(format!(
            "UFW rebuilds its chains on every reload, so rules inserted into them would not \
             last. Add these lines (without the leading '# ') to {}, in its *filter section \
             before that section's COMMIT line, then run: ufw reload",
            file(family)
        )));
        part.manual.push(Line::Blank);
        part.manual.extend(block);
        part.manual.push(Line::Blank);
        part.manual.push(Line::Text(format!(
            "To remove them, delete those lines from {} and run ufw reload again.",
            file(family)
        )));
        part.manual.push(Line::Blank);
    }
    for (e, why) in unfixable {
        part.unfixable("UFW", e, &why);
    }
    part
}
