//! What a backup of an SQLite database needs: a consistent copy taken
//! while Berth runs, rid of what only made sense to the running process.

use crate::{Backend, Db, DbError};

/// Writes a consistent copy of the whole database to the file `to` (SQLite's
/// `VACUUM INTO`: one read transaction, writers go on meanwhile).
pub async fn snapshot(db: &Db, to: &str) -> Result<(), DbError> {
    if db.backend() != Backend::Sqlite {
        return Err(DbError::Unsupported(
            "a snapshot is taken of SQLite databases only",
        ));
    }
    sqlx::query("VACUUM INTO $1")
        .bind(to)
        .execute(db.reader())
        .await?;
    Ok(())
}

/// Drops from a copy what its bytes were never copied for: upload sessions
/// and a collection's trash.
pub async fn forget_in_flight(db: &Db) -> Result<(), DbError> {
    let mut tx = db.begin().await?;
    for sql in ["DELETE FROM upload", "DELETE FROM blob_trash"] {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    crate::commit(tx).await
}

/// Every blob the database names, with its size.
pub async fn blobs(db: &Db) -> Result<Vec<(String, i64)>, DbError> {
    Ok(
        sqlx::query_as("SELECT digest, size FROM blob WHERE size >= 0 ORDER BY digest")
            .fetch_all(db.reader())
            .await?,
    )
}
