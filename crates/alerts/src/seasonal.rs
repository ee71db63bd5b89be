//! Seasonal bounds: the current hour's expected value and its prediction interval,
//! forecast from the series' own hourly history. Business KPIs follow the day (a 3 AM low,
//! a 3 PM high) and the week (quiet weekends) and drift between the two: a static
//! threshold cannot tell the night from an outage, and a dynamic one (the same hour of past
//! weeks) ignores how the last hours went. MSTL splits the last `days` days of hourly
//! values into a daily (24) and — once there are two weeks, enough to see it twice — a
//! weekly (168) seasonal component plus a trend; the trend's last level plus each seasonal
//! component one period back is the forecast, and the one-step-ahead prediction interval
//! at `level` gives the lower and upper bounds. Fitting once per series and hour keeps the
//! cost out of the per-update path. Because the fit includes the hours just before, a drop
//! that lasts pulls the level down and the bounds follow it within hours: the rule catches
//! the break, not a new normal.

use std::panic::{AssertUnwindSafe, catch_unwind};

use augurs_core::{Fit, Predict};
use augurs_mstl::MSTLModel;

use crate::evaluate::Bounds;
use crate::rule::SeasonalBounds;

const DAY_HOURS: usize = 24;
const WEEK_HOURS: usize = 7 * DAY_HOURS;

/// The bounds for the hour right after `hours` (one value per hour, oldest first, `None`
/// where history has nothing), or `None` while the rule is learning: fewer than
/// `min_days` days' worth of hours with a value, or a fit that failed.
pub fn bounds(hours: &[Option<f64>], seasonal: &SeasonalBounds) -> Option<Bounds> {
    let present = hours.iter().filter(|hour| is_value(hour)).count();
    if present < seasonal.min_days as usize * DAY_HOURS {
        return None;
    }
    let last_present = hours.iter().rposition(is_value)?;
    // Hours after the last value (a series that stopped reporting) are forecast across,
    // not made up: the interval widens with every step.
    let horizon = hours.len() - last_present;
    let series = fill_gaps(hours);
    // `min_days` ≥ 2 leaves at least two days; a period needs two full cycles to be fitted.
    // The periods count elapsed hours: after a DST change the history before it is an hour
    // off the wall clock until it ages out of the fitted days.
    let periods = if series.len() >= 2 * WEEK_HOURS {
        vec![DAY_HOURS, WEEK_HOURS]
    } else {
        vec![DAY_HOURS]
    };
    // Counts and money vary in proportion to their level (an afternoon hour of 200 orders
    // swings by more than a night hour of 20): fitted on a log scale, one interval width
    // fits every hour. A series with negative values (a balance, a change) stays linear.
    let logarithmic = series.iter().all(|value| *value >= 0.0);
    let transformed: Vec<f64> = if logarithmic {
        series.iter().map(|value| value.ln_1p()).collect()
    } else {
        series
    };
    let back = |value: f64| if logarithmic { value.exp_m1() } else { value };
    // augurs fits in f32 (about seven significant digits): centred and scaled, they are
    // spent on the variation, not on the level of revenue in the millions.
    let (centre, scale) = centre_and_scale(&transformed);
    let scaled: Vec<f64> = transformed
        .iter()
        .map(|value| (value - centre) / scale)
        .collect();
    // A panic in third-party numeric code must cost one rule an hour of learning, not the
    // evaluation round of every rule.
    let forecast = catch_unwind(AssertUnwindSafe(|| {
        // The naive trend (the last deseasonalised level), not AutoETS: about 1 ms instead
        // of 15–20 ms per fit of four weeks; on synthetic hourly KPIs ETS's intervals were
        // narrower than its errors (two to three times the hours outside them), and it
        // follows an outage in the last hours no less.
        let fitted = MSTLModel::naive(periods.clone()).fit(&scaled).ok()?;
        let forecast = fitted.predict(horizon, seasonal.level).ok()?;
        let components = fitted.fit();
        let half_width = one_step_error(&scaled, components.seasonal(), &periods, seasonal.level);
        Some((forecast, half_width))
    }))
    .ok()
    .flatten()?;
    let (forecast, empirical_half_width) = forecast;
    let step = horizon - 1;
    let fitted_point = *forecast.point.get(step)?;
    let intervals = forecast.intervals.as_ref()?;
    // The wider of augurs' interval (the trend's own error only) and the errors this very
    // forecast would have made over the last week, so the bounds hold `level` of normal
    // hours rather than a third of that.
    let fitted_lower = intervals
        .lower
        .get(step)?
        .min(fitted_point - empirical_half_width);
    let fitted_upper = intervals
        .upper
        .get(step)?
        .max(fitted_point + empirical_half_width);
    let point = back(fitted_point * scale + centre);
    let lower = back(fitted_lower * scale + centre);
    let upper = back(fitted_upper * scale + centre);
    if !(point.is_finite() && lower.is_finite() && upper.is_finite()) {
        return None;
    }
    Some(Bounds {
        mean: point,
        lower: lower.min(point - seasonal.min_delta),
        upper: upper.max(point + seasonal.min_delta),
        samples: present,
    })
}

