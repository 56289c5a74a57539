//! The compilation pipeline: read inputs, parse, lower, validate, optimise, emit.
//!
//! ```
//! use compiler::pipeline::{compile_sources, Options};
//! let xml = "<network><name>default</name><bridge name='virbr0'/>\
//!            <forward/><ip address='192.168.122.1' prefix='24'/></network>";
//! let out = compile_sources(&[("default.xml".into(), xml.into())], &Options::default())
//!     .expect("a valid network compiles");
//! assert!(out.artifact.text.contains("virbr0"));
//!
//! // Errors are diagnostics pointing into the inputs.
//! let bad = xml.replace("virbr0", "virbr0;");
//! let diags = compile_sources(&[("bad.xml".into(), bad)], &Options::default()).unwrap_err();
//! assert_eq!(diags[0].to_string(),
//!     "bad.xml:1:44: error[bad-ifname]: bridge name 'virbr0;' is not a valid interface name");
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;

use emitters::{Artifact, Direction, Format, Note, Target};
use ir::{Provenance, Ruleset};
use rules::layout::{Backend, Layout, LowerError};
use rules::network::Network;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::front::{self, Document};
use crate::passes;
use crate::source::SourceFile;

/// What to compile for and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The target whose artifact is produced.
    pub target: Target,
    /// The layout of tables and chains.
    pub layout: Layout,
    /// Script or command lines.
    pub format: Format,
    /// Setup or teardown.
    pub direction: Direction,
    /// Run the optimiser passes (`-O1`, the default); `-O0` skips them.
    /// The libvirt layout is never optimised: it must stay exactly libvirt's.
    pub optimize: bool,
    /// The interface `<filter>` inputs are bound to (`--port`).
    pub port: Option<ir::Ifname>,
    /// Starting variables of `<filter>` inputs (`--param NAME=VALUE`; a
    /// repeated name makes a list).
    pub params: Vec<(String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            target: Target::Nft,
            layout: Layout::Fwc,
            format: Format::Script,
            direction: Direction::Setup,
            optimize: true,
            port: None,
            params: Vec::new(),
        }
    }
}

/// A successful compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// The emitted text and the target's notes.
    pub artifact: Artifact,
    /// The ruleset the artifact was emitted from (after passes).
    pub ruleset: Ruleset,
    /// Warnings about the inputs (see [`crate::semantic`]); the target's own
    /// notes are in `artifact.notes` (see [`note_diagnostics`]).
    pub warnings: Diagnostics,
}

/// Compiles files and directories; a directory means every `*.xml` in it,
/// sorted by name.
pub fn compile_paths(inputs: &[PathBuf], opts: &Options) -> Result<Output, Diagnostics> {
    let files = load_paths(inputs)?;
    compile_files(&files, opts)
}

/// Compiles in-memory inputs given as `(file name, text)`.
pub fn compile_sources(
    sources: &[(String, String)],
    opts: &Options,
) -> Result<Output, Diagnostics> {
    let files: Vec<_> = sources
        .iter()
        .map(|(name, text)| SourceFile::new(name.as_str(), text.as_str()))
        .collect();
    compile_files(&files, opts)
}

/// Reads the inputs (expanding directories) without compiling them, so a
/// caller can keep the texts to render warnings with [`note_diagnostic`].
/// `-` reads standard input (at most once), named [`STDIN_NAME`].
pub fn load_paths(inputs: &[PathBuf]) -> Result<Vec<Arc<SourceFile>>, Diagnostics> {
    let mut files = Vec::new();
    let mut diags = Vec::new();
    let mut stdin_read = false;
    for input in inputs {
        if input.as_os_str() == "-" {
            if std::mem::replace(&mut stdin_read, true) {
                diags.push(Diagnostic::error(
                    Code::NoInput,
                    "'-' (standard input) is given more than once",
                ));
            } else {
                read_stdin(&mut files, &mut diags);
            }
        } else if input.is_dir() {
            match xml_files_in(input) {
                Ok(paths) if paths.is_empty() => diags.push(Diagnostic::error(
                    Code::NoInput,
                    format!("directory '{}' holds no *.xml files", input.display()),
                )),
                Ok(paths) => {
                    for p in paths {
                        read_into(&p, &mut files, &mut diags);
                    }
                }
                Err(e) => diags.push(Diagnostic::error(
                    Code::Io,
                    format!("cannot read directory '{}': {e}", input.display()),
                )),
            }
        } else {
            read_into(input, &mut files, &mut diags);
        }
    }
    if files.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::error(Code::NoInput, "no input files"));
    }
    if diags.is_empty() {
        Ok(files)
    } else {
        Err(diags)
    }
}

