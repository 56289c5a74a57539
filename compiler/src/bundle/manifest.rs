//! `manifest.json`: what a bundle was built from and how to apply each file.
//!
//! Keys come in a fixed order (structs, never maps); inputs are sorted by
//! path and artifacts follow [`super::artifacts::SPECS`]. Nothing depends on
//! the time, the machine or the order of the inputs on the command line:
//! paths are as the user gave them (`-` for standard input), and hashes are
//! SHA-256 in lowercase hex. Artifact commands are run from inside the
//! bundle directory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use emitters::Direction;
use rules::layout::Layout;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::artifacts::File;
use crate::diagnostics::Diagnostics;
use crate::front::{self, filter::library, Document};
use crate::pipeline::{Options, STDIN_NAME};
use crate::source::SourceFile;

/// The manifest's file name in the bundle.
pub const FILE_NAME: &str = "manifest.json";

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Manifest {
    /// Which program wrote the bundle.
    pub fwc: Tool,
    /// `fwc` or `libvirt`.
    pub layout: &'static str,
    /// The options that shape the artifacts.
    pub options: BuildOptions,
    /// Every input file (and library filter reached through a
    /// `<filterref>`), sorted by path.
    pub inputs: Vec<Input>,
    /// Every file of the bundle but the manifest, in a fixed order.
    pub artifacts: Vec<Artifact>,
}

/// The program that wrote the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tool {
    /// Always `fwc`: how fwc recognises a directory it may replace.
    pub name: &'static str,
    /// fwc's version.
    pub version: &'static str,
}

/// The compile options besides the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildOptions {
    /// Whether the optimiser passes were asked for (`-O1`); the libvirt
    /// layout is never optimised.
    pub optimize: bool,
    /// `--port`, if given.
    pub port: Option<String>,
    /// `--param`s in the order given (a repeated name makes a list).
    pub params: Vec<Param>,
    /// `--filters` as given, if given.
    pub filters: Option<String>,
}

/// One `--param NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Param {
    /// The variable.
    pub name: String,
    /// Its value.
    pub value: String,
}

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Input {
    /// As given on the command line (a directory's files as DIR/NAME.xml),
    /// `-` for standard input; a library filter's path in the library.
    pub path: String,
    /// `network`, `filter`, `filterbinding`, or `library-filter`.
    pub kind: &'static str,
    /// The network's or filter's name (for a binding, the filter it binds).
    pub name: String,
    /// SHA-256 of the file's bytes.
    pub sha256: String,
}

/// One artifact file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// The file name in the bundle.
    pub name: &'static str,
    /// The target (`nft`, `nft-json`, `iptables`, `ip6tables`, `ebtables`),
    /// or `tc` for the nft targets' checksum companion.
    pub target: &'static str,
    /// `setup` or `teardown`.
    pub direction: &'static str,
    /// How to apply it, from inside the bundle directory.
    pub apply: Apply,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Its size.
    pub bytes: usize,
    /// Whether applying it changes nothing (it holds only comments), as for
    /// the ebtables files of networks.
    pub empty: bool,
}

/// How to apply an artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Apply {
    /// A shell line, such as `iptables-restore --noflush < rules.v4`.
    pub command: String,
    /// The same as a program and arguments.
    pub argv: Vec<&'static str>,
    /// The file to give on standard input, or null.
    pub stdin: Option<&'static str>,
}

/// SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

