//! Building the engine from the configuration: the built-in pack plus the user's files.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use sightline_config::Config;
use sightline_engine::definition::CompiledKpi;
use sightline_engine::{COMMERCE_PACK, Calendar, Engine, EngineOptions, KpiPack, TimePolicy};
use sightline_history::{HistoryStore, RetentionPolicy};
use sightline_server::kpis::RunnerStorage;

/// Every KPI the configuration asks for, compiled.
pub fn compile_kpis(config: &Config) -> anyhow::Result<Vec<CompiledKpi>> {
    let mut pack = KpiPack { kpis: Vec::new() };
    if config.kpis.builtin_pack {
        pack.kpis
            .extend(KpiPack::from_toml(COMMERCE_PACK, "built-in commerce pack")?.kpis);
    }
    for path in &config.kpis.files {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "cannot read the KPI file {} named in kpis.files",
                path.display()
            )
        })?;
        pack.kpis
            .extend(KpiPack::from_toml(&text, &path.display().to_string())?.kpis);
    }
    let calendar = Calendar::new(&config.time.zone)
        .map_err(|message| anyhow::anyhow!("time.zone: {message}"))?;
    let compiled = pack.compile(&calendar)?;
    let is_defined = |name: &str| compiled.iter().any(|kpi| kpi.name == name);
    if let Some((panel, kpi)) = config.dashboard.undefined_kpis(&is_defined).first() {
        anyhow::bail!(
            "dashboard panel {panel:?} reads the KPI {kpi:?}, which no KPI defines; fix the name, or define it in a file listed in kpis.files"
        );
    }
    Ok(compiled)
}

pub fn engine_options(config: &Config) -> anyhow::Result<EngineOptions> {
    let micros =
        |duration: std::time::Duration| i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
    let reorder_points = config
        .kpis
        .load_reorder_points()
        .map_err(|message| anyhow::anyhow!(message))?;
    Ok(EngineOptions {
        time: TimePolicy {
            disorder_bound_us: micros(config.time.disorder_bound.0),
            allowed_lateness_us: micros(config.time.allowed_lateness.0),
            idle_timeout_us: micros(config.time.idle_timeout.0),
        },
        reporting_currency: config.currency.reporting.get_ref().clone(),
        rates: config
            .currency
            .rates
            .iter()
            .map(|(code, rate)| (code.get_ref().clone(), *rate.get_ref()))
            .collect::<HashMap<_, _>>(),
        keep_final_for_us: micros(config.history.keep_in_memory.0),
        reorder_points: reorder_points.into_iter().collect(),
    })
}

/// Where the KPI runner keeps its checkpoint and history, under the data directory.
pub fn runner_storage(config: &Config, data_dir: &Path) -> anyhow::Result<RunnerStorage> {
    let retention = RetentionPolicy {
        minute_us: config.history.minute_windows.as_micros(),
        hourly_us: config.history.hourly_windows.as_micros(),
        daily_us: config.history.daily_windows.as_micros(),
    };
    let history_dir = data_dir.join("history");
    let history = HistoryStore::open(&history_dir, retention)
        .with_context(|| format!("cannot open the KPI history in {}", history_dir.display()))?;
    Ok(RunnerStorage {
        checkpoint_dir: Some(data_dir.join("engine")),
        checkpoint_every: config.engine.checkpoint_interval.0,
        history: Some(history),
    })
}

pub fn build_engine(config: &Config) -> anyhow::Result<Engine> {
    Ok(Engine::new(compile_kpis(config)?, engine_options(config)?))
}

/// The engine of a server, which also evaluates alert rules: `build_engine`, refusing an
/// alerting file whose rules read KPIs or windows that `kpis` lacks, or whose receivers
/// cannot start (secrets included), so the problem stops the start rather than the
/// first notification. `sightline import` has no alerting and skips this.
pub fn build_server_engine(config: &Config) -> anyhow::Result<Engine> {
    let kpis = compile_kpis(config)?;
    check_alerting(config, &kpis)?;
    Ok(Engine::new(kpis, engine_options(config)?))
}

/// See [`build_server_engine`]; `sightline check` calls it too.
pub fn check_alerting(config: &Config, kpis: &[CompiledKpi]) -> anyhow::Result<()> {
    let alerts = sightline_server::alerting::load_config(config)?;
    let windows_of = |name: &str| {
        kpis.iter()
            .find(|kpi| kpi.name == name)
            .map(|kpi| kpi.windows.iter().map(|spec| spec.label()).collect())
    };
    if let Some(problem) =
        sightline_server::alerting::undefined_references(&alerts, &windows_of).first()
    {
        anyhow::bail!("{problem}; fix the rule in the alerting file ([alerts] file)");
    }
    let receivers = sightline_server::alerting::load_receivers(config)?;
    sightline_notify::Receivers::from_config(&receivers)?;
    Ok(())
}