fn xml_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "xml") && path.is_file() {
            paths.push(path);
        }
    }
    paths.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(paths)
}

/// The name diagnostics and provenance give the input read from `-`.
pub const STDIN_NAME: &str = "<stdin>";

fn read_stdin(files: &mut Vec<Arc<SourceFile>>, diags: &mut Diagnostics) {
    use std::io::Read;
    let mut bytes = Vec::new();
    match std::io::stdin().lock().read_to_end(&mut bytes) {
        Err(e) => diags.push(Diagnostic::error(
            Code::Io,
            format!("cannot read standard input: {e}"),
        )),
        Ok(_) => match decode(STDIN_NAME.to_owned(), bytes) {
            Ok(file) => files.push(file),
            Err(d) => diags.push(*d),
        },
    }
}

fn read_into(path: &Path, files: &mut Vec<Arc<SourceFile>>, diags: &mut Diagnostics) {
    let name = path.display().to_string();
    match std::fs::read(path) {
        Err(e) => diags.push(Diagnostic::error(
            Code::Io,
            format!("cannot read '{name}': {e}"),
        )),
        Ok(bytes) => match decode(name, bytes) {
            Ok(file) => files.push(file),
            Err(d) => diags.push(*d),
        },
    }
}

/// A file's bytes as text, or where and why they are not UTF-8 XML: a UTF-16
/// byte-order mark, a NUL (XML allows none; it marks UTF-16 without a
/// byte-order mark) or an invalid UTF-8 sequence.
fn decode(name: String, bytes: Vec<u8>) -> Result<Arc<SourceFile>, Box<Diagnostic>> {
    let fwc_reads = "fwc reads UTF-8 (or ASCII) XML only";
    let bom = bytes.starts_with(&[0xff, 0xfe]) || bytes.starts_with(&[0xfe, 0xff]);
    let (at, message, label, note) = if bom {
        let message = "the input is UTF-16 (it starts with a UTF-16 byte-order mark)";
        (
            0,
            message.to_owned(),
            "byte-order mark",
            fwc_reads.to_owned(),
        )
    } else if let Some(at) = bytes.iter().position(|&b| b == 0) {
        let message = format!("the input contains a NUL character (byte {at})");
        let note = format!("XML allows no NUL; is the file UTF-16? {fwc_reads}");
        (at, message, "NUL here", note)
    } else {
        match String::from_utf8(bytes) {
            Ok(text) => return Ok(SourceFile::new(name, text)),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let message = format!("the input is not valid UTF-8 (byte {at})");
                let bytes = e.into_bytes();
                let d = encoding_error(name, &bytes, at, message, "invalid UTF-8 here");
                return Err(Box::new(d.note(fwc_reads)));
            }
        }
    };
    Err(Box::new(
        encoding_error(name, &bytes, at, message, label).note(note),
    ))
}

/// A bad-encoding error at byte `at`, shown in the text with invalid
/// sequences replaced.
fn encoding_error(
    name: String,
    bytes: &[u8],
    at: usize,
    message: String,
    label: &str,
) -> Diagnostic {
    // Offsets move where replacement characters stand in for invalid bytes.
    let shown_at = String::from_utf8_lossy(&bytes[..at]).len();
    let file = SourceFile::new(name, String::from_utf8_lossy(bytes).into_owned());
    Diagnostic::error(Code::BadEncoding, message).at(&file, shown_at..shown_at + 1, label)
}

