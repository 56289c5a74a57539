//! The filter library (`--filters DIR`) and the resolution of nwfilter inputs.
//!
//! Filterrefs resolve by name among the input `<filter>`s first, then the
//! library: a directory of `<filter>` files like libvirt's
//! `/etc/libvirt/nwfilter` (used when it exists and no directory is given;
//! fwc embeds no stock filters). Resolution errors from
//! `rules::nwfilter::resolve` become diagnostics pointing at the
//! `<filterref>` or attribute value at fault, in whichever file it is.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ir::Source;
use rules::nwfilter::{
    resolve, CombineError, Filter, FilterBinding, InstantiatedRule, Library, ResolveError, Root,
    Vars,
};

use super::super::values::NomSyntax;
use super::super::xml;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};

/// Where libvirt keeps its filters; the library when `--filters` is not given.
pub const DEFAULT_DIR: &str = "/etc/libvirt/nwfilter";

/// A library read from files; diagnostics may point into them.
#[derive(Debug, Clone, Default)]
pub struct LoadedLibrary {
    /// The filters by name.
    pub library: Library,
    /// The files they were read from.
    pub files: Vec<Arc<SourceFile>>,
    /// The directory, if one was read.
    pub dir: Option<PathBuf>,
}

/// Reads every `*.xml` in `dir` (sorted by name) as a `<filter>`.
pub fn load(dir: &Path) -> Result<LoadedLibrary, Diagnostics> {
    let files = crate::pipeline::load_paths(&[dir.to_path_buf()])?;
    from_files(files, dir)
}

/// The library to use when none is named: [`DEFAULT_DIR`] if it holds
/// filters, else an empty library.
pub fn load_default() -> Result<LoadedLibrary, Diagnostics> {
    let dir = Path::new(DEFAULT_DIR);
    let has_xml = std::fs::read_dir(dir).is_ok_and(|mut entries| {
        entries.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "xml")))
    });
    if has_xml {
        load(dir)
    } else {
        Ok(LoadedLibrary::default())
    }
}

