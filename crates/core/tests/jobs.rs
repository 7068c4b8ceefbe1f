//! The job service's runs on SQLite and (when `BERTH_TEST_DATABASE_URL` is
//! set) PostgreSQL.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use berth_core::jobs::{JobSettings, Jobs};
use berth_db::jobs::{self, NewJob};
use berth_db::{properties, Db};
use std::time::{Duration, Instant};

/// A run holding a write transaction across its heartbeats is not stalled
/// by them. On SQLite the heartbeat needs the one writer the run holds; a
/// heartbeat that waited for it without letting the run go on waited until
/// the pool gave up (half a minute), and every write of the process with it.
#[tokio::test]
async fn a_run_holding_the_writer_outlives_its_heartbeats() {
    for (url, _dir) in common::databases("jobs").await {
        let db = Db::connect(&url).await.unwrap();
        // Heartbeats every second.
        let settings = JobSettings {
            workers: 1,
            lease: Duration::from_secs(3),
        };
        let jobs = Jobs::new(db.clone(), settings);
        let held = db.clone();
        jobs.register("HOLD_WRITER", move |_| {
            let db = held.clone();
            async move {
                let fail = |e: berth_db::DbError| e.to_string();
                let mut tx = db.begin().await.map_err(fail)?;
                properties::set(&mut *tx, "held", "through two heartbeats")
                    .await
                    .map_err(fail)?;
                tokio::time::sleep(Duration::from_millis(2500)).await;
                berth_db::commit(tx).await.map_err(fail)
            }
        });
        jobs.start();
        let started = Instant::now();
        let job = NewJob {
            vendor_type: "HOLD_WRITER",
            vendor_id: 0,
            trigger: "MANUAL",
            extra_attrs: "{}",
            job_type: "HOLD_WRITER",
            params: "{}",
            max_runs: 1,
        };
        let execution = jobs.enqueue(&job).await.unwrap();
        let status = loop {
            let e = jobs::execution(db.reader(), execution)
                .await
                .unwrap()
                .unwrap();
            if e.status != jobs::PENDING && e.status != jobs::RUNNING {
                break e.status;
            }
            // The run takes 2.5 s; a stalled one would take over 30.
            let waited = started.elapsed();
            assert!(
                waited < Duration::from_secs(20),
                "still {} after {waited:?}",
                e.status
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(status, jobs::SUCCESS, "{url}");
        let kept = properties::get(db.reader(), "held").await.unwrap();
        assert_eq!(kept.as_deref(), Some("through two heartbeats"));
        jobs.shutdown().await;
    }
}
