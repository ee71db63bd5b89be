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
    for warning in config.warnings() {
        println!("  warning: {warning}");
    }
    Ok(())
}
