//! Scanner registrations: the scanners Berth calls, one of them the default.

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A stored registration.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub id: i64,
    pub uuid: String,
    pub name: String,
    pub description: String,
    /// The adapter's base URL (`builtin:` for the scanner inside Berth).
    pub url: String,
    pub disabled: bool,
    pub is_default: bool,
    /// `""`, `Basic`, `Bearer` or `APIKey`.
    pub auth: String,
    pub access_credential: String,
    pub skip_cert_verify: bool,
    pub use_internal_addr: bool,
    /// Shipped with Berth: not updated or deleted.
    pub immutable: bool,
    pub creation_time: i64,
    pub update_time: i64,
}

const COLUMNS: &str = "id, uuid, name, description, url, disabled, is_default, auth, access_cred, \
    skip_cert_verify, use_internal_addr, immutable, creation_time, update_time";

fn from_row(r: AnyRow) -> Result<Registration, DbError> {
    let flag = |i: usize| r.try_get::<i64, _>(i).map(|v| v != 0);
    Ok(Registration {
        id: r.try_get(0)?,
        uuid: r.try_get(1)?,
        name: r.try_get(2)?,
        description: r.try_get(3)?,
        url: r.try_get(4)?,
        disabled: flag(5)?,
        is_default: flag(6)?,
        auth: r.try_get(7)?,
        access_credential: r.try_get(8)?,
        skip_cert_verify: flag(9)?,
        use_internal_addr: flag(10)?,
        immutable: flag(11)?,
        creation_time: r.try_get(12)?,
        update_time: r.try_get(13)?,
    })
}

/// What a registration list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "name",
        column: "name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "description",
        column: "description",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "url",
        column: "url",
        kind: Kind::Text,
        within: None,
    },
];

/// One page of registrations matching `query` (oldest first unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Registration>, DbError> {
    let select = format!("SELECT {COLUMNS} FROM scanner_registration");
    query::page(ex, &select, query, "id", (offset, limit), from_row).await
}

/// Number of registrations matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    query::count(ex, "scanner_registration", query).await
}

/// A registration by uuid.
pub async fn by_uuid<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
) -> Result<Option<Registration>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM scanner_registration WHERE uuid = $1");
    sqlx::query(&sql)
        .bind(uuid)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// The system default registration.
pub async fn default<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Option<Registration>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM scanner_registration WHERE is_default = 1 LIMIT 1");
    sqlx::query(&sql)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Stores a new registration; its id.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    r: &Registration,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO scanner_registration (uuid, name, description, url, disabled, is_default, \
         auth, access_cred, skip_cert_verify, use_internal_addr, immutable, creation_time, \
         update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
    )
    .bind(&r.uuid)
    .bind(&r.name)
    .bind(&r.description)
    .bind(&r.url)
    .bind(i64::from(r.disabled))
    .bind(i64::from(r.is_default))
    .bind(&r.auth)
    .bind(&r.access_credential)
    .bind(i64::from(r.skip_cert_verify))
    .bind(i64::from(r.use_internal_addr))
    .bind(i64::from(r.immutable))
    .bind(r.creation_time)
    .bind(r.update_time)
    .fetch_one(ex)
    .await?)
}

/// Saves what an update may change (not the default flag or immutability).
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    r: &Registration,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE scanner_registration SET name = $2, description = $3, url = $4, disabled = $5, \
         auth = $6, access_cred = $7, skip_cert_verify = $8, use_internal_addr = $9, \
         update_time = $10 WHERE uuid = $1 AND immutable = 0",
    )
    .bind(&r.uuid)
    .bind(&r.name)
    .bind(&r.description)
    .bind(&r.url)
    .bind(i64::from(r.disabled))
    .bind(&r.auth)
    .bind(&r.access_credential)
    .bind(i64::from(r.skip_cert_verify))
    .bind(i64::from(r.use_internal_addr))
    .bind(r.update_time)
    .execute(ex)
    .await?;
    Ok(())
}

/// Makes one registration the default, in one statement so there is
/// always exactly one; false when it does not exist.
pub async fn set_default<'e>(
    ex: impl Executor<'e, Database = Any>,
    uuid: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE scanner_registration SET is_default = CASE WHEN uuid = $1 THEN 1 ELSE 0 END \
         WHERE EXISTS (SELECT 1 FROM scanner_registration WHERE uuid = $1)",
    )
    .bind(uuid)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a registration Berth did not ship, and every project's choice
/// of it; when it was the default, the built-in scanner is again. False
/// when none was deleted.
pub async fn delete(tx: &mut crate::Tx, uuid: &str) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM project_scanner WHERE registration_uuid = $1")
        .bind(uuid)
        .execute(&mut **tx)
        .await?;
    let was_default: Option<i64> = sqlx::query_scalar(
        "DELETE FROM scanner_registration WHERE uuid = $1 AND immutable = 0 RETURNING is_default",
    )
    .bind(uuid)
    .fetch_optional(&mut **tx)
    .await?;
    if was_default == Some(1) {
        sqlx::query("UPDATE scanner_registration SET is_default = 1 WHERE immutable = 1")
            .execute(&mut **tx)
            .await?;
    }
    Ok(was_default.is_some())
}

/// The registration a project's scans use: its own choice while that
/// exists, else the default.
pub async fn of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    project: &str,
) -> Result<Option<Registration>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM scanner_registration WHERE uuid = COALESCE(\
         (SELECT s.registration_uuid FROM project_scanner s \
          JOIN project p ON p.project_id = s.project_id \
          JOIN scanner_registration x ON x.uuid = s.registration_uuid WHERE p.name = $1), \
         (SELECT uuid FROM scanner_registration WHERE is_default = 1))"
    );
    sqlx::query(&sql)
        .bind(project)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Sets the scanner of a project.
pub async fn set_of_project<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    uuid: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO project_scanner (project_id, registration_uuid) VALUES ($1, $2) \
         ON CONFLICT (project_id) DO UPDATE SET registration_uuid = excluded.registration_uuid",
    )
    .bind(project_id)
    .bind(uuid)
    .execute(ex)
    .await?;
    Ok(())
}
