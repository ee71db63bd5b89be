use super::*;

#[test]
fn empty_config_gives_the_documented_defaults() {
    let config = Config::from_toml("", "test").expect("empty is valid");
    assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.max_body.0, 16 * MIB);
    assert_eq!(config.dedup.horizon.0, 7 * DAY);
    assert_eq!(config.currency.reporting.get_ref(), "EUR");
    assert_eq!(config.storage.data_dir, PathBuf::from("./sightline-data"));
}

#[test]
fn the_example_config_loads() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sightline.example.toml");
    let config = Config::load(&path).expect("the shipped example is valid");
    assert_eq!(
        config.rate_to_reporting("USD"),
        Some("0.92".parse().expect("decimal"))
    );
    assert_eq!(config.rate_to_reporting("EUR"), Some(Decimal::ONE));
    assert_eq!(config.rate_to_reporting("JPY"), None);
    let rows = config.dashboard.layout(&|_| true);
    let money = rows.last().expect("the example adds a row");
    assert_eq!(money.name, "money");
    assert_eq!(money.panels.len(), 2);
    assert_eq!(config.history.daily_windows, crate::Retention::Forever);
    assert_eq!(
        config.history.minute_windows.as_micros(),
        Some(8 * 86_400_000_000)
    );
}

#[test]
fn a_retention_is_a_duration_or_forever() {
    let config =
        Config::from_toml("[history]\nhourly_windows = \"forever\"\n", "x").expect("valid");
    assert_eq!(config.history.hourly_windows, crate::Retention::Forever);
    let error = Config::from_toml("[history]\nminute_windows = \"always\"\n", "x")
        .expect_err("not a duration")
        .to_string();
    assert!(
        error.contains("minute_windows") && error.contains("forever"),
        "{error}"
    );
}

#[test]
fn an_unknown_key_is_named_with_its_line() {
    let text = "[server]\nlisten = \"127.0.0.1:9000\"\nmax_bodyy = 5\n";
    let error = Config::from_toml(text, "sightline.toml")
        .expect_err("typo is rejected")
        .to_string();
    assert!(error.contains("line 3"), "{error}");
    assert!(error.contains("max_bodyy"), "{error}");
    assert!(error.starts_with("sightline.toml: "), "{error}");
}

#[test]
fn an_unknown_section_is_rejected() {
    let error = Config::from_toml("[sevrer]\n", "x")
        .expect_err("typo is rejected")
        .to_string();
    assert!(error.contains("sevrer"), "{error}");
}

#[test]
fn wrong_value_types_are_named() {
    let error = Config::from_toml("[dedup]\nhorizon = \"a week\"\n", "x")
        .expect_err("bad duration")
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("duration"),
        "{error}"
    );
    let error = Config::from_toml("[server]\nmax_body = \"16 MB/s\"\n", "x")
        .expect_err("bad size")
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("size unit"),
        "{error}"
    );
    let error = Config::from_toml("[server]\nlisten = \"localhost\"\n", "x")
        .expect_err("bad address")
        .to_string();
    assert!(error.contains("line 2"), "{error}");
}

#[test]
fn semantic_errors_name_key_and_line() {
    let text = "[currency]\nreporting = \"EUR\"\n\n[currency.rates]\nUSD = \"0.92\"\nusd = \"1\"\n";
    let error = Config::from_toml(text, "x")
        .expect_err("lower-case code")
        .to_string();
    assert_eq!(
        error,
        "x: line 6: currency.rates.usd: rate keys must be ISO 4217 codes such as USD"
    );
    let error = Config::from_toml("[currency]\nreporting = \"euro\"\n", "x")
        .expect_err("bad")
        .to_string();
    assert!(error.contains("line 2: currency.reporting"), "{error}");
    let error = Config::from_toml("[currency.rates]\nGBP = \"-1\"\n", "x")
        .expect_err("bad")
        .to_string();
    assert!(
        error.contains("line 2: currency.rates.GBP: a rate must be greater than 0"),
        "{error}"
    );
}

#[test]
fn sizes_and_durations_parse() {
    assert_eq!(ByteSize::parse("16 MiB"), Ok(ByteSize(16 * MIB)));
    assert_eq!(ByteSize::parse("2GB"), Ok(ByteSize(2_000_000_000)));
    assert_eq!(ByteSize::parse("512"), Ok(ByteSize(512)));
    assert!(ByteSize::parse("many").is_err());
    let config = Config::from_toml(
        "[log]\nretention_age = \"1h 30m\"\nretention_size = 1048576\n",
        "x",
    )
    .expect("valid");
    assert_eq!(
        config.log.retention_age,
        Some(HumanDuration(Duration::from_secs(5400)))
    );
    assert_eq!(config.log.retention_size, Some(ByteSize(MIB)));
}

