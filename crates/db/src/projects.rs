//! Projects, their metadata and their members.

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

/// A project row with its owner's name.
#[derive(Debug, Clone)]
pub struct Project {
    pub project_id: i64,
    pub name: String,
    pub owner_id: i64,
    pub owner_name: String,
    pub creation_time: i64,
    pub update_time: i64,
    /// A proxy-cache project's upstream registry endpoint.
    pub registry_id: Option<i64>,
}

const SELECT: &str =
    "SELECT p.project_id, p.name, p.owner_id, u.username, p.creation_time, p.update_time, \
     p.registry_id FROM project p JOIN harbor_user u ON u.user_id = p.owner_id";

fn from_row(r: AnyRow) -> Result<Project, DbError> {
    Ok(Project {
        project_id: r.try_get(0)?,
        name: r.try_get(1)?,
        owner_id: r.try_get(2)?,
        owner_name: r.try_get(3)?,
        creation_time: r.try_get(4)?,
        update_time: r.try_get(5)?,
        registry_id: r.try_get(6)?,
    })
}

/// Makes a project a proxy cache of a registry endpoint.
pub async fn set_registry<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    registry_id: i64,
) -> Result<(), DbError> {
    sqlx::query("UPDATE project SET registry_id = $2 WHERE project_id = $1")
        .bind(project_id)
        .bind(registry_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// The names of the projects that are proxy caches of a registry endpoint.
pub async fn proxying<'e>(
    ex: impl Executor<'e, Database = Any>,
    registry_id: i64,
) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT name FROM project WHERE registry_id = $1 ORDER BY name")
            .bind(registry_id)
            .fetch_all(ex)
            .await?,
    )
}

/// Inserts a project; returns its id.
pub async fn insert<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
    owner_id: i64,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO project (name, owner_id, creation_time, update_time) VALUES ($1, $2, $3, $3) \
         RETURNING project_id",
    )
    .bind(name)
    .bind(owner_id)
    .bind(now)
    .fetch_one(ex)
    .await?)
}

/// A project by name.
pub async fn by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<Project>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE p.name = $1"))
        .bind(name)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// A project by id.
pub async fn by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Option<Project>, DbError> {
    sqlx::query(&format!("{SELECT} WHERE p.project_id = $1"))
        .bind(id)
        .fetch_optional(ex)
        .await?
        .map(from_row)
        .transpose()
}

/// The condition that membership `pm` is the user whose id is bound at
/// `$n`, or one of the groups they belonged to at their last sign-in.
macro_rules! member_is {
    ($user:literal) => {
        concat!(
            "((pm.entity_type = 'u' AND pm.entity_id = ",
            $user,
            ") OR (pm.entity_type = 'g' AND pm.entity_id IN \
             (SELECT group_id FROM user_group_member WHERE user_id = ",
            $user,
            ")))"
        )
    };
}
pub(crate) use member_is;

/// Which projects a list may show.
#[derive(Debug, Clone, Copy)]
pub enum Visibility {
    /// Every project (system administrators).
    All,
    /// Public projects and those the user is a member of (`None`: public only).
    PublicOrMemberOf(Option<i64>),
}

impl Visibility {
    /// Binds `$1` (all) and `$2` (member user id) for [`VISIBLE_TO`].
    pub(crate) fn bind<'q>(
        self,
        q: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
        let (all, user) = match self {
            Visibility::All => (1i64, None),
            Visibility::PublicOrMemberOf(u) => (0, u),
        };
        q.bind(all).bind(user)
    }
}

/// What a project list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "name",
        column: "p.name",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "owner",
        column: "u.username",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "public",
        column:
            "(CASE WHEN EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.project_id \
                 AND m.name = 'public' AND m.value = 'true') THEN 'true' ELSE 'false' END)",
        kind: Kind::Bool,
        within: None,
    },
    Field {
        key: "project_id",
        column: "p.project_id",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "p.creation_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "update_time",
        column: "p.update_time",
        kind: Kind::Time,
        within: None,
    },
];

