//! Distribution's `registry_storage_action_seconds`: how long each storage
//! action takes, by driver and action (Distribution's action names where
//! one matches).

use prometheus::proto::MetricFamily;
use prometheus::{HistogramOpts, HistogramVec};
use std::sync::LazyLock;
use std::time::Duration;

static ACTION_SECONDS: LazyLock<HistogramVec> = LazyLock::new(|| {
    let opts = HistogramOpts::new(
        "registry_storage_action_seconds",
        "The number of seconds that the storage action takes",
    );
    HistogramVec::new(opts, &["driver", "action"]).unwrap_or_else(|_| unreachable!("valid metric"))
});

/// Counts one action.
pub(crate) fn observe(driver: &str, action: &str, took: Duration) {
    (ACTION_SECONDS.with_label_values(&[driver, action])).observe(took.as_secs_f64());
}

/// The storage metrics, for `/metrics`.
pub fn gather() -> Vec<MetricFamily> {
    use prometheus::core::Collector;
    ACTION_SECONDS.collect()
}