#[test]
fn short_retention_warns() {
    let config = Config::from_toml("[log]\nretention_age = \"1d\"\n", "x").expect("valid");
    assert_eq!(config.warnings().len(), 1);
}

#[test]
fn the_example_config_has_a_shopify_shop() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sightline.example.toml");
    let config = Config::load(&path).expect("the shipped example is valid");
    let shop = &config.sources.shopify.shops[0];
    assert_eq!(shop.domain.get_ref(), "acme.myshopify.com");
    assert_eq!(
        shop.secret_source(),
        Some(SecretSource::Env("SHOPIFY_ACME_SECRET".into()))
    );
    assert_eq!(shop.admin_base_url(), "https://acme.myshopify.com");
    assert_eq!(config.sources.shopify.api_version, "2024-10");
}

#[test]
fn shopify_shops_are_validated_with_their_line() {
    let secretless = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\n";
    let error = Config::from_toml(secretless, "x")
        .expect_err("no secret")
        .to_string();
    assert!(
        error.contains("line 2") && error.contains("exactly one way"),
        "{error}"
    );
    let two_ways = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret_env = \"A\"\nsecret_file = \"/a\"\n";
    assert!(Config::from_toml(two_ways, "x").is_err());
    let upper = "[[sources.shopify.shops]]\ndomain = \"A.myshopify.com\"\nsecret_env = \"A\"\n";
    let error = Config::from_toml(upper, "x")
        .expect_err("upper case")
        .to_string();
    assert!(error.contains("lower case"), "{error}");
    let twice = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret_env = \"A\"\n\n[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret_env = \"B\"\n";
    let error = Config::from_toml(twice, "x")
        .expect_err("twice")
        .to_string();
    assert!(
        error.contains("line 6") && error.contains("twice"),
        "{error}"
    );
    let typo = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret_env = \"A\"\nsecrte = \"x\"\n";
    let error = Config::from_toml(typo, "x").expect_err("typo").to_string();
    assert!(error.contains("secrte"), "{error}");
    let bad_until = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret_env = \"A\"\nprevious_secret_env = \"B\"\nprevious_secret_until = \"tomorrow\"\n";
    let error = Config::from_toml(bad_until, "x")
        .expect_err("bad time")
        .to_string();
    assert!(
        error.contains("line 5") && error.contains("previous_secret_until"),
        "{error}"
    );
    let inline = "[[sources.shopify.shops]]\ndomain = \"a.myshopify.com\"\nsecret = \"hush\"\n";
    let config = Config::from_toml(inline, "x").expect("inline secret");
    let debug = format!("{config:?}");
    assert!(!debug.contains("hush"), "secrets never print: {debug}");
}

#[test]
fn reorder_points_come_from_the_table_and_a_csv_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let csv = dir.path().join("points.csv");
    std::fs::write(&csv, "sku,reorder_point\nSKU-1,25\n\"SKU-2\", 7.5\n").expect("write");
    let text = format!(
        "[kpis]\nreorder_points_file = {:?}\n[kpis.reorder_points]\n\"SKU-2\" = 9\n\"SKU-3\" = \"40\"\n",
        csv.display().to_string()
    );
    let config = Config::from_toml(&text, "x").expect("valid");
    let points = config.kpis.load_reorder_points().expect("readable");
    let listed: Vec<(String, String)> = points
        .iter()
        .map(|(sku, point)| (sku.clone(), point.to_string()))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("SKU-1".to_owned(), "25".to_owned()),
            ("SKU-2".to_owned(), "9".to_owned()),
            ("SKU-3".to_owned(), "40".to_owned()),
        ]
    );
    std::fs::write(&csv, "\u{feff}SKU-9,3\n").expect("write");
    let points = config.kpis.load_reorder_points().expect("readable");
    assert_eq!(
        points.get("SKU-9").map(ToString::to_string),
        Some("3".to_owned()),
        "a BOM is not part of the first SKU"
    );
    std::fs::write(&csv, "SKU-1,25\nSKU-2,lots\n").expect("write");
    let error = config.kpis.load_reorder_points().expect_err("bad line");
    assert!(
        error.contains("line 2") && error.contains("SKU-2,lots"),
        "{error}"
    );
}

