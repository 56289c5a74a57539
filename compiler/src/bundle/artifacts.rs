//! The bundle's files: which artifacts there are, how each is applied, and
//! compiling them all from one set of inputs.

use std::path::Path;
use std::sync::Arc;

use emitters::{Artifact, Direction, Format, Note, Target};

use crate::diagnostics::{Diagnostic, Diagnostics};
use crate::pipeline::{self, Options};
use crate::source::SourceFile;

/// What produces an artifact: a target's script, or the `tc` companion of
/// the nft targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Producer {
    /// The target's script format ([`Format::Script`]).
    Target(Target),
    /// libvirt's `tc` checksum fix as a shell script (see [`super::tc`]).
    Tc,
}

impl Producer {
    /// The name the manifest gives it: the target's CLI name, or `tc`.
    pub fn name(self) -> &'static str {
        match self {
            Producer::Target(t) => t.name(),
            Producer::Tc => "tc",
        }
    }
}

/// One file of the bundle, by convention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The file name inside the output directory.
    pub name: &'static str,
    /// What produces it.
    pub producer: Producer,
    /// Setup or teardown.
    pub direction: Direction,
}

const fn spec(name: &'static str, producer: Producer, direction: Direction) -> Spec {
    Spec {
        name,
        producer,
        direction,
    }
}

/// Every file the bundle may hold, in the order the manifest lists them.
/// The `tc` scripts are written only when the nft artifacts leave out
/// checksum-fill rules; every other file always is, empty or not.
pub const SPECS: [Spec; 12] = [
    spec("setup.nft", Producer::Target(Target::Nft), Direction::Setup),
    spec(
        "teardown.nft",
        Producer::Target(Target::Nft),
        Direction::Teardown,
    ),
    spec(
        "setup.nft.json",
        Producer::Target(Target::NftJson),
        Direction::Setup,
    ),
    spec(
        "teardown.nft.json",
        Producer::Target(Target::NftJson),
        Direction::Teardown,
    ),
    spec(
        "rules.v4",
        Producer::Target(Target::Iptables),
        Direction::Setup,
    ),
    spec(
        "teardown.v4",
        Producer::Target(Target::Iptables),
        Direction::Teardown,
    ),
    spec(
        "rules.v6",
        Producer::Target(Target::Ip6tables),
        Direction::Setup,
    ),
    spec(
        "teardown.v6",
        Producer::Target(Target::Ip6tables),
        Direction::Teardown,
    ),
    spec(
        "ebtables.rules",
        Producer::Target(Target::Ebtables),
        Direction::Setup,
    ),
    spec(
        "teardown.ebtables",
        Producer::Target(Target::Ebtables),
        Direction::Teardown,
    ),
    spec("setup.tc.sh", Producer::Tc, Direction::Setup),
    spec("teardown.tc.sh", Producer::Tc, Direction::Teardown),
];

/// How to apply an artifact, run from inside the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Apply {
    /// The program and its arguments.
    pub argv: Vec<&'static str>,
    /// The file to feed on standard input, if the program reads it there.
    pub stdin: Option<&'static str>,
}

impl Apply {
    /// The shell line: the argv joined by spaces, then `< FILE` if any (the
    /// names are fixed and need no quoting).
    pub fn command(&self) -> String {
        let mut line = self.argv.join(" ");
        if let Some(file) = self.stdin {
            line.push_str(" < ");
            line.push_str(file);
        }
        line
    }
}

impl Spec {
    /// The command that applies this file: `nft -f`, `nft -j -f`, the
    /// `*-restore --noflush` loaders (which keep what fwc does not own) or
    /// `sh`.
    pub fn apply(&self) -> Apply {
        let file = |argv: &[&'static str]| Apply {
            argv: argv.iter().copied().chain([self.name]).collect(),
            stdin: None,
        };
        let piped = |program: &'static str| Apply {
            argv: vec![program, "--noflush"],
            stdin: Some(self.name),
        };
        match self.producer {
            Producer::Target(Target::Nft) => file(&["nft", "-f"]),
            Producer::Target(Target::NftJson) => file(&["nft", "-j", "-f"]),
            Producer::Target(Target::Iptables) => piped("iptables-restore"),
            Producer::Target(Target::Ip6tables) => piped("ip6tables-restore"),
            Producer::Target(Target::Ebtables) => piped("ebtables-restore"),
            Producer::Tc => file(&["sh"]),
        }
    }
}

