//! Users of an OpenID Connect provider, and browser sign-ins in progress
//! with it.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// What is kept of a user the provider signs in (secret and token sealed).
#[derive(Debug, Clone, PartialEq)]
pub struct OidcUser {
    pub id: i64,
    pub user_id: i64,
    /// The provider's subject followed by its issuer.
    pub subiss: String,
    pub secret: String,
    pub token: String,
    pub creation_time: i64,
    pub update_time: i64,
}

const SELECT: &str = "SELECT o.id, o.user_id, o.subiss, o.secret, o.token, o.creation_time, \
     o.update_time FROM oidc_user o";

fn from_row(r: sqlx::any::AnyRow) -> Result<OidcUser, DbError> {
    Ok(OidcUser {
        id: r.try_get(0)?,
        user_id: r.try_get(1)?,
        subiss: r.try_get(2)?,
        secret: r.try_get(3)?,
        token: r.try_get(4)?,
        creation_time: r.try_get(5)?,
        update_time: r.try_get(6)?,
    })
}

/// The record of the provider's subject and issuer.
pub async fn by_subiss<'e>(
    ex: impl Executor<'e, Database = Any>,
    subiss: &str,
) -> Result<Option<OidcUser>, DbError> {
    let row = sqlx::query(&format!("{SELECT} WHERE o.subiss = $1"))
        .bind(subiss)
        .fetch_optional(ex)
        .await?;
    row.map(from_row).transpose()
}

/// The record of a user.
pub async fn by_user<'e>(
    ex: impl Executor<'e, Database = Any>,
    user_id: i64,
) -> Result<Option<OidcUser>, DbError> {
    let row = sqlx::query(&format!("{SELECT} WHERE o.user_id = $1"))
        .bind(user_id)
        .fetch_optional(ex)
        .await?;
    row.map(from_row).transpose()
}

/// The record of the user with this name.
pub async fn by_username<'e>(
    ex: impl Executor<'e, Database = Any>,
    username: &str,
) -> Result<Option<OidcUser>, DbError> {
    let row = sqlx::query(&format!(
        "{SELECT} JOIN harbor_user u ON u.user_id = o.user_id WHERE u.username = $1"
    ))
    .bind(username)
    .fetch_optional(ex)
    .await?;
    row.map(from_row).transpose()
}

/// Records a user's subject, secret and token.
pub async fn insert(
    tx: &mut crate::Tx,
    user_id: i64,
    subiss: &str,
    secret: &str,
    token: &str,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO oidc_user (user_id, subiss, secret, token, creation_time, update_time) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(user_id)
    .bind(subiss)
    .bind(secret)
    .bind(token)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Replaces a user's token set; false when the user has no record.
pub async fn set_token<'e>(
    ex: impl Executor<'e, Database = Any>,
    user_id: i64,
    token: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE oidc_user SET token = $2, update_time = $3 WHERE user_id = $1")
        .bind(user_id)
        .bind(token)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Replaces a user's CLI secret; false when the user has no record.
pub async fn set_secret<'e>(
    ex: impl Executor<'e, Database = Any>,
    user_id: i64,
    secret: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE oidc_user SET secret = $2, update_time = $3 WHERE user_id = $1")
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Records (or replaces) a sign-in in progress, and drops expired ones.
pub async fn put_login(
    tx: &mut crate::Tx,
    state_hash: &str,
    data: &str,
    expires_at: i64,
    now: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM oidc_login WHERE state_hash = $1 OR expires_at <= $2")
        .bind(state_hash)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO oidc_login (state_hash, data, expires_at) VALUES ($1, $2, $3)")
        .bind(state_hash)
        .bind(data)
        .bind(expires_at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The data of a live sign-in in progress.
pub async fn login<'e>(
    ex: impl Executor<'e, Database = Any>,
    state_hash: &str,
    now: i64,
) -> Result<Option<String>, DbError> {
    let row = sqlx::query("SELECT data FROM oidc_login WHERE state_hash = $1 AND expires_at > $2")
        .bind(state_hash)
        .bind(now)
        .fetch_optional(ex)
        .await?;
    row.map(|r| Ok(r.try_get(0)?)).transpose()
}

/// Ends a sign-in in progress; false when it was not there (so of two
/// requests finishing it, one does).
pub async fn take_login<'e>(
    ex: impl Executor<'e, Database = Any>,
    state_hash: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM oidc_login WHERE state_hash = $1")
        .bind(state_hash)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}
