//! Migrations and the bytewise order of names, on SQLite and (when
//! `BERTH_TEST_DATABASE_URL` is set) PostgreSQL.
#![allow(clippy::unwrap_used)]

use berth_db::{now_millis, repositories, Db};

async fn databases() -> Vec<(Db, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/t.db", dir.path().display());
    let mut out = vec![(Db::connect(&url).await.unwrap(), Some(dir))];
    if let Ok(base) = std::env::var("BERTH_TEST_DATABASE_URL") {
        out.push((
            Db::connect(&berth_testkit::fresh_pg(&base).await)
                .await
                .unwrap(),
            None,
        ));
    }
    out
}

#[tokio::test]
async fn migrations_are_idempotent_and_order_is_bytewise() {
    for (db, _dir) in databases().await {
        let mut tx = db.begin().await.unwrap();
        let now = now_millis();
        let a = repositories::ensure(&mut *tx, "p/B", "p", now, true)
            .await
            .unwrap();
        // A blob mounted later into the repository leaves it listed.
        let again = repositories::ensure(&mut *tx, "p/B", "p", now, false)
            .await
            .unwrap();
        assert_eq!(a, again);
        repositories::ensure(&mut *tx, "p/blobs-only", "p", now, false)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let listed = repositories::catalog(db.reader(), "", 10).await.unwrap();
        assert_eq!(listed, vec!["p/B"]);
        assert!(db.integrity_check().await.unwrap().is_empty());
        // Bytewise: "B" < "a"; a locale collation would put "a" first.
        let mut tx = db.begin().await.unwrap();
        for t in ["a", "B", "_z"] {
            let art = berth_db::artifacts::upsert(
                &mut *tx,
                &berth_db::artifacts::NewArtifact {
                    repository_id: a,
                    digest: &format!("sha256:{t}"),
                    media_type: "m",
                    artifact_type: None,
                    manifest: b"{}",
                    size: 2,
                    subject_digest: None,
                    annotations: None,
                    described: &Default::default(),
                    now,
                },
            )
            .await
            .unwrap();
            berth_db::tags::put(&mut *tx, (a, art), t, now, berth_db::tags::Existing::Move)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        let tags = berth_db::tags::list(db.reader(), a, "", 10).await.unwrap();
        assert_eq!(tags, vec!["B", "_z", "a"]);
    }
}

#[tokio::test]
async fn sweeping_keeps_the_newest_finished_runs_of_each_vendor() {
    use berth_db::jobs::{self, NewJob};
    for (db, _dir) in databases().await {
        let job = |vendor_id| NewJob {
            vendor_type: "WEBHOOK",
            vendor_id,
            trigger: "EVENT",
            extra_attrs: "{}",
            job_type: "WEBHOOK",
            params: "{}",
            max_runs: 1,
        };
        let mut tx = db.begin().await.unwrap();
        for i in 0..60 {
            let (e, _) = jobs::enqueue(&mut tx, &job(1), i).await.unwrap();
            // Finished: the last one stays running.
            if i < 59 {
                sqlx::query("UPDATE execution SET end_time = 1 WHERE id = $1")
                    .bind(e)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
        }
        for i in 0..3 {
            let (e, _) = jobs::enqueue(&mut tx, &job(2), i).await.unwrap();
            sqlx::query("UPDATE execution SET end_time = 1 WHERE id = $1")
                .bind(e)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
        assert_eq!(jobs::sweep(&db, 50).await.unwrap(), 10);
        let (_, one) = jobs::executions(&db, "WEBHOOK", Some(1), 0, 100)
            .await
            .unwrap();
        let (_, two) = jobs::executions(&db, "WEBHOOK", Some(2), 0, 100)
            .await
            .unwrap();
        assert_eq!((one, two), (50, 3));
        assert_eq!(jobs::sweep(&db, 50).await.unwrap(), 0);
    }
}

/// Writes queued behind a running one share its successor's transaction
/// on SQLite; one that fails or panics there must cost the others
/// nothing, and must leave nothing itself.
#[tokio::test]
async fn racing_writes_each_keep_their_own_outcome() {
    use berth_db::DbError;
    use std::sync::Arc;
    for (db, _dir) in databases().await {
        // The first write holds the writer until every other one is queued.
        let gate = Arc::new(tokio::sync::Semaphore::new(0));
        let writes = (0..32).map(|i| {
            let (db, gate) = (db.clone(), Arc::clone(&gate));
            tokio::spawn(async move {
                db.write(move |tx| {
                    let gate = Arc::clone(&gate);
                    Box::pin(async move {
                        let name = format!("p/r{i:02}");
                        repositories::ensure(&mut **tx, &name, "p", now_millis(), true).await?;
                        match i {
                            0 => drop(gate.acquire().await),
                            5 => panic!("a body panicked"),
                            i if i % 4 == 2 => return Err(DbError::Unsupported("refused")),
                            _ => {}
                        }
                        Ok(i)
                    })
                })
                .await
            })
        });
        let writes: Vec<_> = writes.collect();
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        gate.add_permits(64);
        let mut kept = Vec::new();
        for (i, w) in writes.into_iter().enumerate() {
            match w.await {
                Err(e) => assert!(e.is_panic() && i == 5, "{i}: {e}"),
                Ok(Err(e)) => assert!(i % 4 == 2, "{i}: {e}"),
                Ok(Ok(n)) => {
                    assert_eq!(n, i);
                    kept.push(format!("p/r{i:02}"));
                }
            }
        }
        assert_eq!(kept.len(), 32 - 8 - 1);
        let listed = repositories::catalog(db.reader(), "", 100).await.unwrap();
        assert_eq!(listed, kept);
    }
}
