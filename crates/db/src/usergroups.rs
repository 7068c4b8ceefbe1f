//! User groups, and which groups each user belonged to at their last
//! sign-in.

use crate::{query, DbError};
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// An LDAP group (by DN).
pub const LDAP: i64 = 1;
/// An OIDC provider's group (by name).
pub const OIDC: i64 = 3;

/// A user group.
#[derive(Debug, Clone, PartialEq)]
pub struct UserGroup {
    pub id: i64,
    pub group_name: String,
    pub group_type: i64,
    /// Empty unless an LDAP group.
    pub ldap_group_dn: String,
}

const SELECT: &str = "SELECT id, group_name, group_type, ldap_group_dn FROM user_group";

fn from_row(r: AnyRow) -> Result<UserGroup, DbError> {
    Ok(UserGroup {
        id: r.try_get(0)?,
        group_name: r.try_get(1)?,
        group_type: r.try_get(2)?,
        ldap_group_dn: r.try_get(3)?,
    })
}

/// What a group list is filtered on (all optional).
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// Part of the name, any case.
    pub name_like: Option<&'a str>,
    pub group_type: Option<i64>,
    pub ldap_group_dn: Option<&'a str>,
}

/// The condition of a [`Filter`], binding `$1`–`$3`.
const FILTERED: &str = "WHERE ($1 IS NULL OR LOWER(group_name) LIKE $1 ESCAPE '\\') \
     AND ($2 IS NULL OR group_type = $2) AND ($3 IS NULL OR ldap_group_dn = $3)";

fn bind<'q>(
    q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    f: Filter<'q>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    q.bind(f.name_like.map(query::like_pattern))
        .bind(f.group_type)
        .bind(f.ldap_group_dn)
}

/// One page of groups, by id.
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    f: Filter<'_>,
    offset: i64,
    limit: i64,
) -> Result<Vec<UserGroup>, DbError> {
    let sql = format!("{SELECT} {FILTERED} ORDER BY id LIMIT $4 OFFSET $5");
    bind(sqlx::query(&sql), f)
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// How many groups a filter lets through.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    f: Filter<'_>,
) -> Result<i64, DbError> {
    let sql = format!("SELECT COUNT(*) FROM user_group {FILTERED}");
    let row = bind(sqlx::query(&sql), f).fetch_one(ex).await?;
    Ok(row.try_get(0)?)
}

/// One group.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<UserGroup>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// The group a directory or provider knows this way: an LDAP group by
/// its DN, any other by type and name.
pub async fn find<'e>(
    ex: impl Executor<'e, Database = Any>,
    group_type: i64,
    name: &str,
    ldap_group_dn: &str,
) -> Result<Option<UserGroup>, DbError> {
    let sql = format!(
        "{SELECT} WHERE group_type = $1 AND \
         ((group_type = {LDAP} AND ldap_group_dn = $3) OR (group_type <> {LDAP} AND group_name = $2))"
    );
    sqlx::query(&sql)
        .bind(group_type)
        .bind(name)
        .bind(ldap_group_dn)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// Adds a group; returns its id (a unique violation when it exists).
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    group_type: i64,
    name: &str,
    ldap_group_dn: &str,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO user_group (group_name, group_type, ldap_group_dn, creation_time, update_time) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(name)
    .bind(group_type)
    .bind(ldap_group_dn)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// Renames a group; false if there is none.
pub async fn rename<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    name: &str,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("UPDATE user_group SET group_name = $2, update_time = $3 WHERE id = $1")
        .bind(id)
        .bind(name)
        .bind(now)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Deletes a group with its project memberships; false if there is none.
pub async fn delete(tx: &mut crate::Tx, id: i64) -> Result<bool, DbError> {
    sqlx::query("DELETE FROM project_member WHERE entity_type = 'g' AND entity_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("DELETE FROM user_group_member WHERE group_id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    let r = sqlx::query("DELETE FROM user_group WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Records what a sign-in found: the user's groups and whether one of
/// them makes the user an administrator.
pub async fn set_of_user(
    tx: &mut crate::Tx,
    user_id: i64,
    group_ids: &[i64],
    admin: bool,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM user_group_member WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    for g in group_ids {
        sqlx::query("INSERT INTO user_group_member (user_id, group_id) VALUES ($1, $2)")
            .bind(user_id)
            .bind(g)
            .execute(&mut **tx)
            .await?;
    }
    sqlx::query("UPDATE harbor_user SET admin_role_in_auth = $2 WHERE user_id = $1")
        .bind(user_id)
        .bind(admin as i64)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