/// Whether a name is one of the files a bundle directory may hold.
pub fn is_bundle_file(name: &str) -> bool {
    name == super::manifest::FILE_NAME || SPECS.iter().any(|s| s.name == name)
}

/// One written artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Which one.
    pub spec: Spec,
    /// Its text.
    pub text: String,
}

impl File {
    /// Whether applying it changes nothing: the text holds only comments
    /// (or, for nft-json, no command).
    pub fn is_empty(&self) -> bool {
        match self.spec.producer {
            Producer::Target(Target::NftJson) => {
                serde_json::from_str::<serde_json::Value>(&self.text)
                    .ok()
                    .and_then(|v| v.get("nftables").and_then(|a| a.as_array()).cloned())
                    .is_some_and(|items| items.iter().all(|i| i.get("metainfo").is_some()))
            }
            _ => self
                .text
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')),
        }
    }
}

/// Every artifact of a bundle, and the warnings to print.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// In [`SPECS`] order; the `tc` scripts only when needed.
    pub files: Vec<File>,
    /// Warnings about the inputs, then the targets' notes (each naming its
    /// file), except the checksum-fill notes the `tc` scripts take care of.
    pub warnings: Diagnostics,
}

/// Compiles `files` for every target, setup and teardown, as scripts with
/// `base`'s layout and options (its target, format and direction are
/// ignored). The first compilation that fails gives the errors: input
/// errors are the same for every target, so they are reported once.
pub fn build(
    files: &[Arc<SourceFile>],
    filters: Option<&Path>,
    base: &Options,
) -> Result<Bundle, Diagnostics> {
    let compile = |target: Target, format: Format, direction: Direction, first: bool| {
        let opts = Options {
            target,
            format,
            direction,
            ..base.clone()
        };
        pipeline::compile_files_with_filters(files, filters, &opts).map_err(|diags| {
            if first {
                return diags;
            }
            let what = format!("while compiling for --target {}", target.name());
            diags.into_iter().map(|d| d.note(what.clone())).collect()
        })
    };

    let mut warnings = Vec::new();
    let mut compiled: Vec<(Spec, Artifact)> = Vec::new();
    for (i, spec) in SPECS.iter().enumerate() {
        let Producer::Target(target) = spec.producer else {
            continue;
        };
        let out = compile(target, Format::Script, spec.direction, i == 0)?;
        if i == 0 {
            warnings = out.warnings;
        }
        compiled.push((*spec, out.artifact));
    }

    // The tc lines come from the nft target's command lines, where the nft
    // emitter renders libvirt's companion for each checksum-fill rule.
    let commands = compile(Target::Nft, Format::Commands, Direction::Setup, false)?;
    let companion = super::tc::companion(&commands.artifact.text).map_err(|e| {
        vec![Diagnostic::error(
            crate::diagnostics::Code::InvalidRuleset,
            e,
        )]
    })?;

    // A checksum-fill rule the nft scripts leave out is covered when the tc
    // companion was rendered for it (the command lines have no note for it).
    let uncovered: Vec<&ir::Provenance> = commands
        .artifact
        .notes
        .iter()
        .map(|n| &n.provenance)
        .collect();
    let covered = |spec: &Spec, note: &Note| {
        companion.is_some()
            && matches!(
                spec.producer,
                Producer::Target(Target::Nft | Target::NftJson)
            )
            && note.message.contains("checksum-fill")
            && !uncovered.contains(&&note.provenance)
    };
    // Setup and teardown usually carry the same notes: each is told once.
    let mut told: Vec<(Target, &Note)> = Vec::new();
    for (spec, artifact) in &compiled {
        let Producer::Target(target) = spec.producer else {
            continue;
        };
        for note in &artifact.notes {
            // Every target's file is written, so no table is really left out.
            if covered(spec, note) || note.is_for_other_targets() || told.contains(&(target, note))
            {
                continue;
            }
            told.push((target, note));
            warnings.push(pipeline::note_diagnostic(note, files).note(format!(
                "in {} (--target {})",
                spec.name,
                target.name()
            )));
        }
    }

    let mut out: Vec<File> = compiled
        .into_iter()
        .map(|(spec, artifact)| File {
            spec,
            text: artifact.text,
        })
        .collect();
    if let Some(tc) = companion {
        for spec in SPECS.iter().filter(|s| s.producer == Producer::Tc) {
            let text = match spec.direction {
                Direction::Setup => tc.setup.clone(),
                Direction::Teardown => tc.teardown.clone(),
            };
            out.push(File { spec: *spec, text });
        }
    }
    Ok(Bundle {
        files: out,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DHCP: &str = "<network>\n  <name>default</name>\n  <bridge name='virbr0'/>\n  <forward/>\n  <ip address='192.168.122.1' prefix='24'>\n    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>\n  </ip>\n</network>\n";

    fn bundle(text: &str) -> Bundle {
        let files = vec![SourceFile::new("n.xml", text)];
        build(&files, None, &Options::default()).expect("compiles")
    }

    fn names(b: &Bundle) -> Vec<&'static str> {
        b.files.iter().map(|f| f.spec.name).collect()
    }

    #[test]
    fn names_are_unique_and_every_target_has_setup_and_teardown() {
        for (i, s) in SPECS.iter().enumerate() {
            assert!(
                SPECS[..i].iter().all(|t| t.name != s.name),
                "{} twice",
                s.name
            );
        }
        for (_, target) in Target::ALL {
            for direction in [Direction::Setup, Direction::Teardown] {
                let n = SPECS
                    .iter()
                    .filter(|s| s.producer == Producer::Target(target) && s.direction == direction)
                    .count();
                assert_eq!(n, 1, "{} {direction:?}", target.name());
            }
        }
    }

    #[test]
    fn apply_commands_name_their_file() {
        let cmd = |name: &str| {
            SPECS
                .iter()
                .find(|s| s.name == name)
                .unwrap()
                .apply()
                .command()
        };
        assert_eq!(cmd("setup.nft"), "nft -f setup.nft");
        assert_eq!(cmd("teardown.nft.json"), "nft -j -f teardown.nft.json");
        assert_eq!(cmd("rules.v4"), "iptables-restore --noflush < rules.v4");
        assert_eq!(
            cmd("teardown.v6"),
            "ip6tables-restore --noflush < teardown.v6"
        );
        assert_eq!(
            cmd("ebtables.rules"),
            "ebtables-restore --noflush < ebtables.rules"
        );
        assert_eq!(cmd("setup.tc.sh"), "sh setup.tc.sh");
    }

    #[test]
    fn dhcp_brings_the_tc_companion_and_covers_its_notes() {
        let b = bundle(DHCP);
        assert_eq!(names(&b), SPECS.map(|s| s.name));
        let tc = b
            .files
            .iter()
            .find(|f| f.spec.name == "setup.tc.sh")
            .unwrap();
        assert!(tc.text.contains("action csum"), "{}", tc.text);
        // The checksum notes are covered, and ebtables' "the IP tables are
        // left out" note says nothing when every target is written.
        let messages: Vec<_> = b.warnings.iter().map(|w| w.message.as_str()).collect();
        assert_eq!(messages, Vec::<&str>::new());
    }

    #[test]
    fn without_checksum_fill_there_is_no_tc_script() {
        // The fwc layout adds the checksum fix only for DHCP.
        let plain = DHCP.replace(
            "    <dhcp><range start='192.168.122.2' end='192.168.122.254'/></dhcp>\n",
            "",
        );
        let b = bundle(&plain);
        assert_eq!(
            names(&b),
            SPECS[..10].iter().map(|s| s.name).collect::<Vec<_>>()
        );
        let ebtables = &b.files[8];
        assert_eq!(ebtables.spec.name, "ebtables.rules");
        assert!(ebtables.is_empty());
        assert!(!b.files[0].is_empty());
    }

    #[test]
    fn each_file_is_what_a_single_target_compile_gives() {
        let b = bundle(DHCP);
        let files = vec![SourceFile::new("n.xml", DHCP)];
        for f in b.files.iter().filter(|f| f.spec.producer != Producer::Tc) {
            let Producer::Target(target) = f.spec.producer else {
                unreachable!()
            };
            let opts = Options {
                target,
                direction: f.spec.direction,
                ..Options::default()
            };
            let single = pipeline::compile_files(&files, &opts).unwrap();
            assert_eq!(f.text, single.artifact.text, "{}", f.spec.name);
        }
    }

    #[test]
    fn nft_json_emptiness_looks_at_commands() {
        let json = |text: &str| File {
            spec: SPECS[2],
            text: text.into(),
        };
        assert!(json(r#"{"nftables":[{"metainfo":{"json_schema_version":1}}]}"#).is_empty());
        assert!(!json(r#"{"nftables":[{"metainfo":{}},{"add":{"table":{}}}]}"#).is_empty());
    }
}