#[test]
fn the_example_config_has_an_odoo_source() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sightline.example.toml");
    let config = Config::load(&path).expect("the shipped example is valid");
    let odoo = &config.sources.odoo;
    assert_eq!(odoo.source(), "odoo/prod");
    let webhook = odoo.webhook.as_ref().expect("webhook");
    assert_eq!(
        webhook.token_source(),
        Some(SecretSource::Env("ODOO_WEBHOOK_TOKEN".into()))
    );
    let poller = odoo.poller.as_ref().expect("poller");
    assert!(!poller.uses_json2());
    assert_eq!(poller.overlap.0, Duration::from_secs(300));
    assert_eq!(poller.model_names(), crate::ODOO_MODELS);
    let postgres = odoo.postgres.as_ref().expect("postgres");
    assert_eq!(
        postgres.connection_source(),
        Some(SecretSource::Env("ODOO_OUTBOX_DSN".into()))
    );
    assert_eq!(postgres.batch, 1000);
}

#[test]
fn odoo_settings_are_validated_with_key_and_line() {
    assert!(!Config::default().sources.odoo.is_enabled());
    let tokenless = "[sources.odoo]\ninstance = \"prod\"\n\n[sources.odoo.webhook]\n";
    let error = Config::from_toml(tokenless, "x")
        .expect_err("no token")
        .to_string();
    assert!(
        error.contains("line 2: sources.odoo.webhook.token_env")
            && error.contains("exactly one way"),
        "{error}"
    );
    let bad_version = "[sources.odoo.poller]\nurl = \"https://odoo.example.com\"\ndb = \"prod\"\nversion = 15\nuid = 2\npassword_env = \"P\"\n";
    let error = Config::from_toml(bad_version, "x")
        .expect_err("Odoo 15")
        .to_string();
    assert!(
        error.contains("line 4: sources.odoo.poller.version"),
        "{error}"
    );
    let no_user = "[sources.odoo.poller]\nurl = \"https://odoo.example.com\"\ndb = \"prod\"\nversion = 17\npassword_env = \"P\"\n";
    let error = Config::from_toml(no_user, "x")
        .expect_err("no uid")
        .to_string();
    assert!(error.contains("uid") && error.contains("login"), "{error}");
    let json2 = "[sources.odoo.poller]\nurl = \"https://odoo.example.com\"\ndb = \"prod\"\nversion = 19\npassword_env = \"ODOO_KEY\"\nmodels = [\"sale.order\"]\noverlap = \"2m\"\n";
    let config = Config::from_toml(json2, "x").expect("JSON-2 needs no uid");
    let poller = config.sources.odoo.poller.as_ref().expect("poller");
    assert!(poller.uses_json2());
    assert_eq!(poller.overlap.0, Duration::from_secs(120));
    let bad_model = "[sources.odoo.poller]\nurl = \"https://odoo.example.com\"\ndb = \"prod\"\nversion = 19\npassword_env = \"K\"\nmodels = [\"sale.order\",\n  \"res.partner\"]\n";
    let error = Config::from_toml(bad_model, "x")
        .expect_err("unknown model")
        .to_string();
    assert!(
        error.contains("line 7") && error.contains("res.partner"),
        "{error}"
    );
    let typo = "[sources.odoo.postgres]\nconnection_env = \"DSN\"\nbatchh = 5\n";
    let error = Config::from_toml(typo, "x").expect_err("typo").to_string();
    assert!(
        error.contains("line 3") && error.contains("batchh"),
        "{error}"
    );
    let bad_currency = "[sources.odoo]\ncurrency = \"euro\"\n";
    let error = Config::from_toml(bad_currency, "x")
        .expect_err("bad code")
        .to_string();
    assert!(error.contains("line 2: sources.odoo.currency"), "{error}");
    let bad_map = "[sources.odoo.locations]\nstock = \"berlin\"\n";
    let error = Config::from_toml(bad_map, "x")
        .expect_err("not an id")
        .to_string();
    assert!(error.contains("sources.odoo.locations.stock"), "{error}");
    let inline = "[sources.odoo.webhook]\ntoken = \"hush-odoo\"\n\n[sources.odoo.postgres]\nconnection = \"host=db password=hush-pg\"\n";
    let config = Config::from_toml(inline, "x").expect("inline secrets");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hush-odoo") && !debug.contains("hush-pg"),
        "secrets never print: {debug}"
    );
}

