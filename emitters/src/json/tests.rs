//! The JSON documents in a kernel: they load with `nft -j -f`, loading twice
//! equals once, the result equals what the nft script of the same ruleset
//! installs (but for the provenance comments JSON adds), and teardown
//! restores what was there.

use ir::Ruleset;

use crate::testutil::*;
use crate::{Direction, Format, Target};

fn artifact(rs: &Ruleset, target: Target, direction: Direction) -> String {
    emit_as(rs, target, Format::Script, direction).unwrap().text
}

/// Loads the JSON and the script of `rs` one after the other beside a
/// foreign table; prints the number of commented rules if all went well.
fn compare_with_script(rs: &Ruleset) -> Option<String> {
    let files: Vec<_> = [Target::NftJson, Target::Nft]
        .iter()
        .flat_map(|t| [Direction::Setup, Direction::Teardown].map(|d| artifact(rs, *t, d)))
        .map(|text| temp_file(&text))
        .collect();
    let p = |i: usize| files[i].path().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let uncomment = r#"sed 's/ comment "[^"]*"$//'"#;
    let sh = format!(
        "set -e; cd {d}; ip link add virbr0 type bridge
         nft add table ip foreign; nft add chain ip foreign c
         nft list ruleset > before
         nft -j -f {js}; nft list ruleset > once
         nft -j -f {js}; nft list ruleset > twice
         cmp once twice || {{ echo NOT IDEMPOTENT; exit 1; }}
         nft -j -f {jt}; nft list ruleset > after
         cmp before after || {{ echo TEARDOWN DIFFERS; exit 1; }}
         nft -f {ss}; nft list ruleset | {uncomment} > by_script; nft -f {st}
         {uncomment} once > by_json
         diff by_script by_json >&2 || {{ echo JSON DIFFERS FROM SCRIPT; exit 1; }}
         grep -c ' comment \"' once",
        d = dir.path().display(),
        js = p(0),
        jt = p(1),
        ss = p(2),
        st = p(3),
    );
    let out = in_netns(&sh, &["nft", "ip"])?;
    assert_succeeded(&out);
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn kernel_every_construct_equals_the_script() {
    let rs = every_construct();
    let rules = rs.rules().count();
    if let Some(commented) = compare_with_script(&rs) {
        assert_eq!(commented, rules.to_string());
    }
}

#[test]
fn kernel_libvirt_layout_equals_the_script() {
    // Both families' tables, iif/oif, masquerade to ports; the checksum
    // rule is left out of both.
    let rs = libvirt_nft_nat_default();
    let rules = rs.rules().count() - 1;
    if let Some(commented) = compare_with_script(&rs) {
        assert_eq!(commented, rules.to_string());
    }
}