/// Compiles already loaded files: parse every file (collecting every
/// error), lower, validate, optimise, emit.
pub fn compile_files(files: &[Arc<SourceFile>], opts: &Options) -> Result<Output, Diagnostics> {
    compile_files_with_filters(files, None, opts)
}

/// [`compile_files`], with `<filterref>`s resolved in the filter library
/// `filters` (`None`: libvirt's `/etc/libvirt/nwfilter` when it exists).
pub fn compile_files_with_filters(
    files: &[Arc<SourceFile>],
    filters: Option<&Path>,
    opts: &Options,
) -> Result<Output, Diagnostics> {
    use front::filter::library::{self as nwlib, Input};
    let mut diags = Vec::new();
    let mut networks: Vec<(Network, &Arc<SourceFile>)> = Vec::new();
    let mut nwfilters = Vec::new();
    for file in files {
        match front::parse(file) {
            Ok(Document::Network(n)) => networks.push((n, file)),
            Ok(Document::Filter(f)) => nwfilters.push((Input::Filter(f), file.clone())),
            Ok(Document::Binding(b)) => nwfilters.push((Input::Binding(b), file.clone())),
            Err(d) => diags.extend(d),
        }
    }
    // The output must not depend on the order of the inputs on the command
    // line: ports are bound in (port, filter, file) order.
    nwfilters.sort_by_cached_key(|(input, file)| {
        let (port, filter) = match input {
            Input::Binding(b) => (Some(b.portdev.to_string()), b.filter.name.clone()),
            Input::Filter(f) => (opts.port.as_ref().map(|p| p.to_string()), f.name.clone()),
        };
        (port, filter, file.name().to_owned())
    });
    let mut ports = Vec::new();
    if !nwfilters.is_empty() {
        let mut vars = rules::nwfilter::Vars::new();
        for (name, value) in &opts.params {
            vars.push(name, value);
        }
        match nwlib::resolve_all(&nwfilters, filters, &vars) {
            Ok(resolved) => match bind_ports(resolved, opts.port.as_ref(), files) {
                Ok(p) => ports = p,
                Err(d) => diags.extend(d),
            },
            Err(d) => diags.extend(d),
        }
    }
    diags.extend(check_unique(&networks));
    let (errors, warnings): (Diagnostics, Diagnostics) = crate::semantic::check(&networks)
        .into_iter()
        .partition(Diagnostic::is_error);
    diags.extend(errors);
    if !diags.is_empty() {
        return Err(diags);
    }
    let mut networks: Vec<Network> = networks.into_iter().map(|(n, _)| n).collect();
    // Lowered in name order (names are unique), whatever the input order.
    networks.sort_by(|a, b| a.name.cmp(&b.name));

    let backend = backend_for(opts.target, &networks)?;
    let mut ruleset = rules::layout::lower_networks(&networks, opts.layout, backend)
        .map_err(|e| vec![lower_diagnostic(&e, files)])?;
    ruleset.merge(
        rules::nwfilter::lower::lower(&ports, opts.layout, backend)
            .map_err(|e| vec![lower_diagnostic(&e, files)])?,
    );
    ir::validate(&ruleset).map_err(|errs| invalid_ruleset(errs, "lowering"))?;

    if opts.optimize && opts.layout == Layout::Fwc {
        for (name, pass) in passes::PASSES {
            pass(&mut ruleset);
            ir::validate(&ruleset)
                .map_err(|errs| invalid_ruleset(errs, &format!("pass '{name}'")))?;
        }
    }

    let emit_opts = emitters::Options {
        format: opts.format,
        direction: opts.direction,
    };
    let artifact = emitters::emit(&ruleset, opts.target, &emit_opts)
        .map_err(|e| vec![Diagnostic::error(Code::Unsupported, e.to_string())])?;
    Ok(Output {
        artifact,
        ruleset,
        warnings,
    })
}

