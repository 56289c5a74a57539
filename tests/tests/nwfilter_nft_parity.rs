//! Corpus parity for libvirt's nftables nwfilter driver: `--layout libvirt
//! --target nft --format commands` of each nwfilter test filter, bound to
//! `vnet0` with the variables libvirt's harness sets, prints exactly the
//! commands of `NAME-linux.nftables.args`, preceded by exactly the common
//! commands libvirt's harness strips (the tables with their set, maps, base
//! chains and dispatch rules, and the port's root chains).
//!
//! libvirt's harness resolves a `<filterref>` by loading `NAME.xml` from
//! the test folder; every test filter there is called `tck-testcase`, so
//! the library given to fwc (`--filters`) is a directory holding just the
//! files the filter references, as the harness would load them
//! ([`library_for`]).

use std::path::Path;

use compiler::pipeline::{compile_files_with_filters, load_paths, Options};
use emitters::{Direction, Format, Target};
use fwc_tests::expected::{commands, difference, is_probe};
use fwc_tests::nwfilter::{cases, harness_params, library_for};
use rules::layout::Layout;

const TABLES: [(&str, u32); 2] = [
    ("libvirt_nwfilter_ethernet", 0),
    ("libvirt_nwfilter_inet", 1),
];

/// The commands libvirt's harness strips before comparing: both tables as
/// `nftablesCreateTable` builds them, then the port's root chains.
fn common() -> Vec<String> {
    let mut out = Vec::new();
    for (table, priority) in TABLES {
        let t = format!("bridge {table}");
        out.push(format!(
            "nft add table {t} '{{ comment \"Managed by libvirt for network filters: \
             https://libvirt.org/firewall.html#the-network-filter-driver\"; }}'"
        ));
        if priority == 0 {
            out.push(format!(
                "nft add set {t} same-ip-set '{{ type ipv4_addr . ipv4_addr; }}'"
            ));
            let mut elements = String::new();
            for pos in 0..4 {
                for v in 0..256 {
                    let mut b = [0; 4];
                    b[pos] = v;
                    let a = format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3]);
                    elements.push_str(&format!(" {a} . {a} ,"));
                }
            }
            out.push(format!(
                "nft add element {t} same-ip-set '{{'{elements} '}}'"
            ));
        }
        for map in ["vmap-oif", "vmap-iif"] {
            out.push(format!(
                "nft add map {t} {map} '{{ type iface_index: verdict; }}'"
            ));
        }
        for hook in ["postrouting", "prerouting"] {
            out.push(format!(
                "nft add chain {t} {hook} '{{ type filter hook {hook} priority {priority}; \
                 policy accept;  }}'"
            ));
        }
        out.push(format!("nft add rule {t} postrouting oif vmap @vmap-oif"));
        out.push(format!("nft add rule {t} prerouting iif vmap @vmap-iif"));
    }
    for dir in ["in", "out"] {
        for (table, _) in TABLES {
            out.push(format!(
                "nft add chain bridge {table} n-vnet0-{dir} '{{ }}'"
            ));
        }
    }
    out
}

/// fwc's commands for the test filter `xml` on `vnet0`.
fn actual(xml: &Path) -> Result<Vec<String>, String> {
    let opts = Options {
        target: Target::Nft,
        layout: Layout::Libvirt,
        format: Format::Commands,
        direction: Direction::Setup,
        optimize: false,
        port: Some(ir::Ifname::new("vnet0").expect("a valid name")),
        params: harness_params(),
    };
    let lib = library_for(xml);
    let files = load_paths(&[xml.to_path_buf()]).map_err(describe)?;
    let out = compile_files_with_filters(&files, Some(lib.path()), &opts).map_err(describe)?;
    Ok(out.artifact.text.lines().map(str::to_string).collect())
}

fn describe(diags: Vec<compiler::diagnostics::Diagnostic>) -> String {
    diags
        .iter()
        .map(|d| format!("{}: {}", d.code, d.message))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What fwc must print for a test: the common commands, then the file's.
fn expected(args: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(args).expect("the expected file");
    let mut out = common();
    out.extend(commands(&text).into_iter().filter(|c| !is_probe(c)));
    out
}

#[test]
fn nft_nwfilter_commands_match_libvirt() {
    let cases = cases("-linux.nftables.args");
    assert_eq!(
        cases.len(),
        38,
        "expected libvirt's 38 nftables nwfilter tests"
    );
    let mut failures = Vec::new();
    for (name, xml, args) in &cases {
        let want = expected(args);
        let report = match actual(xml) {
            Ok(got) => difference(&want, &got),
            Err(diags) => Some(format!("compilation failed:\n{diags}")),
        };
        if let Some(report) = report {
            failures.push(format!("=== {name} ===\n{report}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} nwfilter tests differ from libvirt's nftables driver:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_common_part_is_what_libvirt_creates_once() {
    let c = common();
    assert_eq!(c.len(), 9 + 7 + 4);
    assert_eq!(
        c[2].matches(" . ").count(),
        1024,
        "the same-ip-set has 1024 pairs"
    );
    assert!(
        c[2].ends_with("0.0.0.255 . 0.0.0.255 , '}'"),
        "{}",
        &c[2][c[2].len() - 40..]
    );
    assert_eq!(
        c[19],
        "nft add chain bridge libvirt_nwfilter_inet n-vnet0-out '{ }'"
    );
}
