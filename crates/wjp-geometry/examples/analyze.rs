//! Analyse one DXF and print the summary (or `--json`, `--svg OUT`).
//!
//! `cargo run -p wjp-geometry --example analyze FILE [--json] [--svg OUT]`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: analyze FILE [--json] [--svg OUT]");
        std::process::exit(2);
    };
    let opts = wjp_geometry::AnalysisOptions::default();
    match wjp_geometry::analyze_dxf_file(std::path::Path::new(file), &opts, &mut |_, _| {}) {
        Ok(r) => {
            if args.iter().any(|a| a == "--json") {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                print!("{}", r.summary_text());
            }
            if let Some(i) = args.iter().position(|a| a == "--svg") {
                if let Some(out) = args.get(i + 1) {
                    std::fs::write(out, r.to_svg()).expect("write svg");
                }
            }
        }
        Err(e) => {
            eprintln!("error [{}]: {e}", e.code());
            std::process::exit(1);
        }
    }
}