/// The condition on project `p` for a caller's visibility; binds `$1`, `$2`
/// (see [`Visibility::bind`]). Every visibility-filtered query uses it.
pub(crate) const VISIBLE_TO: &str = concat!(
    "($1 = 1 OR EXISTS (SELECT 1 FROM project_metadata m WHERE m.project_id = p.project_id \
     AND m.name = 'public' AND m.value = 'true') OR ($2 IS NOT NULL AND EXISTS (SELECT 1 FROM project_member pm \
     WHERE pm.project_id = p.project_id AND ",
    member_is!("$2"),
    ")))"
);

/// One page of visible projects matching `query` (by name unless sorted).
pub async fn list<'e>(
    ex: impl Executor<'e, Database = Any>,
    vis: Visibility,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<Project>, DbError> {
    let (cond, args) = query.conditions(3);
    let n = args.len() + 3;
    let sql = format!(
        "{SELECT} WHERE {VISIBLE_TO}{cond} {} LIMIT ${n} OFFSET ${}",
        query.order_by("p.name"),
        n + 1
    );
    query::bind(vis.bind(sqlx::query(&sql)), &args)
        .bind(limit)
        .bind(offset)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(from_row)
        .collect()
}

/// Number of visible projects matching `query`.
pub async fn count<'e>(
    ex: impl Executor<'e, Database = Any>,
    vis: Visibility,
    query: &ListQuery,
) -> Result<i64, DbError> {
    let (cond, args) = query.conditions(3);
    let sql = format!(
        "SELECT COUNT(*) FROM project p JOIN harbor_user u ON u.user_id = p.owner_id WHERE {VISIBLE_TO}{cond}"
    );
    let row = query::bind(vis.bind(sqlx::query(&sql)), &args)
        .fetch_one(ex)
        .await?;
    Ok(row.try_get(0)?)
}

/// Deletes a project (metadata and members go with it).
pub async fn delete<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> Result<(), DbError> {
    sqlx::query("DELETE FROM project WHERE project_id = $1")
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

/// Number of listed repositories in a project.
pub async fn repo_count<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM repository r WHERE r.project_name = $1 AND r.listed = 1",
    )
    .bind(name)
    .fetch_one(ex)
    .await?)
}

/// All metadata of a project.
pub async fn metadata<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query("SELECT name, value FROM project_metadata WHERE project_id = $1 ORDER BY name")
        .bind(id)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// The metadata of project `name`.
pub async fn metadata_by_name<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Vec<(String, String)>, DbError> {
    sqlx::query(
        "SELECT m.name, m.value FROM project_metadata m \
         JOIN project p ON p.project_id = m.project_id WHERE p.name = $1",
    )
    .bind(name)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
    .collect()
}

/// Sets one metadata value.
pub async fn set_metadata<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    name: &str,
    value: &str,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO project_metadata (project_id, name, value) VALUES ($1, $2, $3) \
         ON CONFLICT (project_id, name) DO UPDATE SET value = excluded.value",
    )
    .bind(id)
    .bind(name)
    .bind(value)
    .execute(ex)
    .await?;
    Ok(())
}

/// Removes one metadata value; returns whether it existed.
pub async fn delete_metadata<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    name: &str,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM project_metadata WHERE project_id = $1 AND name = $2")
        .bind(id)
        .bind(name)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// The roles a user holds in a project, as a member and through their groups.
pub async fn user_roles<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    user_id: i64,
) -> Result<Vec<i64>, DbError> {
    Ok(sqlx::query_scalar(concat!(
        "SELECT DISTINCT role FROM project_member pm WHERE project_id = $1 AND ",
        member_is!("$2")
    ))
    .bind(project_id)
    .bind(user_id)
    .fetch_all(ex)
    .await?)
}

/// A member row with the member's name.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: i64,
    pub project_id: i64,
    pub entity_id: i64,
    pub entity_type: String,
    pub entity_name: String,
    pub role: i64,
}

