//! libvirt's nwfilter firewall tests (`nwfilter-tests/`) as fwc runs them,
//! and the pieces the binding suites share: the variables libvirt's
//! harness sets, the library a test's `<filterref>`s resolve in, a library
//! of the stock filters plus a suite's own, `<filterbinding>`s, and which of
//! libvirt's commands may fail.

use std::path::{Path, PathBuf};

use compiler::pipeline::{compile_files_with_filters, load_paths, Options};
use emitters::{Direction, Format, Target};
use rules::layout::Layout;

use crate::corpus;

/// The variables a `<filter>` input starts with: those libvirt's nwfilter
/// tests and stock filters use, so that they resolve instead of stopping at
/// the first undefined variable.
pub const RESOLVING_PARAMS: &[(&str, &str)] = &[
    ("IP", "192.168.122.10"),
    ("IPV6", "fd00::10"),
    ("MAC", "52:54:00:12:34:56"),
    ("DHCPSERVER", "192.168.122.1"),
    ("GATEWAY_MAC", "52:54:00:00:00:01"),
    ("IPSETNAME", "tck_test"),
    ("A", "10.1.1.1"),
    ("A", "10.1.1.2"),
    ("A", "10.1.1.3"),
    ("B", "80"),
    ("B", "90"),
    ("B", "1000"),
    ("C", "1080"),
    ("C", "1090"),
    ("C", "1100"),
    ("C", "1110"),
];

/// Options for `target` with the port and variables filters are bound to
/// (network inputs ignore both).
/// Options that bind `<filter>` inputs to `vnet0` with [`RESOLVING_PARAMS`]
/// (network inputs ignore both): what the fuzz targets and the mutation
/// test compile with.
pub fn bound_options(target: Target, layout: Layout) -> Options {
    Options {
        target,
        layout,
        port: ir::Ifname::new("vnet0").ok(),
        params: RESOLVING_PARAMS
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        ..Options::default()
    }
}

/// The guest's address in the binding suites.
pub const GUEST_IP: &str = "10.0.0.5";
/// The guest's MAC in the binding suites.
pub const GUEST_MAC: &str = "52:54:00:aa:bb:cc";

/// The variables of libvirt's nwfilter firewall harnesses
/// (`testSetDefaultParameters`), as `--param` pairs: a repeated name is a
/// list.
pub fn harness_params() -> Vec<(String, String)> {
    let mut p = vec![("IPSETNAME".to_string(), "tck_test".to_string())];
    let lists: [(&str, [&str; 4]); 3] = [
        ("A", ["1.1.1.1", "2.2.2.2", "3.3.3.3", "3.3.3.3"]),
        ("B", ["80", "90", "80", "80"]),
        ("C", ["1080", "1090", "1100", "1110"]),
    ];
    for (name, values) in lists {
        p.extend(values.iter().map(|v| (name.to_string(), v.to_string())));
    }
    p
}

/// A library directory with the files `xml` references, as libvirt's
/// harness loads them (`FILTER.xml` from the test folder; every test
/// filter there is called `tck-testcase`, so the folder itself is no
/// library). fwc refuses an empty library directory, so it also holds a
/// filter nothing references.
pub fn library_for(xml: &Path) -> tempfile::TempDir {
    let lib = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(
        lib.path().join("fwc-parity-unreferenced.xml"),
        "<filter name='fwc-parity-unreferenced'/>\n",
    )
    .expect("written");
    let text = std::fs::read_to_string(xml).expect("the test filter");
    let dir = xml.parent().expect("a folder");
    for part in text.split("filterref filter='").skip(1) {
        let name = part.split('\'').next().unwrap_or_default();
        let file = dir.join(format!("{name}.xml"));
        if file.is_file() {
            std::fs::copy(&file, lib.path().join(format!("{name}.xml"))).expect("copied");
        }
    }
    lib
}

/// The test filters with an expectation `NAME{suffix}` (`-linux.args`,
/// `-linux.nftables.args`), as (name, filter, expectation), sorted.
pub fn cases(suffix: &str) -> Vec<(String, PathBuf, PathBuf)> {
    let dir = corpus::libvirt().join("nwfilter-tests");
    let mut cases: Vec<_> = corpus::xml_files(&dir)
        .into_iter()
        .filter_map(|xml| {
            let name = xml.file_stem()?.to_str()?.to_string();
            let expected = dir.join(format!("{name}{suffix}"));
            expected.is_file().then_some((name, xml, expected))
        })
        .collect();
    cases.sort();
    cases
}