fn from_files(files: Vec<Arc<SourceFile>>, dir: &Path) -> Result<LoadedLibrary, Diagnostics> {
    let mut diags = Vec::new();
    let mut library = Library::new();
    for file in &files {
        let root = match xml::parse(file) {
            Ok(r) => r,
            Err(d) => {
                diags.extend(d);
                continue;
            }
        };
        if root.name != "filter" {
            diags.push(
                Diagnostic::error(
                    Code::UnsupportedInput,
                    format!(
                        "the filter library holds a <{}>, not a <filter>",
                        super::shown(&root.name)
                    ),
                )
                .at(file, root.name_span.clone(), "not a filter"),
            );
            continue;
        }
        match super::read(&root, file) {
            Ok(f) => {
                if let Err(dup) = library.insert(f) {
                    diags.push(duplicate(&dup.name, &dup.again, &dup.first, &files));
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    if diags.is_empty() {
        Ok(LoadedLibrary {
            library,
            files,
            dir: Some(dir.to_path_buf()),
        })
    } else {
        Err(diags)
    }
}

fn duplicate(name: &str, again: &Source, first: &Source, files: &[Arc<SourceFile>]) -> Diagnostic {
    let d = Diagnostic::error(
        Code::DuplicateFilter,
        format!("filter '{name}' is defined twice"),
    );
    let d = locate(d, files, again, "defined again here");
    match find(files, first) {
        Some((f, span)) => d.also(f, span, "first defined here"),
        None => d.note(format!("first defined at {first}")),
    }
}

/// An nwfilter input, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The `<filter>` or `<filterbinding>` input.
    pub input: Input,
    /// Its concrete rules in libvirt's collection order.
    pub rules: Vec<InstantiatedRule>,
}

/// A root nwfilter document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A `<filter>`, applied as libvirt's test harness applies one.
    Filter(Filter),
    /// A `<filterbinding>`.
    Binding(FilterBinding),
}

/// Resolves every input filter and binding: filterrefs by name among the
/// input filters, then the library; `vars` are the starting variables of
/// every root (a binding's own parameters and `MAC` come first). Every
/// error of every input is reported.
pub fn resolve_inputs(
    inputs: &[(Input, Arc<SourceFile>)],
    loaded: &LoadedLibrary,
    vars: &Vars,
) -> Result<Vec<Resolved>, Diagnostics> {
    let mut diags = Vec::new();
    let mut files: Vec<Arc<SourceFile>> = inputs.iter().map(|(_, f)| f.clone()).collect();
    files.extend(loaded.files.iter().cloned());

    // Input filters shadow library filters of the same name.
    let mut names = Library::new();
    for (input, _) in inputs {
        if let Input::Filter(f) = input {
            if let Err(dup) = names.insert(f.clone()) {
                diags.push(duplicate(&dup.name, &dup.again, &dup.first, &files));
            }
        }
    }
    for f in loaded.library.iter() {
        if names.get(&f.name).is_none() {
            // Cannot clash: the name is not taken.
            let _ = names.insert(f.clone());
        }
    }

    let mut out = Vec::new();
    for (input, _) in inputs {
        let root = match input {
            Input::Filter(f) => Root::Filter(f),
            Input::Binding(b) => Root::Binding(b),
        };
        match resolve(root, &names, vars, &NomSyntax) {
            Ok(rules) => out.push(Resolved {
                input: input.clone(),
                rules,
            }),
            Err(e) => diags.push(diagnostic(&e, &files, loaded)),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// Loads the library (`dir`, or [`load_default`]) and resolves every
/// input against it, starting from `vars` (a binding's own come first).
pub fn resolve_all(
    inputs: &[(Input, Arc<SourceFile>)],
    dir: Option<&Path>,
    vars: &Vars,
) -> Result<Vec<Resolved>, Diagnostics> {
    let loaded = match dir {
        Some(d) => load(d)?,
        None => load_default()?,
    };
    resolve_inputs(inputs, &loaded, vars)
}

/// The error for resolved nwfilter inputs until lowering them exists.
pub fn not_lowered(inputs: &[(Input, Arc<SourceFile>)]) -> Diagnostic {
    let d = Diagnostic::error(
        Code::UnsupportedInput,
        "nwfilter lowering is not implemented yet",
    )
    .note("the filters were read and every filterref and variable resolved");
    match inputs.first() {
        Some((input, file)) => {
            let at = match input {
                Input::Filter(f) => &f.source,
                Input::Binding(b) => &b.source,
            };
            match find(std::slice::from_ref(file), at) {
                // The root element's name, without its `<`.
                Some((f, span)) => d.at(f, span.start + 1..span.end, "nwfilter document"),
                None => d.note(format!("at {at}")),
            }
        }
        None => d,
    }
}

/// A resolution error as a diagnostic at the reference at fault.
pub fn diagnostic(
    e: &ResolveError,
    files: &[Arc<SourceFile>],
    loaded: &LoadedLibrary,
) -> Diagnostic {
    let combine = match e {
        ResolveError::Variable(c) => Some(&**c),
        _ => None,
    };
    let (code, label) = match (e, combine) {
        (ResolveError::UnknownFilter { .. }, _) => (Code::UnknownFilter, "no filter of this name"),
        (ResolveError::Cycle { .. }, _) => {
            (Code::FilterrefCycle, "this reference closes the cycle")
        }
        (_, Some(CombineError::Undefined { .. })) => {
            (Code::UndefinedVariable, "no value for this variable")
        }
        (_, Some(CombineError::IndexOutOfRange { .. })) => {
            (Code::UndefinedVariable, "no value at this index")
        }
        (_, Some(CombineError::Cardinality { .. })) => {
            (Code::BadValue, "lists of different lengths")
        }
        _ => (Code::BadValue, "substituted here"),
    };
    let mut d = locate(Diagnostic::error(code, e.to_string()), files, e.at(), label);
    if let ResolveError::UnknownFilter { .. } = e {
        d = d.note(match &loaded.dir {
            Some(dir) => format!(
                "filters are looked up among the inputs and the {} filters of '{}'",
                loaded.library.len(),
                dir.display()
            ),
            None => format!(
                "filters are looked up among the inputs only: '{DEFAULT_DIR}' has none; \
                 name a filter library with --filters DIR"
            ),
        });
    }
    match combine {
        Some(CombineError::Undefined { var }) if var.name == "IP" => {
            d = d.note(
                "libvirt learns IP from the guest's traffic; fwc needs it given, \
                 as <parameter name='IP' value='…'/> of the binding's <filterref>",
            );
        }
        Some(CombineError::Cardinality { other, .. }) => {
            if let Some((f, span)) = find(files, &other.source) {
                d = d.also(f, span, "iterated together with this one");
            }
        }
        _ => {}
    }
    d
}

/// Points `d` at `at`, or names the place in a note when the file is unknown.
fn locate(d: Diagnostic, files: &[Arc<SourceFile>], at: &Source, label: &str) -> Diagnostic {
    match find(files, at) {
        Some((f, span)) => d.at(f, span, label),
        None => d.note(format!("at {at}")),
    }
}

/// The file of `at` among `files` and the span it names: an element's
/// `<name` when the position is a start tag, else an attribute value up to
/// its closing quote.
pub fn find<'f>(files: &'f [Arc<SourceFile>], at: &Source) -> Option<(&'f Arc<SourceFile>, Span)> {
    let file = files.iter().find(|f| f.name() == &*at.file)?;
    let span = file.span_at(at, |rest| rest.find(['\'', '"']).unwrap_or(rest.len()))?;
    Some((file, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn input(name: &str, text: &str) -> (Input, Arc<SourceFile>) {
        let file = SourceFile::new(name, text);
        let root = xml::parse(&file).unwrap();
        let input = match root.name.as_str() {
            "filter" => Input::Filter(super::super::read(&root, &file).unwrap()),
            _ => Input::Binding(super::super::super::binding::read(&root, &file).unwrap()),
        };
        (input, file)
    }

    #[test]
    fn a_cycle_is_reported_at_the_closing_reference() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a.xml",
            "<filter name='a'>\n  <filterref filter='b'/>\n</filter>\n",
        );
        write(dir.path(), "b.xml", "<filter name='b'>\n  <rule action='accept' direction='out'/>\n  <filterref filter='a'/>\n</filter>\n");
        let lib = load(dir.path()).unwrap();
        assert_eq!(lib.library.len(), 2);
        let top = input(
            "top.xml",
            "<filter name='top'><filterref filter='a'/></filter>",
        );
        let d = resolve_inputs(&[top], &lib, &Vars::new()).unwrap_err();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, Code::FilterrefCycle);
        assert_eq!(d[0].message, "filter reference cycle: a -> b -> a");
        assert!(d[0].file_name().unwrap().ends_with("b.xml"));
        assert_eq!(d[0].line_col(), Some((3, 3)));
        assert_eq!(
            d[0].primary.as_ref().unwrap().span.len(),
            "<filterref".len()
        );
    }

    #[test]
    fn an_undefined_variable_is_reported_at_its_value() {
        let top = input(
            "top.xml",
            "<filter name='top'>\n<rule action='accept' direction='out'>\n  <ip srcipaddr='$IP[@1]'/>\n</rule>\n</filter>",
        );
        let d = resolve_inputs(&[top], &LoadedLibrary::default(), &Vars::new()).unwrap_err();
        assert_eq!(d[0].code, Code::UndefinedVariable);
        assert_eq!(
            d[0].to_string(),
            "top.xml:3:18: error[undefined-variable]: undefined variable 'IP'"
        );
        let label = d[0].primary.as_ref().unwrap();
        assert_eq!(&label.file.text()[label.span.clone()], "$IP[@1]");
        assert!(d[0].notes[0].contains("parameter name='IP'"));
    }

    #[test]
    fn inputs_shadow_the_library_and_unknown_filters_say_where_they_looked() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "x.xml",
            "<filter name='x'><filterref filter='nowhere'/></filter>",
        );
        let lib = load(dir.path()).unwrap();
        let top = input(
            "top.xml",
            "<filter name='top'><filterref filter='x'/></filter>",
        );
        let d = resolve_inputs(std::slice::from_ref(&top), &lib, &Vars::new()).unwrap_err();
        assert_eq!(d[0].code, Code::UnknownFilter);
        assert!(d[0].file_name().unwrap().ends_with("x.xml"));
        assert!(d[0].notes[0].contains("1 filters of"), "{:?}", d[0].notes);

        let x = input(
            "x2.xml",
            "<filter name='x'><rule action='drop' direction='in'/></filter>",
        );
        let out = resolve_inputs(&[top, x], &lib, &Vars::new()).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].rules.len(), 1);
        assert_eq!(out[0].rules[0].filter, "x");
    }

    #[test]
    fn a_binding_resolves_with_its_mac() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "nms.xml",
            "<filter name='no-mac-spoofing' chain='mac' priority='-800'>\
             <rule direction='out' action='return'><mac srcmacaddr='$MAC'/></rule></filter>",
        );
        let lib = load(dir.path()).unwrap();
        let b = input(
            "b.xml",
            "<filterbinding><portdev name='vnet0'/><mac address='52:54:00:00:00:01'/>\
             <filterref filter='no-mac-spoofing'/></filterbinding>",
        );
        let out = resolve_inputs(&[b], &lib, &Vars::new()).unwrap();
        let attrs = out[0].rules[0].rule.protocol.attrs();
        assert_eq!(attrs[0].text, "52:54:00:00:00:01");
    }

    #[test]
    fn library_problems_are_located() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.xml", "<filter name='a'/>");
        write(dir.path(), "b.xml", "<filter name='a'/>");
        write(dir.path(), "c.xml", "<network/>");
        let d = load(dir.path()).unwrap_err();
        let codes: Vec<_> = d.iter().map(|d| d.code).collect();
        assert_eq!(codes, [Code::DuplicateFilter, Code::UnsupportedInput]);
        assert!(d[0].file_name().unwrap().ends_with("b.xml"));
        assert!(d[0].secondary[0].file.name().ends_with("a.xml"));
        assert!(load(&dir.path().join("missing")).is_err());
    }
}