impl Manifest {
    /// The manifest of a bundle built from `files` with `opts` (target,
    /// format and direction aside) and the filter library `filters`.
    pub fn new(
        files: &[Arc<SourceFile>],
        filters: Option<&Path>,
        opts: &Options,
        artifacts: &[File],
    ) -> Result<Manifest, Diagnostics> {
        let mut inputs = input_files(files, filters)?;
        inputs.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Manifest {
            fwc: Tool {
                name: "fwc",
                version: env!("CARGO_PKG_VERSION"),
            },
            layout: match opts.layout {
                Layout::Fwc => "fwc",
                Layout::Libvirt => "libvirt",
            },
            options: BuildOptions {
                optimize: opts.optimize,
                port: opts.port.as_ref().map(|p| p.to_string()),
                params: opts
                    .params
                    .iter()
                    .map(|(name, value)| Param {
                        name: name.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                filters: filters.map(|d| d.display().to_string()),
            },
            inputs,
            artifacts: artifacts.iter().map(artifact).collect(),
        })
    }

    /// The manifest as written: pretty JSON and a final newline.
    pub fn to_json(&self) -> String {
        let mut text =
            serde_json::to_string_pretty(self).expect("the manifest has only strings and numbers");
        text.push('\n');
        text
    }
}

fn artifact(f: &File) -> Artifact {
    let apply = f.spec.apply();
    Artifact {
        name: f.spec.name,
        target: f.spec.producer.name(),
        direction: match f.spec.direction {
            Direction::Setup => "setup",
            Direction::Teardown => "teardown",
        },
        apply: Apply {
            command: apply.command(),
            argv: apply.argv,
            stdin: apply.stdin,
        },
        sha256: sha256_hex(f.text.as_bytes()),
        bytes: f.text.len(),
        empty: f.is_empty(),
    }
}

/// The inputs (which compiled, so they parse), then the library filters
/// their `<filterref>`s reach.
fn input_files(
    files: &[Arc<SourceFile>],
    filters: Option<&Path>,
) -> Result<Vec<Input>, Diagnostics> {
    let mut inputs = Vec::new();
    let mut input_filters = Vec::new();
    let mut wanted = Vec::new();
    for file in files {
        let (kind, name) = match front::parse(file)? {
            Document::Network(n) => ("network", n.name),
            Document::Filter(f) => {
                wanted.extend(f.references().map(|r| r.name.clone()));
                let name = f.name.clone();
                input_filters.push(f);
                ("filter", name)
            }
            Document::Binding(b) => {
                wanted.push(b.filter.name.clone());
                ("filterbinding", b.filter.name)
            }
        };
        let path = match file.name() {
            STDIN_NAME => "-".to_owned(),
            other => other.to_owned(),
        };
        inputs.push(Input {
            path,
            kind,
            name,
            sha256: sha256_hex(file.text().as_bytes()),
        });
    }
    if !wanted.is_empty() {
        inputs.extend(library_files(&input_filters, wanted, filters)?);
    }
    Ok(inputs)
}

/// The library files of the filters `wanted` reaches, directly or through
/// other filters; input filters shadow library filters of the same name,
/// as in [`library::resolve_inputs`].
fn library_files(
    input_filters: &[rules::nwfilter::Filter],
    mut wanted: Vec<String>,
    dir: Option<&Path>,
) -> Result<Vec<Input>, Diagnostics> {
    let loaded = match dir {
        Some(d) => library::load(d)?,
        None => library::load_default()?,
    };
    let mut seen = std::collections::BTreeSet::new();
    // File name -> filter name; sorted, each file once.
    let mut used: BTreeMap<String, String> = BTreeMap::new();
    while let Some(name) = wanted.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let found = match input_filters.iter().find(|f| f.name == name) {
            Some(f) => Some(f),
            None => loaded.library.get(&name).inspect(|f| {
                used.insert(f.source.file.to_string(), f.name.clone());
            }),
        };
        if let Some(f) = found {
            wanted.extend(f.references().map(|r| r.name.clone()));
        }
    }
    Ok(used
        .into_iter()
        .filter_map(|(path, name)| {
            let file = loaded.files.iter().find(|f| f.name() == path)?;
            Some(Input {
                sha256: sha256_hex(file.text().as_bytes()),
                path,
                kind: "library-filter",
                name,
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_lowercase_hex() {
        // FIPS 180-2's example.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keys_come_in_a_fixed_order() {
        let files = vec![
            SourceFile::new(
                "b.xml",
                "<network><name>b</name><bridge name='br1'/></network>",
            ),
            SourceFile::new(
                STDIN_NAME,
                "<network><name>a</name><bridge name='br0'/></network>",
            ),
        ];
        let m = Manifest::new(&files, None, &Options::default(), &[]).unwrap();
        let paths: Vec<_> = m.inputs.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["-", "b.xml"]);
        assert_eq!(m.inputs[0].name, "a");
        assert_eq!(m.inputs[0].kind, "network");
        let json = m.to_json();
        let order = [
            "\"fwc\"",
            "\"layout\"",
            "\"options\"",
            "\"inputs\"",
            "\"artifacts\"",
        ];
        let at: Vec<_> = order.iter().map(|k| json.find(k).unwrap()).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{json}");
        assert!(json.ends_with("}\n"));
    }
}