/// The bound ports of resolved nwfilter inputs: a binding names its port and
/// MAC; a root `<filter>` goes on `--port`. Inputs on one port share it.
fn bind_ports(
    resolved: Vec<front::filter::library::Resolved>,
    port: Option<&ir::Ifname>,
    files: &[Arc<SourceFile>],
) -> Result<Vec<rules::nwfilter::lower::Port>, Diagnostics> {
    use front::filter::library::Input;
    use rules::nwfilter::lower::Port;
    let mut ports: Vec<Port> = Vec::new();
    let mut diags = Vec::new();
    for r in resolved {
        let (ifname, mac, source) = match &r.input {
            Input::Binding(b) => (b.portdev.clone(), Some(b.mac), b.source.clone()),
            Input::Filter(f) => match port {
                Some(p) => (p.clone(), None, f.source.clone()),
                None => {
                    let d = Diagnostic::error(
                        Code::UnboundFilter,
                        format!("filter '{}' is not bound to an interface", f.name),
                    )
                    .note(
                        "libvirt applies a filter to a guest's tap device: give it with \
                         --port IFNAME, or compile a <filterbinding>",
                    );
                    diags.push(match front::filter::library::find(files, &f.source) {
                        Some((file, span)) => d.at(file, span, "this filter"),
                        None => d,
                    });
                    continue;
                }
            },
        };
        match ports.iter_mut().find(|p| p.ifname == ifname) {
            Some(p) => {
                p.rules.extend(r.rules);
                p.mac = p.mac.or(mac);
            }
            None => ports.push(Port {
                ifname,
                mac,
                rules: r.rules,
                source,
            }),
        }
    }
    if diags.is_empty() {
        Ok(ports)
    } else {
        Err(diags)
    }
}

/// libvirt's backend whose rules the target carries.
fn backend_for(target: Target, _networks: &[Network]) -> Result<Backend, Diagnostics> {
    match target {
        Target::Nft | Target::NftJson => Ok(Backend::Nft),
        Target::Iptables => Ok(Backend::Iptables),
        Target::Ip6tables => Ok(Backend::Ip6tables),
        // libvirt's network driver never uses ebtables: networks lower to
        // nothing (libvirt layout) or to an inet table the ebtables emitter
        // leaves out with a note, so a network gives an empty artifact.
        Target::Ebtables => Ok(Backend::Ebtables),
    }
}

/// Two networks with one name or one bridge would fight over the same
/// objects on the host, as libvirt refuses to define them.
fn check_unique(networks: &[(Network, &Arc<SourceFile>)]) -> Diagnostics {
    let mut diags = Vec::new();
    for (i, (n, file)) in networks.iter().enumerate() {
        let earlier = &networks[..i];
        if let Some((prev, pfile)) = earlier.iter().find(|(p, _)| p.name == n.name) {
            diags.push(duplicate(
                format!("network '{}' is defined twice", n.name),
                (file, &n.source),
                (pfile, &prev.source),
            ));
        }
        if let Some(bridge) = &n.bridge {
            if let Some((prev, pfile)) = earlier
                .iter()
                .find(|(p, _)| p.bridge.as_ref() == Some(bridge))
            {
                diags.push(duplicate(
                    format!(
                        "bridge '{bridge}' is used by networks '{}' and '{}'",
                        prev.name, n.name
                    ),
                    (file, &n.source),
                    (pfile, &prev.source),
                ));
            }
        }
    }
    diags
}

fn duplicate(
    message: String,
    (file, at): (&Arc<SourceFile>, &ir::Source),
    (pfile, prev): (&Arc<SourceFile>, &ir::Source),
) -> Diagnostic {
    let mut d = Diagnostic::error(Code::DuplicateNetwork, message);
    if let Some(span) = element_span(file, at) {
        d = d.at(file, span, "defined again here");
    }
    if let Some(span) = element_span(pfile, prev) {
        d = d.also(pfile, span, "first defined here");
    }
    d
}