#[test]
fn the_default_dashboard_has_the_product_layout() {
    let config = Config::from_toml("", "test").expect("empty is valid");
    let rows = config.dashboard.layout(&|_| true);
    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["top", "middle", "bottom"]);
    let ids: Vec<Vec<&str>> = rows
        .iter()
        .map(|row| {
            row.panels
                .iter()
                .map(|panel| panel.config.id.as_str())
                .collect()
        })
        .collect();
    assert_eq!(
        ids[0],
        [
            "revenue_today",
            "orders_per_minute",
            "active_users",
            "average_order_value"
        ]
    );
    assert_eq!(ids[1].len(), 5);
    assert_eq!(ids[2].len(), 7);
    let bars = &rows[1].panels[0];
    assert_eq!(bars.config.kind, PanelKind::Bars);
    assert_eq!(bars.span_seconds, Some(86_400));
    let json = serde_json::to_value(&rows[1].panels[0]).expect("serialises");
    assert_eq!(json["kind"], "bars");
    assert_eq!(json["window"], "1h");
    assert_eq!(json["span_seconds"], 86_400);
}

#[test]
fn a_configured_panel_replaces_a_default_one_or_joins_its_row() {
    let text = r#"
[dashboard]
title = "Acme live"

[[dashboard.panels]]
id = "payments"
row = "middle"
title = "Payment failures"
kind = "groups"
kpis = ["payment_failure_rate"]
format = "percent"
thresholds = [{ above = 0.5, level = "critical" }]

[[dashboard.panels]]
id = "returns"
row = "returns row"
title = "Returns today"
kind = "number"
kpis = ["returns_today"]
format = "money"
width = 6
"#;
    let config = Config::from_toml(text, "test").expect("valid");
    let rows = config.dashboard.layout(&|kpi| kpi != "active_users");
    assert!(
        rows[0]
            .panels
            .iter()
            .all(|panel| panel.config.id != "active_users"),
        "a default panel over an undefined KPI is left out"
    );
    assert_eq!(config.dashboard.title, "Acme live");
    let payments = rows[1]
        .panels
        .iter()
        .find(|panel| panel.config.id == "payments")
        .expect("still in the middle row");
    assert_eq!(payments.config.thresholds.len(), 1);
    assert_eq!(rows[1].panels.len(), 5, "replaced, not added");
    assert_eq!(rows[3].name, "returns row");
    assert_eq!(rows[3].panels[0].config.kpis, ["returns_today"]);
    assert_eq!(
        config
            .dashboard
            .undefined_kpis(&|kpi| kpi != "returns_today"),
        [("returns".to_owned(), "returns_today".to_owned())]
    );

    let only_mine = format!("{}\ninclude_default = false\n", "[dashboard]");
    let config = Config::from_toml(&only_mine, "test").expect("valid");
    assert!(config.dashboard.layout(&|_| true).is_empty());
}

#[test]
fn a_bad_panel_is_named_with_its_line() {
    let cases = [
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"pie\"\nkpis = [\"orders\"]\n",
            "pie",
        ),
        (
            "[[dashboard.panels]]\nid = \"a b\"\ntitle = \"A\"\nkind = \"number\"\nkpis = [\"orders\"]\n",
            "dashboard.panels[0].id",
        ),
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"number\"\nkpis = []\n",
            "dashboard.panels[0].kpis",
        ),
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"number\"\nkpis = [\"orders\"]\nwidth = 13\n",
            "dashboard.panels[0].width",
        ),
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"bars\"\nkpis = [\"orders\"]\n",
            "dashboard.panels[0].span",
        ),
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"number\"\nkpis = [\"orders\"]\nthresholds = [{ above = 1, below = 2, level = \"warning\" }]\n",
            "thresholds[0]",
        ),
        (
            "[[dashboard.panels]]\nid = \"a\"\ntitle = \"A\"\nkind = \"number\"\nkpis = [\"x\"]\n[[dashboard.panels]]\nid = \"a\"\ntitle = \"B\"\nkind = \"number\"\nkpis = [\"y\"]\n",
            "configured twice",
        ),
    ];
    for (text, expected) in cases {
        let error = Config::from_toml(text, "test").expect_err(text).to_string();
        assert!(error.contains(expected), "{text}\n→ {error}");
        assert!(error.contains("line"), "{error}");
    }
}
