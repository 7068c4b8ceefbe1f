//! Registry endpoints: the other registries Berth replicates with and
//! proxy-cache projects pull through.

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A stored endpoint; its access secret as sealed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// The adapter: `docker-registry`, `harbor`, `docker-hub` …
    pub kind: String,
    pub url: String,
    /// `basic`, or empty for none.
    pub credential_type: String,
    pub access_key: String,
    pub access_secret: String,
    pub insecure: bool,
    /// PEM, empty for the system's roots.
    pub ca_certificate: String,
    /// `healthy` or `unhealthy`, as last checked.
    pub status: String,
    pub creation_time: i64,
    pub update_time: i64,
}

const COLUMNS: &str = "id, name, description, type, url, credential_type, access_key, \
    access_secret, insecure, ca_certificate, status, creation_time, update_time";

fn from_row(r: AnyRow) -> Result<Endpoint, DbError> {
    Ok(Endpoint {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        description: r.try_get(2)?,
        kind: r.try_get(3)?,
        url: r.try_get(4)?,
        credential_type: r.try_get(5)?,
        access_key: r.try_get(6)?,
        access_secret: r.try_get(7)?,
        insecure: r.try_get::<i64, _>(8)? != 0,
        ca_certificate: r.try_get(9)?,
        status: r.try_get(10)?,
        creation_time: r.try_get(11)?,
        update_time: r.try_get(12)?,
    })
}

/// What an endpoint list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "name",
        column: "name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "type",
        column: "type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "url",
        column: "url",
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
        key: "creation_time",
        column: "creation_time",
        kind: Kind::Time,
        within: None,
    },
];

/// One page of endpoints matching `query` (oldest first unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Endpoint>, DbError> {
    let select = format!("SELECT {COLUMNS} FROM registry");
    query::page(ex, &select, query, "id", (offset, limit), from_row).await
}

/// Number of endpoints matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    query::count(ex, "registry", query).await
}

/// An endpoint by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Endpoint>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM registry WHERE id = $1");
    sqlx::query(&sql)
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Stores a new endpoint; its id.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    e: &Endpoint,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO registry (name, description, type, url, credential_type, access_key, \
         access_secret, insecure, ca_certificate, status, creation_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(&e.name)
    .bind(&e.description)
    .bind(&e.kind)
    .bind(&e.url)
    .bind(&e.credential_type)
    .bind(&e.access_key)
    .bind(&e.access_secret)
    .bind(i64::from(e.insecure))
    .bind(&e.ca_certificate)
    .bind(&e.status)
    .bind(e.creation_time)
    .bind(e.update_time)
    .fetch_one(ex)
    .await?)
}

/// Saves an endpoint's settings; false when it no longer exists.
pub async fn update<'e>(
    ex: impl Executor<'e, Database = Any>,
    e: &Endpoint,
) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE registry SET name = $2, description = $3, url = $4, credential_type = $5, \
         access_key = $6, access_secret = $7, insecure = $8, ca_certificate = $9, status = $10, \
         update_time = $11 WHERE id = $1",
    )
    .bind(e.id)
    .bind(&e.name)
    .bind(&e.description)
    .bind(&e.url)
    .bind(&e.credential_type)
    .bind(&e.access_key)
    .bind(&e.access_secret)
    .bind(i64::from(e.insecure))
    .bind(&e.ca_certificate)
    .bind(&e.status)
    .bind(e.update_time)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records what the last check of an endpoint found.
pub async fn set_status<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    status: &str,
) -> Result<(), DbError> {
    sqlx::query("UPDATE registry SET status = $2 WHERE id = $1")
        .bind(id)
        .bind(status)
        .execute(ex)
        .await?;
    Ok(())
}

/// Deletes an endpoint; false when there was none.
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<bool, DbError> {
    let done = sqlx::query("DELETE FROM registry WHERE id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() == 1)
}