/// The span of the element name a provenance points at (`<ip` of `<ip …>`).
fn element_span(file: &SourceFile, at: &ir::Source) -> Option<std::ops::Range<usize>> {
    file.span_at(at, |rest| at.element.len().min(rest.len()))
}

fn find_file<'a>(files: &'a [Arc<SourceFile>], at: &ir::Source) -> Option<&'a Arc<SourceFile>> {
    files.iter().find(|f| f.name() == &*at.file)
}

/// A lowering error, pointed at the element it names.
pub fn lower_diagnostic(e: &LowerError, files: &[Arc<SourceFile>]) -> Diagnostic {
    let d = Diagnostic::error(Code::Lowering, e.message.clone());
    locate(d, files, &e.at, &format!("<{}>", e.at.element))
}

fn locate(d: Diagnostic, files: &[Arc<SourceFile>], at: &ir::Source, label: &str) -> Diagnostic {
    match find_file(files, at).and_then(|f| Some((f, element_span(f, at)?))) {
        Some((f, span)) => d.at(f, span, label),
        None => d.note(format!("at {at}")),
    }
}

fn invalid_ruleset(errs: Vec<ir::ValidationError>, after: &str) -> Diagnostics {
    errs.into_iter()
        .map(|e| {
            Diagnostic::error(Code::InvalidRuleset, e.to_string()).note(format!(
                "the ruleset became invalid after {after}; this is a bug in fwc"
            ))
        })
        .collect()
}

/// A target's note as a warning, pointed at the input element it concerns.
pub fn note_diagnostic(note: &Note, files: &[Arc<SourceFile>]) -> Diagnostic {
    let d = Diagnostic::warning(Code::LoweringNote, note.message.clone());
    match &note.provenance {
        Provenance::Input(at) => locate(d, files, at, &format!("rule from <{}>", at.element)),
        Provenance::Layout(what) => d.note(format!("from the layout: {what}")),
    }
}