/// A filter library: libvirt's stock filters plus `extra` filters given as
/// (file name, text), in a temporary directory.
pub fn library_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let lib = tempfile::tempdir().expect("a temporary directory");
    for stock in corpus::xml_files(&corpus::libvirt().join("nwfilter-library")) {
        let name = stock.file_name().expect("a file name");
        std::fs::copy(&stock, lib.path().join(name)).expect("copied");
    }
    for (name, text) in extra {
        std::fs::write(lib.path().join(name), text).expect("written");
    }
    lib
}

/// A `<filterbinding>` of `filter` to `port` with the guest's `mac` and
/// the filter's parameters.
pub fn binding_xml(port: &str, mac: &str, filter: &str, params: &[(&str, &str)]) -> String {
    let params: String = params
        .iter()
        .map(|(n, v)| format!("    <parameter name='{n}' value='{v}'/>\n"))
        .collect();
    format!(
        "<filterbinding>\n  <owner><name>guest</name><uuid>1b7f1a4d-3c9b-4c59-a7a2-5d2e8a5ef001</uuid></owner>\n  \
         <portdev name='{port}'/>\n  <mac address='{mac}'/>\n  <filterref filter='{filter}'>\n{params}  \
         </filterref>\n</filterbinding>\n"
    )
}

/// Compiles the `<filterbinding>` files `bindings` in the libvirt layout
/// against the filter library `filters`: the artifact's text and the
/// ruleset, or the diagnostics.
pub fn compile_bindings(
    bindings: &[PathBuf],
    filters: &Path,
    target: Target,
    format: Format,
    direction: Direction,
) -> Result<(String, ir::Ruleset), String> {
    let opts = Options {
        target,
        layout: Layout::Libvirt,
        format,
        direction,
        optimize: false,
        ..Options::default()
    };
    let describe = |diags: Vec<compiler::diagnostics::Diagnostic>| {
        diags
            .iter()
            .map(|d| format!("{}: {}", d.code, d.message))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let files = load_paths(bindings).map_err(describe)?;
    let out = compile_files_with_filters(&files, Some(filters), &opts).map_err(describe)?;
    Ok((out.artifact.text, out.ruleset))
}

/// Whether a command of libvirt's nwfilter driver may fail: libvirt runs
/// its clean-ups (`-D`, `-F`, `-X`) ignoring errors, and the creation of
/// its shared chains, which exist after the first port.
pub fn may_fail(command: &str) -> bool {
    const SHARED: [&str; 4] = [
        "libvirt-in",
        "libvirt-out",
        "libvirt-in-post",
        "libvirt-host-in",
    ];
    let words: Vec<&str> = command.split(' ').collect();
    match words
        .iter()
        .position(|w| matches!(*w, "-D" | "-F" | "-X" | "-N"))
    {
        Some(i) if words[i] == "-N" => words.get(i + 1).is_some_and(|c| SHARED.contains(c)),
        Some(_) => true,
        None => false,
    }
}

/// A filter that lets a guest be reached on TCP port 22 only (IPv4 and
/// IPv6) and makes it send nothing else that is not an answer, on top of
/// `clean-traffic`: its rules go to iptables and ip6tables as well as
/// ebtables.
pub const SSH_ONLY: &str = "<filter name='fwc-ssh-only' chain='root'>
  <filterref filter='clean-traffic'/>
  <rule action='accept' direction='in' priority='100'>
    <tcp dstportstart='22'/>
  </rule>
  <rule action='accept' direction='in' priority='100'>
    <tcp-ipv6 dstportstart='22'/>
  </rule>
  <rule action='drop' direction='inout' priority='900'>
    <all/>
  </rule>
  <rule action='drop' direction='inout' priority='900'>
    <all-ipv6/>
  </rule>
</filter>
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_ups_and_shared_chains_may_fail_nothing_else() {
        assert!(may_fail("ebtables --concurrent -t nat -F J-vnet0-arp"));
        assert!(may_fail("iptables -w -D FORWARD -j libvirt-in"));
        assert!(may_fail("iptables -w -N libvirt-host-in"));
        assert!(!may_fail("iptables -w -N FJ-vnet0"));
        assert!(!may_fail("iptables -w -A FJ-vnet0 -p all -j DROP"));
        assert!(!may_fail(
            "ebtables --concurrent -t nat -E J-vnet0-arp I-vnet0-arp"
        ));
        assert_eq!(harness_params().len(), 13);
    }
}