/// Memberships with their member: a user (`u`) or a group (`g`).
const MEMBER_FROM: &str = "FROM project_member pm \
     LEFT JOIN harbor_user u ON pm.entity_type = 'u' AND u.user_id = pm.entity_id \
     LEFT JOIN user_group g ON pm.entity_type = 'g' AND g.id = pm.entity_id";

const MEMBER_COLUMNS: &str = "SELECT pm.id, pm.project_id, pm.entity_id, pm.entity_type, \
     COALESCE(u.username, g.group_name), pm.role";

fn member_from_row(r: AnyRow) -> Result<Member, DbError> {
    Ok(Member {
        id: r.try_get(0)?,
        project_id: r.try_get(1)?,
        entity_id: r.try_get(2)?,
        entity_type: r.try_get(3)?,
        entity_name: r.try_get(4)?,
        role: r.try_get(5)?,
    })
}

/// Adds a member (`entity_type` `u` for a user, `g` for a group); returns
/// the membership id.
pub async fn add_member<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    (entity_type, entity_id): (&str, i64),
    role: i64,
    now: i64,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO project_member (project_id, entity_id, entity_type, role, creation_time, update_time) \
         VALUES ($1, $2, $5, $3, $4, $4) RETURNING id",
    )
    .bind(project_id)
    .bind(entity_id)
    .bind(role)
    .bind(now)
    .bind(entity_type)
    .fetch_one(ex)
    .await?)
}

/// One page of a project's members whose name contains `name_like`.
pub async fn members<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    name_like: Option<&str>,
    offset: i64,
    limit: i64,
) -> Result<Vec<Member>, DbError> {
    sqlx::query(&format!(
        "{MEMBER_COLUMNS} {MEMBER_FROM} WHERE pm.project_id = $1 \
         AND ($2 IS NULL OR LOWER(COALESCE(u.username, g.group_name)) LIKE $2 ESCAPE '\\') ORDER BY pm.id LIMIT $3 OFFSET $4"
    ))
    .bind(project_id)
    .bind(name_like.map(query::like_pattern))
    .bind(limit)
    .bind(offset)
    .fetch_all(ex)
    .await?
    .into_iter()
    .map(member_from_row)
    .collect()
}

/// Number of a project's members whose name contains `name_like`.
pub async fn member_count<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    name_like: Option<&str>,
) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar(&format!(
        "SELECT COUNT(*) {MEMBER_FROM} WHERE pm.project_id = $1 \
         AND ($2 IS NULL OR LOWER(COALESCE(u.username, g.group_name)) LIKE $2 ESCAPE '\\')"
    ))
    .bind(project_id)
    .bind(name_like.map(query::like_pattern))
    .fetch_one(ex)
    .await?)
}

/// One membership of a project.
pub async fn member<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
) -> Result<Option<Member>, DbError> {
    sqlx::query(&format!(
        "{MEMBER_COLUMNS} {MEMBER_FROM} WHERE pm.project_id = $1 AND pm.id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(ex)
    .await?
    .map(member_from_row)
    .transpose()
}

/// Changes a member's role; returns whether it existed.
pub async fn set_member_role<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
    role: i64,
    now: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query(
        "UPDATE project_member SET role = $3, update_time = $4 WHERE project_id = $1 AND id = $2",
    )
    .bind(project_id)
    .bind(id)
    .bind(role)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(r.rows_affected() > 0)
}

/// Removes a membership; returns whether it existed.
pub async fn delete_member<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
    id: i64,
) -> Result<bool, DbError> {
    let r = sqlx::query("DELETE FROM project_member WHERE project_id = $1 AND id = $2")
        .bind(project_id)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// What authorization needs of a project, in one query: (id, creation time, public).
pub async fn auth_ref<'e>(
    ex: impl Executor<'e, Database = Any>,
    name: &str,
) -> Result<Option<AuthRef>, DbError> {
    let row = sqlx::query(
        "SELECT p.project_id, p.creation_time, \
         (SELECT COUNT(*) FROM project_metadata m WHERE m.project_id = p.project_id \
          AND m.name = 'public' AND m.value = 'true'), p.registry_id \
         FROM project p WHERE p.name = $1",
    )
    .bind(name)
    .fetch_optional(ex)
    .await?;
    row.map(|r| {
        Ok(AuthRef {
            id: r.try_get(0)?,
            created_at: r.try_get(1)?,
            public: r.try_get::<i64, _>(2)? > 0,
            registry_id: r.try_get(3)?,
        })
    })
    .transpose()
}

