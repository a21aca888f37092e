//! `cargo run -p wjp-cam --example gcode FILE.dxf [dialect]`: print the program and
//! summary (`WJP_SVG=out.svg` also writes the toolpath picture).
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: gcode FILE.dxf [linuxcnc|fanuc]");
        std::process::exit(2);
    };
    let bytes = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    let mut o = wjp_cam::GcodeOptions::default();
    if let Some(d) = args.get(2) {
        o.dialect = d.clone();
    }
    match wjp_cam::generate_gcode(&bytes, &o) {
        Ok(p) => {
            print!("{}", p.program);
            if let Ok(svg) = std::env::var("WJP_SVG") {
                std::fs::write(&svg, &p.svg).map_err(|e| format!("writing {svg}: {e}"))?;
            }
            eprintln!(
                "{}",
                serde_json::to_string_pretty(&p.summary).unwrap_or_default()
            );
            eprintln!("{:?}", p.warnings);
        }
        Err(e) => {
            eprintln!("error {}: {e}", e.code());
            std::process::exit(1);
        }
    }
    Ok(())
}