/// Every note of an artifact as warnings (see [`note_diagnostic`]).
pub fn note_diagnostics(artifact: &Artifact, files: &[Arc<SourceFile>]) -> Diagnostics {
    artifact
        .notes
        .iter()
        .map(|n| note_diagnostic(n, files))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAT: &str = "<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n  <forward/>\n  <ip address='192.168.122.1' prefix='24'/>\n</network>\n";

    fn sources(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    fn lowered(layout: Layout, backend: Backend) -> Ruleset {
        let file = SourceFile::new("a.xml", NAT);
        let Ok(Document::Network(n)) = front::parse(&file) else {
            panic!("the sample network parses");
        };
        rules::layout::lower_networks(&[n], layout, backend).unwrap()
    }

    #[test]
    fn errors_of_every_file_are_collected() {
        let bad_ip = NAT.replace("192.168.122.1", "192.168.300.1");
        let bad_mode = NAT.replace("<forward/>", "<forward mode='nta'/>");
        let err = compile_sources(
            &sources(&[("a.xml", &bad_ip), ("b.xml", &bad_mode)]),
            &Options::default(),
        )
        .unwrap_err();
        let places: Vec<_> = err
            .iter()
            .map(|d| (d.file_name().unwrap(), d.code))
            .collect();
        assert_eq!(
            places,
            [
                ("a.xml", Code::BadAddress),
                ("b.xml", Code::UnknownForwardMode)
            ]
        );
    }

    #[test]
    fn the_libvirt_layout_is_never_optimised() {
        let opts = Options {
            target: Target::Iptables,
            layout: Layout::Libvirt,
            ..Options::default()
        };
        let out = compile_sources(&sources(&[("a.xml", NAT)]), &opts).unwrap();
        assert_eq!(out.ruleset, lowered(Layout::Libvirt, Backend::Iptables));
    }

    #[test]
    fn o0_keeps_the_lowered_ruleset() {
        let opts = Options {
            optimize: false,
            ..Options::default()
        };
        let out = compile_sources(&sources(&[("a.xml", NAT)]), &opts).unwrap();
        assert_eq!(out.ruleset, lowered(Layout::Fwc, Backend::Nft));
    }

    #[test]
    fn backends_follow_targets() {
        assert_eq!(backend_for(Target::Nft, &[]).unwrap(), Backend::Nft);
        assert_eq!(backend_for(Target::NftJson, &[]).unwrap(), Backend::Nft);
        assert_eq!(
            backend_for(Target::Iptables, &[]).unwrap(),
            Backend::Iptables
        );
        assert_eq!(
            backend_for(Target::Ip6tables, &[]).unwrap(),
            Backend::Ip6tables
        );
        let out = compile_sources(
            &sources(&[("a.xml", NAT)]),
            &Options {
                target: Target::Ebtables,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(
            out.artifact.text,
            "# generated by fwc; load with: ebtables-restore --noflush < FILE\n"
        );
        assert_eq!(out.artifact.notes.len(), 1);
        assert!(out.artifact.notes[0].message.contains("no ebtables rules"));
    }

    #[test]
    fn lowering_errors_point_at_their_element() {
        let files = vec![SourceFile::new("a.xml", NAT)];
        let e = LowerError {
            at: files[0].ir_source(NAT.find("<forward").unwrap(), "forward"),
            message: "a network in mode nat needs <bridge name=…>".into(),
        };
        let d = lower_diagnostic(&e, &files);
        assert_eq!(d.code, Code::Lowering);
        assert_eq!(d.line_col(), Some((4, 3)));
        let label = d.primary.unwrap();
        assert_eq!(&NAT[label.span], "<forward");

        // A provenance naming a file that is not an input still says where.
        let other = ir::Source {
            file: "elsewhere.xml".into(),
            line: 2,
            column: 5,
            element: "ip".into(),
        };
        let d = lower_diagnostic(
            &LowerError {
                at: other,
                message: "x".into(),
            },
            &files,
        );
        assert!(d.primary.is_none());
        assert_eq!(d.notes, ["at elsewhere.xml:2:5 <ip>"]);
    }

    #[test]
    fn notes_become_warnings() {
        let files = vec![SourceFile::new("a.xml", NAT)];
        let at = files[0].ir_source(NAT.find("<ip").unwrap(), "ip");
        let note = Note {
            provenance: Provenance::Input(at),
            message: "left out".into(),
        };
        let d = note_diagnostic(&note, &files);
        assert_eq!(
            (d.severity, d.code),
            (crate::diagnostics::Severity::Warning, Code::LoweringNote)
        );
        assert_eq!(d.line_col(), Some((5, 3)));
        let layout = Note {
            provenance: Provenance::Layout("jump into guest chains"),
            message: "left out".into(),
        };
        let d = note_diagnostic(&layout, &files);
        assert!(d.primary.is_none());
        assert_eq!(d.notes, ["from the layout: jump into guest chains"]);
    }

    #[test]
    fn directories_expand_to_sorted_xml_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.xml", "a.xml", "c.txt"] {
            std::fs::write(dir.path().join(name), NAT).unwrap();
        }
        let files = load_paths(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| {
                Path::new(f.name())
                    .file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(names, ["a.xml", "b.xml"]);
    }

    #[test]
    fn invalid_utf8_is_reported_at_its_byte() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.xml");
        std::fs::write(&path, b"<network>\n  <name>d\xff</name>\n</network>\n").unwrap();
        let err = load_paths(&[path]).unwrap_err();
        assert_eq!(err[0].code, Code::BadEncoding);
        assert_eq!(err[0].line_col(), Some((2, 10)));
    }
}
