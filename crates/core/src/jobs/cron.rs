//! Harbor's schedule types as 6-field crons.

use crate::error::{CoreError, CoreResult};
use berth_db::now_millis;

/// The cron of a Harbor schedule type (six fields, seconds first).
pub fn cron_for(cron_type: &str, cron: Option<&str>) -> CoreResult<String> {
    let cron = match cron_type {
        "Hourly" => "0 0 * * * *".to_string(),
        "Daily" => "0 0 0 * * *".to_string(),
        "Weekly" => "0 0 0 * * 0".to_string(),
        "Custom" | "Schedule" => cron
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| CoreError::BadRequest("a Custom schedule needs a cron".into()))?
            .trim()
            .to_string(),
        other => {
            return Err(CoreError::BadRequest(format!(
                "schedule type must be Hourly, Daily, Weekly, Custom, Manual or None, not {other:?}"
            )))
        }
    };
    next_after(&cron, now_millis())?;
    Ok(cron)
}

/// The first time after `after_ms` that a 6-field cron names.
pub fn next_after(cron: &str, after_ms: i64) -> CoreResult<i64> {
    use croner::parser::{CronParser, Seconds, Year};
    let bad =
        |e: &dyn std::fmt::Display| CoreError::BadRequest(format!("invalid cron {cron:?}: {e}"));
    let parsed = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Disallowed)
        .build()
        .parse(cron)
        .map_err(|e| bad(&e))?;
    // Whole seconds: the parser carries a start's fraction into its answer.
    let after = chrono::DateTime::from_timestamp(after_ms.div_euclid(1000), 0)
        .ok_or_else(|| CoreError::Internal("time out of range".into()))?;
    let next = parsed
        .find_next_occurrence(&after, false)
        .map_err(|e| bad(&e))?;
    Ok(next.timestamp_millis())
}