/// What authorization reads of a project.
#[derive(Debug, Clone, Copy)]
pub struct AuthRef {
    pub id: i64,
    pub created_at: i64,
    pub public: bool,
    /// A proxy-cache project's upstream registry endpoint.
    pub registry_id: Option<i64>,
}

/// Bytes stored for the artifacts `join` selects (`a` being each artifact),
/// as Harbor's quotas count them: each distinct manifest and each distinct
/// blob they reference, once however many artifacts share it. What no
/// artifact references any more (deleted, awaiting GC) is not counted.
fn stored(join: &str) -> String {
    format!(
        "(SELECT CAST(COALESCE(SUM(b.size), 0) AS BIGINT) FROM blob b WHERE b.digest IN \
           (SELECT ab.digest FROM artifact_blob ab JOIN artifact a ON a.id = ab.artifact_id {join})) + \
         (SELECT CAST(COALESCE(SUM(m.manifest_size), 0) AS BIGINT) FROM \
           (SELECT DISTINCT a.digest, a.manifest_size FROM artifact a {join}) m)"
    )
}

/// Counts for `/statistics`: (public projects, private projects, public
/// repositories, private repositories) among those visible, and the bytes
/// stored for visible repositories.
pub async fn statistics<'e>(
    ex: impl Executor<'e, Database = Any>,
    vis: Visibility,
) -> Result<[i64; 5], DbError> {
    let sql = format!(
        "WITH v AS (SELECT p.project_id, p.name, \
           (SELECT COUNT(*) FROM project_metadata m WHERE m.project_id = p.project_id \
            AND m.name = 'public' AND m.value = 'true') AS pub FROM project p \
           WHERE {VISIBLE_TO}), \
         r AS (SELECT r.id, v.pub FROM repository r JOIN v ON v.name = r.project_name \
           WHERE r.listed = 1) \
         SELECT (SELECT COUNT(*) FROM v WHERE pub > 0), (SELECT COUNT(*) FROM v WHERE pub = 0), \
           (SELECT COUNT(*) FROM r WHERE pub > 0), (SELECT COUNT(*) FROM r WHERE pub = 0), \
           {}",
        stored("JOIN r ON r.id = a.repository_id")
    );
    let row = vis.bind(sqlx::query(&sql)).fetch_one(ex).await?;
    Ok([
        row.try_get(0)?,
        row.try_get(1)?,
        row.try_get(2)?,
        row.try_get(3)?,
        row.try_get(4)?,
    ])
}

/// Member counts of a project by role id.
pub async fn member_counts<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_id: i64,
) -> Result<Vec<(i64, i64)>, DbError> {
    sqlx::query("SELECT role, COUNT(*) FROM project_member WHERE project_id = $1 GROUP BY role")
        .bind(project_id)
        .fetch_all(ex)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}

/// Bytes each project's quota counts.
pub async fn storage_used<'e>(
    ex: impl Executor<'e, Database = Any>,
    project_ids: &[i64],
) -> Result<Vec<(i64, i64)>, DbError> {
    if project_ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = crate::placeholders(1..project_ids.len() + 1);
    let sql = format!("SELECT project_id, used FROM quota WHERE project_id IN ({list})");
    let mut q = sqlx::query(&sql);
    for id in project_ids {
        q = q.bind(id);
    }
    q.fetch_all(ex)
        .await?
        .into_iter()
        .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
        .collect()
}