/// The `level` quantile of the absolute error of the one-step forecast the bounds use —
/// the hour before, deseasonalised, plus each seasonal component one period before —
/// over the last week of the fitted series. augurs' interval comes from the trend alone
/// and leaves out how much the seasonal shape itself varies from cycle to cycle; on hourly
/// business data that put three to six times `1 - level` of normal hours outside it.
fn one_step_error(series: &[f64], seasonal: &[Vec<f32>], periods: &[usize], level: f64) -> f64 {
    let longest = periods.iter().copied().max().unwrap_or(DAY_HOURS);
    let first = longest.max(series.len().saturating_sub(WEEK_HOURS)).max(1);
    let mut errors: Vec<f64> = (first..series.len())
        .filter_map(|index| {
            // The naive trend: the hour before, deseasonalised.
            let mut forecast = series[index - 1];
            for (period, component) in periods.iter().zip(seasonal) {
                forecast -= f64::from(*component.get(index - 1)?);
                forecast += f64::from(*component.get(index.checked_sub(*period)?)?);
            }
            Some((series[index] - forecast).abs())
        })
        .filter(|error| error.is_finite())
        .collect();
    if errors.is_empty() {
        return 0.0;
    }
    errors.sort_by(f64::total_cmp);
    // Nearest rank: the smallest error at least `level` of them do not exceed.
    let rank = ((level * errors.len() as f64).ceil() as usize).clamp(1, errors.len());
    errors[rank - 1]
}

fn is_value(hour: &Option<f64>) -> bool {
    hour.is_some_and(f64::is_finite)
}

/// The hours from the first value to the last, gaps between them interpolated linearly
/// (MSTL needs evenly spaced values; augurs-mstl 0.10 accepts an `impute` option but does
/// not apply it).
fn fill_gaps(hours: &[Option<f64>]) -> Vec<f64> {
    let mut filled = Vec::with_capacity(hours.len());
    let mut previous: Option<(usize, f64)> = None;
    for (index, hour) in hours.iter().enumerate() {
        let Some(value) = hour.filter(|value| value.is_finite()) else {
            continue;
        };
        if let Some((previous_index, previous_value)) = previous {
            let gap = (index - previous_index) as f64;
            for step in 1..index - previous_index {
                filled.push(previous_value + (value - previous_value) * step as f64 / gap);
            }
        }
        filled.push(value);
        previous = Some((index, value));
    }
    filled
}

/// The mean and standard deviation, the latter 1 for a flat (or overflowing) series.
fn centre_and_scale(series: &[f64]) -> (f64, f64) {
    let count = series.len().max(1) as f64;
    let mean = series.iter().sum::<f64>() / count;
    let deviation = (series
        .iter()
        .map(|value| (value - mean).powi(2))
        .sum::<f64>()
        / count)
        .sqrt();
    if deviation.is_finite() && deviation > 0.0 {
        (mean, deviation)
    } else {
        (mean, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Direction;

    fn seasonal(days: u32, min_days: u32) -> SeasonalBounds {
        SeasonalBounds {
            days,
            min_days,
            level: 0.99,
            direction: Direction::Both,
            min_delta: 0.0,
        }
    }

    /// A daily cycle (20 at 3 AM, 200 at 3 PM), hour 0 being midnight.
    fn daily_cycle(hour: usize) -> f64 {
        let hour_of_day = (hour % DAY_HOURS) as f64;
        110.0 - 90.0 * ((hour_of_day - 3.0) * std::f64::consts::PI / 12.0).cos()
    }

    #[test]
    fn gaps_are_interpolated_between_values_and_the_ends_trimmed() {
        let hours = [
            None,
            Some(1.0),
            None,
            None,
            Some(4.0),
            Some(f64::NAN),
            Some(6.0),
            None,
        ];
        assert_eq!(fill_gaps(&hours), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn too_few_hours_with_a_value_is_learning() {
        let hours: Vec<Option<f64>> = (0..28 * DAY_HOURS)
            .map(|hour| (hour % 3 == 0).then(|| daily_cycle(hour)))
            .collect();
        // 224 of 672 hours: fewer than 14 days' worth.
        assert_eq!(bounds(&hours, &seasonal(28, 14)), None);
        assert!(bounds(&hours, &seasonal(28, 9)).is_some(), "9 days' worth");
    }

    #[test]
    fn the_forecast_follows_the_daily_cycle() {
        // Four weeks ending at 15:00: the next hour is the 3 PM high.
        let hours: Vec<Option<f64>> = (0..28 * DAY_HOURS)
            .map(|hour| Some(daily_cycle(hour + 15)))
            .collect();
        let afternoon = bounds(&hours, &seasonal(28, 14)).expect("enough history");
        assert!((afternoon.mean - 200.0).abs() < 1.0, "{afternoon:?}");
        assert!(afternoon.lower <= afternoon.mean && afternoon.mean <= afternoon.upper);
        assert_eq!(afternoon.samples, 28 * DAY_HOURS);
    }

    #[test]
    fn a_flat_history_is_widened_by_min_delta() {
        let hours = vec![Some(7.0); 3 * DAY_HOURS];
        let flat = SeasonalBounds {
            min_delta: 2.0,
            ..seasonal(3, 2)
        };
        let bounds = bounds(&hours, &flat).expect("a flat series fits");
        assert!((bounds.mean - 7.0).abs() < 1e-6, "{bounds:?}");
        assert!((bounds.lower - 5.0).abs() < 1e-6, "{bounds:?}");
        assert!((bounds.upper - 9.0).abs() < 1e-6, "{bounds:?}");
    }

    #[test]
    fn a_series_that_stopped_reporting_is_forecast_across_the_gap() {
        // Values until 12:00, then three hours of nothing: the forecast is for 15:00.
        let hours: Vec<Option<f64>> = (0..14 * DAY_HOURS + 15)
            .map(|hour| (hour < 14 * DAY_HOURS + 12).then(|| daily_cycle(hour)))
            .collect();
        let afternoon = bounds(&hours, &seasonal(15, 14)).expect("enough history");
        assert!((afternoon.mean - 200.0).abs() < 2.0, "{afternoon:?}");
    }
}
