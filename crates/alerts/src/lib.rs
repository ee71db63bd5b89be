//! Alerting: rules over KPI values, each alert's lifecycle, routing to receivers,
//! silences, inhibition, grouping and escalation — as pure state machines on a clock the
//! caller passes in, so every scenario is tested without waiting.
