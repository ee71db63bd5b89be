/// A KPI definition that cannot be run.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("KPI {kpi:?}: {message}")]
    InvalidKpi { kpi: String, message: String },
    #[error("two KPIs are named {0:?}; KPI names must be unique")]
    DuplicateKpi(String),
    #[error("the engine checkpoint cannot be used: {0}; the log is replayed instead")]
    Checkpoint(String),
}
