//! Analyse one DXF and print the summary (or `--json`, `--svg OUT`).
//!
//! `cargo run -p wjp-geometry --example analyze FILE [--json] [--svg OUT]`

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: analyze FILE [--json] [--svg OUT]");
        std::process::exit(2);
    };
    let mut opts = wjp_geometry::AnalysisOptions::default();
    if let Some(i) = args.iter().position(|a| a == "--units") {
        opts.units_override = args.get(i + 1).and_then(|u| u.parse().ok());
    }
    let t = std::time::Instant::now();
    let result =
        wjp_geometry::analyze_dxf_file(std::path::Path::new(file), &opts, &mut |p, what| {
            if std::env::var_os("WJP_PROGRESS").is_some() {
                eprintln!("{:8.2} ms {p:.2} {what}", t.elapsed().as_secs_f64() * 1e3);
            }
        });
    match result {
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
