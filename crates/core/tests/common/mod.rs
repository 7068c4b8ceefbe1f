//! What the core's integration tests share: the databases they run on.
#![allow(clippy::unwrap_used)]

/// A fresh SQLite database, and a fresh PostgreSQL one named after `test`
/// when `BERTH_TEST_DATABASE_URL` is set; the directory keeps SQLite's.
pub async fn databases(test: &str) -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let mut out = vec![(format!("sqlite://{}/t.db", dir.path().display()), Some(dir))];
    if let Ok(base) = std::env::var("BERTH_TEST_DATABASE_URL") {
        out.push((fresh_pg(&base, test).await, None));
    }
    out
}

async fn fresh_pg(base: &str, test: &str) -> String {
    use sqlx::Connection;
    let name = format!("berth_{test}test_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(base).await.unwrap();
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&sql).execute(&mut c).await.unwrap();
    }
    let (prefix, _) = base.rsplit_once('/').unwrap();
    format!("{prefix}/{name}")
}
