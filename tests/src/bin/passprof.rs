use compiler::pipeline::{compile_sources, Options};
use std::time::Instant;
fn main() {
    let host = fwc_tests::generate::host(1000, 0);
    let t = Instant::now();
    let out = compile_sources(&host.network_sources(), &Options { optimize: false, ..Options::default() }).unwrap();
    println!("compile O0 total {:?}", t.elapsed());
    let mut rs = out.ruleset;
    for (name, p) in compiler::passes::PASSES {
        let t = Instant::now();
        p(&mut rs);
        let e = t.elapsed();
        let t2 = Instant::now();
        ir::validate(&rs).unwrap();
        println!("{name}: {:?} (validate {:?})", e, t2.elapsed());
    }
    let t = Instant::now();
    let a = emitters::emit(&rs, emitters::Target::Nft, &Default::default()).unwrap();
    println!("emit {:?} {}", t.elapsed(), a.text.len());
}
