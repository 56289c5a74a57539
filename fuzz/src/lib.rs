//! The body shared by fwc's fuzz targets (see `docs/fuzzing.md`).
//!
//! Every target feeds arbitrary bytes to the whole pipeline, the way `fwc
//! compile` reads a file: the bytes become text (invalid UTF-8 replaced, as
//! the fuzzer would otherwise only ever find the encoding check), the root
//! element picks the front end, and the result is emitted for several
//! targets and layouts. Whatever the input, compilation must return either
//! an artifact or at least one diagnostic, and rendering those diagnostics
//! (which slices the input at their spans) must not panic either.

use compiler::diagnostics::{render_json, render_plain};
use compiler::pipeline::{compile_sources, Options};
use emitters::{Direction, Format, Target};
use rules::layout::Layout;

pub use fwc_tests::nwfilter::bound_options as options;

/// The option sets every input is compiled with: each emitter and both
/// layouts at least once, setup and teardown, with and without the passes.
fn option_sets() -> [Options; 6] {
    let o = |target, layout, format, direction, optimize| Options {
        format,
        direction,
        optimize,
        ..options(target, layout)
    };
    use Direction::{Setup, Teardown};
    use Format::{Commands, Script};
    [
        o(Target::Nft, Layout::Fwc, Script, Setup, true),
        o(Target::Nft, Layout::Libvirt, Commands, Setup, false),
        o(Target::NftJson, Layout::Fwc, Script, Teardown, false),
        o(Target::Iptables, Layout::Fwc, Script, Setup, true),
        o(
            Target::Ip6tables,
            Layout::Libvirt,
            Commands,
            Teardown,
            false,
        ),
        o(Target::Ebtables, Layout::Fwc, Script, Setup, true),
    ]
}

/// The filter the filterbinding seeds refer to (`fuzz-allow`), compiled
/// beside every binding input so that its reference can resolve.
pub const BINDING_FILTER: (&str, &str) = (
    "fuzz-allow.xml",
    "<filter name='fuzz-allow' chain='root'>\n  \
     <rule action='accept' direction='inout' priority='500'>\n    \
     <ip srcipaddr='192.168.122.0' srcipmask='24'/>\n  </rule>\n</filter>\n",
);

/// Compiles `data` as the file `name` for every option set; panics (which
/// libFuzzer reports as a crash) if an invariant is broken.
pub fn compile_everywhere(name: &str, data: &[u8]) {
    compile_with(name, data, &[]);
}

/// [`compile_everywhere`] with fixed `companions` (name, text) compiled in
/// the same run.
pub fn compile_with(name: &str, data: &[u8], companions: &[(&str, &str)]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let mut sources = vec![(name.to_owned(), text)];
    sources.extend(
        companions
            .iter()
            .map(|(n, t)| ((*n).to_owned(), (*t).to_owned())),
    );
    for opts in option_sets() {
        match compile_sources(&sources, &opts) {
            Ok(out) => {
                let _ = render_plain(&out.warnings);
            }
            Err(diags) => {
                assert!(!diags.is_empty(), "an error without a diagnostic");
                let _ = render_plain(&diags);
                let _ = render_json(&diags);
            }
        }
    }
}
