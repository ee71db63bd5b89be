//! `sightline check`: validate a configuration and say what it defines.

use std::path::Path;

use sightline_config::Config;

pub fn run(path: Option<&Path>) -> anyhow::Result<()> {
    let (config, origin) = match path {
        Some(path) => (Config::load(path)?, path.display().to_string()),
        None => (
            Config::default(),
            "built-in defaults (no --config given)".to_owned(),
        ),
    };
    println!("configuration OK: {origin}");
    println!("  listen            {}", config.server.listen);
    println!("  data dir          {}", config.storage.data_dir.display());
    println!("  max body          {}", config.server.max_body);
    println!(
        "  timeouts          headers {}, body {}",
        config.server.header_timeout, config.server.body_timeout
    );
    println!(
        "  event log         segments of {}, retention {} / {}",
        config.log.segment_size,
        config
            .log
            .retention_age
            .map_or("unlimited".to_owned(), |age| age.to_string()),
        config
            .log
            .retention_size
            .map_or("unlimited".to_owned(), |size| size.to_string()),
    );
    println!(
        "  dedup             horizon {}, at most {} identities",
        config.dedup.horizon, config.dedup.max_keys
    );
    println!(
        "  dead letters      retention {} / {}",
        config.dead_letters.retention_age, config.dead_letters.retention_size
    );
    println!(
        "  currency          reporting {}",
        config.currency.reporting.get_ref()
    );
    for (code, rate) in &config.currency.rates {
        println!(
            "    rate            1 {} = {} {}",
            code.get_ref(),
            rate.get_ref(),
            config.currency.reporting.get_ref()
        );
    }
    println!(
        "  time              zone {}, disorder bound {}, allowed lateness {}, idle after {}",
        config.time.zone,
        config.time.disorder_bound,
        config.time.allowed_lateness,
        config.time.idle_timeout
    );
    println!(
        "  history           minute windows {}, hourly {}, daily {}; in memory {}",
        config.history.minute_windows,
        config.history.hourly_windows,
        config.history.daily_windows,
        config.history.keep_in_memory
    );
    let reorder_points = config
        .kpis
        .load_reorder_points()
        .map_err(|message| anyhow::anyhow!(message))?;
    let kpis = crate::kpis::compile_kpis(&config)?;
    crate::kpis::check_alerting(&config, &kpis)?;
    println!("  KPIs              {}", kpis.len());
    for kpi in &kpis {
        let windows: Vec<String> = kpi.windows.iter().map(|spec| spec.label()).collect();
        let value = kpi
            .value
            .as_ref()
            .map_or(String::new(), |path| format!(" of {path}"));
        let groups = if kpi.group_by.is_empty() {
            String::new()
        } else {
            format!(
                " by {}",
                kpi.group_by
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let mut extras = String::new();
        if let Some(compare) = &kpi.compare {
            extras.push_str(&format!(
                "; compared with {} local days earlier",
                compare.days_back
            ));
        }
        if let Some(low_at) = kpi.low_at {
            extras.push_str(&format!("; low at {low_at}"));
            if kpi.low_at_by.is_some() {
                extras.push_str(&format!(
                    " unless one of {} reorder points applies",
                    reorder_points.len()
                ));
            }
        }
        println!(
            "    {:<26} {}{value}{groups} over {} [{}]{extras}",
            kpi.name,
            kpi.aggregate.as_str(),
            kpi.events.join(", "),
            windows.join(", ")
        );
    }
    let alerts = sightline_server::alerting::load_config(&config)?;
    println!(
        "  alert rules       {}{}",
        alerts.rules.len(),
        match &config.alerts.file {
            Some(path) => format!(" from {}", path.display()),
            None => " (no [alerts] file)".to_owned(),
        }
    );
    for rule in &alerts.rules {
        println!(
            "    {:<26} {:<8} over {}{}",
            rule.name,
            rule.severity.as_str(),
            rule.kpi,
            rule.window
                .as_deref()
                .map_or(String::new(), |window| format!(" [{window}]"))
        );
    }
    let receivers = sightline_server::alerting::load_receivers(&config)?;
    println!(
        "  receivers         {}",
        if receivers.is_empty() {
            "none configured".to_owned()
        } else {
            receivers
                .iter()
                .map(|receiver| {
                    format!(
                        "{} ({})",
                        receiver.name,
                        receiver.kind.map_or("?", |kind| kind.as_str())
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    let missing = sightline_server::alerting::unconfigured_receivers(&alerts, &receivers);
    if !alerts.rules.is_empty() && !missing.is_empty() {
        println!(
            "    not configured: {} — routes or escalation levels name them; what is sent to them is given up (each alert's history says so). Add a [[receiver]] for each, or route elsewhere.",
            missing.join(", ")
        );
    }
    let is_defined = |name: &str| kpis.iter().any(|kpi| kpi.name == name);
    let rows = config.dashboard.layout(&is_defined);
    let panel_count: usize = rows.iter().map(|row| row.panels.len()).sum();
    println!(
        "  dashboard         {:?}: {panel_count} panel(s) in {} row(s){}",
        config.dashboard.title,
        rows.len(),
        if config.dashboard.include_default {
            ", the default layout with the configured panels"
        } else {
            ", the configured panels only"
        }
    );
    for row in &rows {
        for panel in &row.panels {
            let reads = if panel.config.kpis.is_empty() {
                "the alert API".to_owned()
            } else {
                panel.config.kpis.join(", ")
            };
            println!(
                "    {:<26} {:<7} {:<13} {:?} of {reads}",
                panel.config.id,
                row.name,
                panel.config.kind.as_str(),
                panel.config.title
            );
        }
    }
    let shopify = &config.sources.shopify;
    let mut sources = Vec::new();
    if !shopify.shops.is_empty() {
        sources.push(format!(
            "{} Shopify shop(s) at POST /v1/sources/shopify",
            shopify.shops.len()
        ));
    }
    if config.sources.odoo.is_enabled() {
        sources.push(format!("Odoo {}", config.sources.odoo.source()));
    }
    println!(
        "  sources           {}",
        if sources.is_empty() {
            "none".to_owned()
        } else {
            sources.join("; ")
        }
    );
    for shop in &shopify.shops {
        let secret = shop
            .secret_source()
            .map_or_else(|| "no secret".to_owned(), |source| source.to_string());
        let rotation = shop
            .previous_secret_source()
            .map_or(String::new(), |source| {
                let until = shop.previous_secret_until.as_ref().map_or_else(
                    || "until removed".to_owned(),
                    |until| format!("until {}", until.get_ref()),
                );
                format!(", previous secret from {source} {until}")
            });
        let token = shop.access_token_source().map_or_else(
            || "no access token (reconcile off)".to_owned(),
            |source| format!("access token from {source}"),
        );
        println!(
            "    shopify         {} (source shopify/{}): secret from {secret}{rotation}; {token}; Admin API {} {}; test orders {}",
            shop.domain.get_ref(),
            shop.domain.get_ref(),
            shop.admin_base_url(),
            shopify.api_version,
            if shop.include_test_orders {
                "counted"
            } else {
                "kept apart"
            },
        );
        // The secret is read the way `serve` reads it (never printed), so a missing
        // variable or file shows here rather than at start-up.
        if let Err(error) = sightline_sources::shopify::Shop::from_config(shop) {
            println!("  warning: {error}");
        }
    }
    print_odoo(&config);
    for warning in config.warnings() {
        println!("  warning: {warning}");
    }
    Ok(())
}

fn print_odoo(config: &Config) {
    let odoo = &config.sources.odoo;
    if !odoo.is_enabled() {
        return;
    }
    let mut ways = Vec::new();
    if let Some(webhook) = &odoo.webhook {
        let token = webhook
            .token_source()
            .map_or_else(|| "no token".to_owned(), |source| source.to_string());
        let previous = webhook
            .previous_token_source()
            .map_or(String::new(), |source| {
                format!(", previous token from {source}")
            });
        ways.push(format!(
            "webhook at POST /v1/sources/odoo/<token> (token from {token}{previous})"
        ));
    }
    if let Some(poller) = &odoo.poller {
        let api = if poller.uses_json2() {
            format!("JSON-2 {}/json/2", poller.base_url())
        } else {
            format!("JSON-RPC {}/jsonrpc", poller.base_url())
        };
        let user = match (poller.uid, &poller.login) {
            (Some(uid), _) => format!("uid {uid}"),
            (None, Some(login)) => format!("login {login}"),
            (None, None) => "API key".to_owned(),
        };
        let secret = poller
            .password_source()
            .map_or_else(|| "no secret".to_owned(), |source| source.to_string());
        ways.push(format!(
            "poller of Odoo {} over {api}, database {}, {user}, secret from {secret}; every {}, overlap {}, {} per page; models {}",
            poller.version.get_ref(),
            poller.db,
            poller.interval,
            poller.overlap,
            poller.page_size,
            poller.model_names().join(", ")
        ));
    }
    if let Some(postgres) = &odoo.postgres {
        let connection = postgres
            .connection_source()
            .map_or_else(|| "nowhere".to_owned(), |source| source.to_string());
        let built = if cfg!(feature = "postgres") {
            ""
        } else {
            " (this build lacks the `postgres` feature: off)"
        };
        ways.push(format!(
            "PostgreSQL outbox (connection string from {connection}), {} rows per commit, rescan every {}{built}",
            postgres.batch, postgres.rescan
        ));
    }
    println!(
        "    odoo            {} (source {}): {} way(s) in",
        odoo.instance.get_ref(),
        odoo.source(),
        ways.len()
    );
    for way in ways {
        println!("      {way}");
    }
    // Read the way `serve` reads them (never printed).
    if let Err(error) = sightline_sources::odoo::check_secrets(odoo) {
        println!("  warning: {error}");
    }
}
