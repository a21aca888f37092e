use super::*;

fn parse(text: &str) -> Result<ShopConfig, ConfigError> {
    ShopConfig::parse(Path::new("wjp.toml"), text)
}

#[test]
fn an_empty_file_is_the_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.pricing, Pricing::default());
    assert_eq!(c.machine, MachineParams::default());
    assert_eq!(c.materials, default_materials());
}

#[test]
fn figures_change_and_remember_their_line() {
    let c = parse(
        "currency = \"EUR\"\n[pricing]\nrate_per_m = 9\nmachine_rate_per_hour = 120\n\
         [materials.steel]\nprice_per_kg = 1.5\n[materials.bronze]\nmachinability = 125\n\
         density_kg_m3 = 8800\n",
    )
    .unwrap();
    assert_eq!(c.pricing.currency, "EUR");
    assert_eq!(c.pricing.rate_per_m, 9.0);
    assert_eq!(c.pricing.machine_rate_per_min, 2.0);
    assert_eq!(
        c.materials[0].price_per_kg, 1.5,
        "an alias names mild_steel"
    );
    assert!(c.materials.iter().any(|m| m.name == "bronze"));
    assert_eq!(c.source("pricing.rate_per_m"), Source::File(3));
    assert_eq!(
        c.source("materials.mild_steel.price_per_kg"),
        Source::File(6)
    );
    assert_eq!(c.source("pricing.setup_cost"), Source::Default);
}

#[test]
fn mistakes_name_their_line_and_key() {
    let cases = [
        (
            "[pricing]\nrate_per_mm = 9\n",
            2,
            "did you mean `rate_per_m`",
        ),
        (
            "[pricing]\n\nsetup_cost = -1\n",
            3,
            "pricing.setup_cost: -1 is out of range",
        ),
        (
            "[pricing]\nfeed = \"fast\"\n",
            2,
            "pricing.feed: expected a number",
        ),
        ("curency = \"EUR\"\n", 1, "did you mean `currency`"),
        ("[calibration]\nquality = 7\n", 2, "quality is 1 to 5"),
        (
            "[calibration]\nmaterial = \"wood\"\n",
            2,
            "unknown material \"wood\"",
        ),
        (
            "[materials.wood]\nprice_per_kg = 1\n",
            1,
            "give its machinability",
        ),
        (
            "[materials.glass]\naliases = [\"steel\"]\n",
            2,
            "already names",
        ),
        ("[pricing\n", 1, "not valid TOML"),
    ];
    for (text, line, message) in cases {
        let e = parse(text)
            .err()
            .unwrap_or_else(|| panic!("{text:?} accepted"));
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.to_string().contains(message), "{text:?}: {e}");
    }
}

#[test]
fn show_names_each_source() {
    let c = parse("[pricing]\nrate_per_m = 9\n").unwrap();
    let text = c.show();
    assert!(text.contains("rate_per_m = 9.0"), "{text}");
    assert!(text.contains("wjp.toml:2"), "{text}");
    assert!(text.contains("setup_cost = 15.0"), "{text}");
}

#[test]
fn requests_keep_the_figures_they_name() {
    let c = parse("[pricing]\nrate_per_m = 9\nsetup_cost = 4\n").unwrap();
    let mut options = AnalysisOptions::default();
    c.fill(
        &mut options,
        &serde_json::json!({"pricing": {"setup_cost": 1.0}}),
    )
    .unwrap();
    assert_eq!(options.pricing.rate_per_m, 9.0);
    assert_eq!(options.pricing.setup_cost, 1.0);
}
