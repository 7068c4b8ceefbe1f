//! Users (database authentication).

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A user row, password hash included (never serialized by callers).
#[derive(Debug, Clone)]
pub struct User {
    pub user_id: i64,
    pub username: String,
    pub email: Option<String>,
    pub realname: String,
    pub comment: String,
    pub password_hash: String,
    pub sysadmin: bool,
    /// Administrator by group at the last sign-in (LDAP group admin DN,
    /// OIDC admin group).
    pub admin_role_in_auth: bool,
    pub creation_time: i64,
    pub update_time: i64,
}

const COLUMNS: &str = "user_id, username, email, realname, comment, password_hash, sysadmin_flag, \
                       creation_time, update_time, admin_role_in_auth";

fn from_row(r: AnyRow) -> Result<User, DbError> {
    Ok(User {
        user_id: r.try_get(0)?,
        username: r.try_get(1)?,
        email: r.try_get(2)?,
        realname: r.try_get(3)?,
        comment: r.try_get(4)?,
        password_hash: r.try_get(5)?,
        sysadmin: r.try_get::<i64, _>(6)? != 0,
        creation_time: r.try_get(7)?,
        update_time: r.try_get(8)?,
        admin_role_in_auth: r.try_get::<i64, _>(9)? != 0,
    })
}

/// What creating a user records.
#[derive(Debug)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub realname: &'a str,
    pub comment: &'a str,
    pub password_hash: &'a str,
    pub sysadmin: bool,
    pub now: i64,
}

/// Inserts a user; returns its id.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    u: &NewUser<'_>,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO harbor_user (username, email, realname, comment, password_hash, sysadmin_flag, \
         creation_time, update_time) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING user_id",
    )
    .bind(u.username)
    .bind(u.email)
    .bind(u.realname)
    .bind(u.comment)
    .bind(u.password_hash)
    .bind(i64::from(u.sysadmin))
    .bind(u.now)
    .fetch_one(ex)
    .await?)
}

/// A user by name.
pub async fn by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    username: &str,
) -> Result<Option<User>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM harbor_user WHERE username = $1"
    ))
    .bind(username)
    .fetch_optional(ex)
    .await?
    .map(from_row)
    .transpose()
}

/// A user by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<User>, DbError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM harbor_user WHERE user_id = $1"
    ))
    .bind(id)
    .fetch_optional(ex)
    .await?
    .map(from_row)
    .transpose()
}

/// The first system administrator (the lowest id), if any.
pub async fn first_admin<'e>(
    ex: impl Executor<'e, Database = Any>,
) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT MIN(user_id) FROM harbor_user WHERE sysadmin_flag = 1")
            .fetch_one(ex)
            .await?,
    )
}

/// Whether a username or email is taken (case-sensitive, as stored).
pub async fn exists<'e>(
    ex: impl Executor<'e, Database = Any>,
    username: &str,
    email: Option<&str>,
) -> Result<bool, DbError> {
    let n: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM harbor_user WHERE username = $1 OR ($2 IS NOT NULL AND email = $2) LIMIT 1",
    )
    .bind(username)
    .bind(email)
    .fetch_optional(ex)
    .await?;
    Ok(n.is_some())
}

/// What a user list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "username",
        column: "username",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "email",
        column: "email",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "user_id",
        column: "user_id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "creation_time",
        kind: Kind::Time,
        within: None,
    },
];

/// One page of users matching `query` (by id unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<User>, DbError> {
    let select = format!("SELECT {COLUMNS} FROM harbor_user");
    query::page(ex, &select, query, "user_id", (offset, limit), from_row).await
}

/// Number of users matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    query: &ListQuery,
) -> Result<i64, DbError> {
    query::count(ex, "harbor_user", query).await
}

/// Replaces a user's password hash.
pub async fn set_password<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    hash: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE harbor_user SET password_hash = $2, update_time = $3 WHERE user_id = $1",
    )
    .bind(id)
    .bind(hash)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Sets or clears the system administrator flag.
pub async fn set_sysadmin<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    admin: bool,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE harbor_user SET sysadmin_flag = $2, update_time = $3 WHERE user_id = $1",
    )
    .bind(id)
    .bind(i64::from(admin))
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Updates a user's profile fields.
pub async fn update_profile<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    email: Option<&str>,
    realname: &str,
    comment: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE harbor_user SET email = $2, realname = $3, comment = $4, update_time = $5 WHERE user_id = $1",
    )
    .bind(id)
    .bind(email)
    .bind(realname)
    .bind(comment)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a user with their memberships and sessions; projects they owned
/// pass to the administrator with the lowest id. False if there was no such user.
pub async fn delete(tx: &mut crate::Tx, id: i64) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM project_member WHERE entity_type = 'u' AND entity_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE project SET owner_id = (SELECT MIN(user_id) FROM harbor_user \
         WHERE sysadmin_flag = 1 AND user_id <> $1) WHERE owner_id = $1",
    )
    .bind(id)
    .execute(&mut **tx)
    .await?;
    let r = sqlx::query("DELETE FROM harbor_user WHERE user_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() > 0)
}
