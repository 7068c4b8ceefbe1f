//! Artifacts: stored manifests, what they reference, and their referrers.

use crate::query::{self, Field, Kind, ListQuery};
use crate::DbError;
use bytes::Bytes;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Executor, Row};

/// A manifest as served on `/v2`.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub id: i64,
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub manifest: Bytes,
}

impl ManifestRow {
    fn from_row(r: AnyRow) -> Result<Self, DbError> {
        Ok(ManifestRow {
            id: r.try_get(0)?,
            digest: r.try_get(1)?,
            media_type: r.try_get(2)?,
            manifest: Bytes::from(r.try_get::<Vec<u8>, _>(3)?),
            repository_id: r.try_get(4)?,
        })
    }
}

/// A manifest in a repository, by digest.
#[tracing::instrument(level = "debug", name = "db.artifact_by_digest", skip_all)]
pub async fn by_digest<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
) -> Result<Option<ManifestRow>, DbError> {
    sqlx::query(
        "SELECT a.id, a.digest, a.media_type, a.manifest, a.repository_id FROM repository r \
         JOIN artifact a ON a.repository_id = r.id WHERE r.name = $1 AND a.digest = $2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_optional(ex)
    .await?
    .map(ManifestRow::from_row)
    .transpose()
}

/// A manifest in a repository, by tag.
#[tracing::instrument(level = "debug", name = "db.artifact_by_tag", skip_all)]
pub async fn by_tag<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    tag: &str,
) -> Result<Option<ManifestRow>, DbError> {
    sqlx::query(
        "SELECT a.id, a.digest, a.media_type, a.manifest, a.repository_id FROM repository r \
         JOIN tag t ON t.repository_id = r.id JOIN artifact a ON a.id = t.artifact_id \
         WHERE r.name = $1 AND t.name = $2",
    )
    .bind(repository)
    .bind(tag)
    .fetch_optional(ex)
    .await?
    .map(ManifestRow::from_row)
    .transpose()
}

/// What a manifest push records.
#[derive(Debug)]
pub struct NewArtifact<'a> {
    pub repository_id: i64,
    pub digest: &'a str,
    pub media_type: &'a str,
    pub artifact_type: Option<&'a str>,
    pub manifest: &'a [u8],
    pub size: i64,
    pub subject_digest: Option<&'a str>,
    pub annotations: Option<&'a str>,
    pub described: &'a Described,
    pub now: i64,
}

/// What Harbor's processors say of an artifact.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Described {
    /// `IMAGE`, `CHART`, … or `UNKNOWN`.
    pub harbor_type: String,
    /// The config's media type, or an index's own.
    pub media_type: String,
    /// Attributes from the config, as a JSON object.
    pub extra_attrs: Option<String>,
}

/// Inserts an artifact, or finds the existing one with the same digest; returns its id.
pub async fn upsert<'e>(
    ex: impl Executor<'e, Database = Any>,
    a: &NewArtifact<'_>,
) -> Result<i64, DbError> {
    // Same digest means same bytes, so an existing row is kept as it is.
    let id = sqlx::query_scalar(
        "INSERT INTO artifact (repository_id, digest, media_type, artifact_type, manifest, \
         manifest_size, size, subject_digest, annotations, push_time, harbor_type, \
         harbor_media_type, extra_attrs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (repository_id, digest) DO UPDATE SET digest = excluded.digest RETURNING id",
    )
    .bind(a.repository_id)
    .bind(a.digest)
    .bind(a.media_type)
    .bind(a.artifact_type)
    .bind(a.manifest)
    .bind(a.manifest.len() as i64)
    .bind(a.size)
    .bind(a.subject_digest)
    .bind(a.annotations)
    .bind(a.now)
    .bind(&a.described.harbor_type)
    .bind(&a.described.media_type)
    .bind(a.described.extra_attrs.as_deref())
    .fetch_one(ex)
    .await?;
    Ok(id)
}

/// The id of an artifact in the repository with this id.
pub async fn id_in_repository<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    digest: &str,
) -> Result<Option<i64>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT id FROM artifact WHERE repository_id = $1 AND digest = $2")
            .bind(repository_id)
            .bind(digest)
            .fetch_optional(ex)
            .await?,
    )
}

/// Adds batched pulls: `count` more pulls of an artifact, the last at `at`.
pub async fn add_pulls<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
    count: i64,
    at: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "UPDATE artifact SET pull_count = pull_count + $2, \
         pull_time = CASE WHEN pull_time IS NULL OR pull_time < $3 THEN $3 ELSE pull_time END WHERE id = $1",
    )
    .bind(artifact_id)
    .bind(count)
    .bind(at)
    .execute(ex)
    .await?;
    Ok(())
}

/// The tag names of an artifact.
pub async fn tag_names<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT name FROM tag WHERE artifact_id = $1 ORDER BY name")
            .bind(artifact_id)
            .fetch_all(ex)
            .await?,
    )
}

/// The tag names of an artifact and of the indexes that list it.
pub async fn tags_with_parents<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT name FROM tag WHERE artifact_id = $1 OR artifact_id IN \
         (SELECT parent_id FROM artifact_reference WHERE child_id = $1) ORDER BY name",
    )
    .bind(artifact_id)
    .fetch_all(ex)
    .await?)
}

/// Every artifact of a repository: its digest and tag names, oldest first.
pub async fn digests_and_tags<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
) -> Result<Vec<(String, Vec<String>)>, DbError> {
    let rows: Vec<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT a.id, a.digest, t.name FROM artifact a JOIN repository r ON r.id = a.repository_id \
         LEFT JOIN tag t ON t.artifact_id = a.id WHERE r.name = $1 ORDER BY a.id, t.name",
    )
    .bind(repository)
    .fetch_all(ex)
    .await?;
    let mut out: Vec<(i64, String, Vec<String>)> = Vec::new();
    for (id, digest, tag) in rows {
        if out.last().is_none_or(|(last, _, _)| *last != id) {
            out.push((id, digest, Vec::new()));
        }
        if let (Some(t), Some((_, _, tags))) = (tag, out.last_mut()) {
            tags.push(t);
        }
    }
    Ok(out.into_iter().map(|(_, d, t)| (d, t)).collect())
}

/// The blobs an artifact references.
pub async fn blob_digests<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
) -> Result<Vec<String>, DbError> {
    Ok(
        sqlx::query_scalar("SELECT digest FROM artifact_blob WHERE artifact_id = $1")
            .bind(artifact_id)
            .fetch_all(ex)
            .await?,
    )
}

/// The digests of a repository's artifacts and of the blobs they reference.
pub async fn used_in_repository<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT a.digest FROM artifact a JOIN repository r ON r.id = a.repository_id WHERE r.name = $1 \
         UNION SELECT ab.digest FROM artifact_blob ab JOIN artifact a ON a.id = ab.artifact_id \
         JOIN repository r ON r.id = a.repository_id WHERE r.name = $1",
    )
    .bind(repository)
    .fetch_all(ex)
    .await?)
}

/// Records that an artifact references these blobs (a few multi-row
/// statements, not one per blob).
pub async fn add_blobs(
    conn: &mut crate::Conn,
    artifact_id: i64,
    digests: &[String],
) -> Result<(), DbError> {
    for run in crate::power_of_two_runs(digests, 64) {
        let sql = format!(
            "INSERT INTO artifact_blob (artifact_id, digest) VALUES {} \
             ON CONFLICT (artifact_id, digest) DO NOTHING",
            crate::value_rows(run.len(), |i| format!("($1, ${i})"))
        );
        let mut q = sqlx::query(&sql).bind(artifact_id);
        for d in run {
            q = q.bind(d.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Records that an index references a child manifest.
pub async fn add_child<'e>(
    ex: impl Executor<'e, Database = Any>,
    parent_id: i64,
    child_id: i64,
) -> Result<(), DbError> {
    sqlx::query(
        "INSERT INTO artifact_reference (parent_id, child_id) VALUES ($1, $2) \
         ON CONFLICT (parent_id, child_id) DO NOTHING",
    )
    .bind(parent_id)
    .bind(child_id)
    .execute(ex)
    .await?;
    Ok(())
}

/// The children an index references: (id, digest).
pub async fn children<'e>(
    ex: impl Executor<'e, Database = Any>,
    parent_id: i64,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.digest FROM artifact_reference ar JOIN artifact a ON a.id = ar.child_id \
         WHERE ar.parent_id = $1 ORDER BY a.id",
    )
    .bind(parent_id)
    .fetch_all(ex)
    .await?)
}

/// The digests of the indexes in a repository that list the manifest `digest`.
pub async fn parent_digests<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
) -> Result<Vec<String>, DbError> {
    Ok(sqlx::query_scalar(
        "SELECT p.digest FROM artifact c JOIN repository r ON r.id = c.repository_id \
         JOIN artifact_reference ar ON ar.child_id = c.id JOIN artifact p ON p.id = ar.parent_id \
         WHERE r.name = $1 AND c.digest = $2",
    )
    .bind(repository)
    .bind(digest)
    .fetch_all(ex)
    .await?)
}

/// The accessories that go when their subject is deleted (Harbor's hard
/// references): the subject's referrers in its repository, but for
/// accelerators (Harbor's soft references), and cosign signatures under
/// its `sha256-<hex>.sig` tag: (id, digest).
pub async fn hard_accessories<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    subject: &str,
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(sqlx::query_as(
        "SELECT a.id, a.digest FROM artifact a WHERE a.repository_id = $1 AND a.subject_digest = $2 \
           AND (a.artifact_type IS NULL OR a.artifact_type <> 'application/vnd.nydus.image.manifest.v1+json') \
         UNION \
         SELECT a.id, a.digest FROM tag t JOIN artifact a ON a.id = t.artifact_id \
         WHERE t.repository_id = $1 AND t.name = $3 AND a.subject_digest IS NULL \
         ORDER BY 1",
    )
    .bind(repository_id)
    .bind(subject)
    .bind(cosign_tag(subject))
    .fetch_all(ex)
    .await?)
}

/// Whether an index references this artifact.
pub async fn has_parent<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
) -> Result<bool, DbError> {
    let n: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM artifact_reference WHERE child_id = $1 LIMIT 1")
            .bind(artifact_id)
            .fetch_optional(ex)
            .await?;
    Ok(n.is_some())
}

/// Pushed before `$1`, no tag, in no index, no subject.
const UNTAGGED: &str = "a.push_time < $1 AND a.subject_digest IS NULL \
     AND NOT EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id) \
     AND NOT EXISTS (SELECT 1 FROM artifact_reference ar WHERE ar.child_id = a.id)";

/// Artifacts pushed before `cutoff` that have no tag, are in no index and
/// have no subject (referrers stay with their subject): (id, repository, digest).
pub async fn untagged<'e>(
    ex: impl Executor<'e, Database = Any>,
    cutoff: i64,
) -> Result<Vec<(i64, String, String)>, DbError> {
    Ok(sqlx::query_as(&format!(
        "SELECT a.id, r.name, a.digest FROM artifact a JOIN repository r ON r.id = a.repository_id \
         WHERE {UNTAGGED} ORDER BY a.id"
    ))
    .bind(cutoff)
    .fetch_all(ex)
    .await?)
}

/// Whether an artifact still qualifies for [`untagged`].
pub async fn untagged_by_id<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    cutoff: i64,
) -> Result<bool, DbError> {
    let n: Option<i64> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM artifact a WHERE {UNTAGGED} AND a.id = $2"
    ))
    .bind(cutoff)
    .bind(id)
    .fetch_optional(ex)
    .await?;
    Ok(n.is_some())
}

/// Deletes an artifact (its tags and references go with it).
pub async fn delete<'e>(
    ex: impl Executor<'e, Database = Any>,
    artifact_id: i64,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM artifact WHERE id = $1")
        .bind(artifact_id)
        .execute(ex)
        .await?;
    Ok(())
}

/// A manifest that names another as its subject.
#[derive(Debug, Clone)]
pub struct Referrer {
    pub digest: String,
    pub media_type: String,
    pub manifest_size: i64,
    pub artifact_type: Option<String>,
    pub annotations: Option<String>,
}

/// The referrers of `subject` in a repository, optionally of one artifact type.
pub async fn referrers<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    subject: &str,
    artifact_type: Option<&str>,
) -> Result<Vec<Referrer>, DbError> {
    let rows = sqlx::query(
        "SELECT a.digest, a.media_type, a.manifest_size, a.artifact_type, a.annotations \
         FROM repository r JOIN artifact a ON a.repository_id = r.id \
         WHERE r.name = $1 AND a.subject_digest = $2 AND ($3 IS NULL OR a.artifact_type = $3) \
         ORDER BY a.push_time, a.digest",
    )
    .bind(repository)
    .bind(subject)
    .bind(artifact_type)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Referrer {
                digest: r.try_get(0)?,
                media_type: r.try_get(1)?,
                manifest_size: r.try_get(2)?,
                artifact_type: r.try_get(3)?,
                annotations: r.try_get(4)?,
            })
        })
        .collect()
}

/// An artifact as Harbor's API lists it, with its tags.
#[derive(Debug, Clone)]
pub struct ArtifactRow {
    pub id: i64,
    pub repository_id: i64,
    pub digest: String,
    pub media_type: String,
    pub artifact_type: Option<String>,
    pub size: i64,
    pub push_time: i64,
    pub annotations: Option<String>,
    pub pull_time: Option<i64>,
    /// Harbor's view, None for artifacts pushed before it was recorded.
    pub described: Option<Described>,
    pub tags: Vec<TagRow>,
    pub repository_name: String,
}

/// A tag as listed with its artifact.
#[derive(Debug, Clone, PartialEq)]
pub struct TagRow {
    pub id: i64,
    pub name: String,
    pub push_time: i64,
    pub pull_time: Option<i64>,
}

// Tags come back aggregated in one column: `id|name|push_time|pull_time`
// lines (neither `|` nor a newline can occur in a tag); `$1` is the newline.
const ARTIFACT_SELECT: &str =
    "SELECT a.id, a.repository_id, a.digest, a.media_type, a.artifact_type, a.size, \
     a.push_time, a.annotations, a.pull_time, \
     (SELECT string_agg(CAST(t.id AS TEXT) || '|' || t.name || '|' || CAST(t.push_time AS TEXT) \
        || '|' || COALESCE(CAST(t.pull_time AS TEXT), ''), $1 ORDER BY t.name) \
      FROM tag t WHERE t.artifact_id = a.id), \
     a.harbor_type, a.harbor_media_type, a.extra_attrs, r.name \
     FROM artifact a JOIN repository r ON r.id = a.repository_id";

fn artifact_from_row(r: AnyRow) -> Result<ArtifactRow, DbError> {
    let tags: Option<String> = r.try_get(9)?;
    let tags = tags
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(4, '|');
            Some(TagRow {
                id: it.next()?.parse().ok()?,
                name: it.next()?.to_string(),
                push_time: it.next()?.parse().ok()?,
                pull_time: it.next()?.parse().ok(),
            })
        })
        .collect();
    let harbor_type: Option<String> = r.try_get(10)?;
    let described = match (harbor_type, r.try_get::<Option<String>, _>(11)?) {
        (Some(harbor_type), Some(media_type)) => Some(Described {
            harbor_type,
            media_type,
            extra_attrs: r.try_get(12)?,
        }),
        _ => None,
    };
    Ok(ArtifactRow {
        id: r.try_get(0)?,
        repository_id: r.try_get(1)?,
        digest: r.try_get(2)?,
        media_type: r.try_get(3)?,
        artifact_type: r.try_get(4)?,
        size: r.try_get(5)?,
        push_time: r.try_get(6)?,
        annotations: r.try_get(7)?,
        pull_time: r.try_get(8)?,
        described,
        tags,
        repository_name: r.try_get(13)?,
    })
}

/// What an artifact list can be filtered and sorted on.
pub static FIELDS: &[Field] = &[
    Field {
        key: "digest",
        column: "a.digest",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "tags",
        column: "t.name",
        kind: Kind::Text,
        // Uncorrelated, so the tags drive the search, and only those of the
        // listed repositories (`Within::scoped`): a fuzzy match reads them
        // off tag (repository_id, name), not every tag of the registry.
        within: Some(
            "a.id IN (SELECT t.artifact_id FROM tag t \
             WHERE t.repository_id IN ({repositories}) AND {})",
        ),
    },
    // Label ids; `labels=(1 2)` wants both on the artifact.
    Field {
        key: "labels",
        column: "lr.label_id",
        kind: Kind::Int,
        within: Some(
            "EXISTS (SELECT 1 FROM label_reference lr WHERE lr.artifact_id = a.id AND {})",
        ),
    },
    // Harbor's media type: the config's (the manifest's for artifacts
    // pushed before Berth recorded it).
    Field {
        key: "media_type",
        column: "COALESCE(a.harbor_media_type, a.media_type)",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "manifest_media_type",
        column: "a.media_type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "type",
        column: "a.harbor_type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "artifact_type",
        column: "a.artifact_type",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "size",
        column: "a.size",
        kind: Kind::Int,
        within: None,
    },
    Field {
        key: "push_time",
        column: "a.push_time",
        kind: Kind::Time,
        within: None,
    },
    Field {
        key: "pull_time",
        column: "a.pull_time",
        kind: Kind::Time,
        within: None,
    },
];

const LISTED: &str = listed_artifact!();

/// Whose artifacts a list is of.
#[derive(Debug, Clone, Copy)]
pub enum Within<'a> {
    /// One repository's, by id: bound as a value, so PostgreSQL plans with
    /// it (its statistics then tell a repository of 100,000 tags from one
    /// of a few; behind a subquery on the name every repository looks
    /// average).
    Repository(i64),
    /// Every repository's of a project (by name); with `latest`, only the
    /// newest of each repository among those the query matches.
    Project { name: &'a str, latest: bool },
}

impl Within<'_> {
    /// Binds what `$n` in the list's SQL stands for (the repository's id or
    /// the project's name) as the statement's next value.
    fn bind<'q>(&self, q: Query<'q, Any, AnyArguments<'q>>) -> Query<'q, Any, AnyArguments<'q>> {
        match *self {
            Within::Repository(id) => q.bind(id),
            Within::Project { name, .. } => q.bind(name.to_string()),
        }
    }

    /// The query's conditions `cond` with the repositories listed put in
    /// for `{repositories}`, `$n` being what `bind` binds.
    fn scoped(&self, n: usize, cond: &str) -> String {
        let repositories = match self {
            Within::Repository(_) => format!("${n}"),
            Within::Project { .. } => {
                format!("SELECT id FROM repository WHERE project_name = ${n}")
            }
        };
        cond.replace("{repositories}", &repositories)
    }

    /// The condition on `a`/`r` that keeps the listed artifacts, `$n` being
    /// what `bind` binds and the query's own conditions `cond`.
    fn listed(&self, n: usize, cond: &str) -> String {
        match self {
            Within::Repository(_) => format!("a.repository_id = ${n} AND a.id NOT IN ({})", hidden(n)),
            Within::Project { latest: false, .. } => format!("r.project_name = ${n}{LISTED}"),
            Within::Project { latest: true, .. } => format!(
                "r.project_name = ${n} AND a.id IN (SELECT x.id FROM (SELECT a.id, ROW_NUMBER() OVER \
                 (PARTITION BY a.repository_id ORDER BY a.push_time DESC, a.id DESC) AS rn \
                 FROM artifact a JOIN repository r ON r.id = a.repository_id \
                 WHERE r.project_name = ${n}{LISTED}{cond}) x WHERE x.rn = 1){LISTED}"
            ),
        }
    }
}

/// A list statement. On PostgreSQL it is planned afresh for each call
/// with its values (an unnamed statement): a plan cached for any
/// repository assumes an average one, and reads a repository of 100,000
/// tags one artifact at a time.
fn statement<'q>(db: &crate::Db, sql: &'q str) -> Query<'q, Any, AnyArguments<'q>> {
    sqlx::query(sql).persistent(db.backend() == crate::Backend::Sqlite)
}

/// One page of the listed artifacts matching `query` (newest first unless sorted).
pub async fn list(
    db: &crate::Db,
    within: Within<'_>,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<Vec<ArtifactRow>, DbError> {
    let (cond, args) = query.conditions_on(3, db.backend());
    let cond = within.scoped(2, &cond);
    let n = args.len() + 3;
    let order = query.order_by("a.push_time DESC, a.id DESC");
    // The page's ids first, then the columns and tags of those rows only:
    // the rows an offset skips are never read whole.
    let sql = format!(
        "{ARTIFACT_SELECT} WHERE a.id IN (SELECT a.id FROM artifact a \
         JOIN repository r ON r.id = a.repository_id WHERE {}{cond} {order} \
         LIMIT ${n} OFFSET ${}) {order}",
        within.listed(2, &cond),
        n + 1
    );
    query::bind(within.bind(statement(db, &sql).bind("\n")), &args)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?
        .into_iter()
        .map(artifact_from_row)
        .collect()
}

/// One artifact of a repository by digest, or by tag.
pub async fn find<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: Option<&str>,
    tag: Option<&str>,
) -> Result<Option<ArtifactRow>, DbError> {
    sqlx::query(&format!(
        "{ARTIFACT_SELECT} WHERE r.name = $2 AND ($3 IS NULL OR a.digest = $3) AND ($4 IS NULL OR EXISTS \
         (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND t.name = $4))"
    ))
    .bind("\n")
    .bind(repository)
    .bind(digest)
    .bind(tag)
    .fetch_optional(ex)
    .await?
    .map(artifact_from_row)
    .transpose()
}

/// The artifacts of the repository whose id is `$n` that lists hide. Only
/// referrers, index children and cosign signatures can be, and each of
/// those sets is found through an index and is small beside the
/// repository, so the listing's test runs on them alone rather than on
/// every artifact of a large repository. The signature tags are a range of
/// the tag index: SQLite's `LIKE` alone, case-blind, would read every tag.
fn hidden(n: usize) -> String {
    format!(
        "SELECT a.id FROM (SELECT a.id FROM artifact a \
         WHERE a.repository_id = ${n} AND a.subject_digest IS NOT NULL \
         UNION SELECT ar.child_id FROM artifact_reference ar JOIN artifact c ON c.id = ar.child_id \
         WHERE c.repository_id = ${n} \
         UNION SELECT t.artifact_id FROM tag t WHERE t.repository_id = ${n} \
         AND t.name >= 'sha256-' AND t.name < 'sha256.' AND t.name LIKE 'sha256-%.sig') h \
         JOIN artifact a ON a.id = h.id WHERE NOT (1 = 1{LISTED})"
    )
}

/// Number of the listed artifacts matching `query`.
pub async fn count(db: &crate::Db, within: Within<'_>, query: &ListQuery) -> Result<i64, DbError> {
    let (cond, args) = query.conditions_on(2, db.backend());
    let cond = within.scoped(1, &cond);
    let sql = match within {
        // All of a repository's artifacts less the few hidden: a count
        // over one index, not a test of each of them.
        Within::Repository(_) if cond.is_empty() => format!(
            "SELECT (SELECT COUNT(*) FROM artifact a WHERE a.repository_id = $1) \
             - (SELECT COUNT(*) FROM ({}) h)",
            hidden(1)
        ),
        _ => format!(
            "SELECT COUNT(*) FROM artifact a JOIN repository r ON r.id = a.repository_id WHERE {}{cond}",
            within.listed(1, &cond)
        ),
    };
    let row = query::bind(within.bind(statement(db, &sql)), &args)
        .fetch_one(db.reader())
        .await?;
    Ok(row.try_get(0)?)
}

/// Harbor's accessory type of a referrer, from its artifact type.
const ACCESSORY_TYPE: &str = "(CASE a.artifact_type \
     WHEN 'application/vnd.dev.cosign.artifact.sig.v1+json' THEN 'signature.cosign' \
     WHEN 'application/vnd.cncf.notary.signature' THEN 'signature.notation' \
     WHEN 'application/vnd.goharbor.harbor.sbom.v1' THEN 'sbom.harbor' \
     WHEN 'application/vnd.nydus.image.manifest.v1+json' THEN 'accelerator.nydus' \
     ELSE CASE WHEN a.subject_digest IS NULL THEN 'signature.cosign' ELSE 'subject.accessory' END END)";

/// What an accessory list can be filtered and sorted on.
pub static ACCESSORY_FIELDS: &[Field] = &[
    Field {
        key: "type",
        column: ACCESSORY_TYPE,
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "digest",
        column: "a.digest",
        kind: Kind::Text,
        within: None,
    },
    Field {
        key: "creation_time",
        column: "a.push_time",
        kind: Kind::Time,
        within: None,
    },
];

/// An artifact attached to another: an OCI referrer, or a cosign signature
/// pushed under the tag `sha256-<hex>.sig`.
#[derive(Debug, Clone)]
pub struct Accessory {
    pub id: i64,
    pub digest: String,
    pub size: i64,
    pub kind: String,
    pub creation_time: i64,
}

// `$1` repository, `$2` subject digest, `$3` its cosign signature tag.
const ACCESSORY_WHERE: &str = "FROM artifact a JOIN repository r ON r.id = a.repository_id \
     WHERE r.name = $1 AND (a.subject_digest = $2 OR (a.subject_digest IS NULL AND EXISTS \
     (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND t.name = $3)))";

fn cosign_tag(subject: &str) -> String {
    format!("{}.sig", subject.replacen(':', "-", 1))
}

/// Whether `subject` in a repository has an accessory of Harbor's type
/// `kind` (`signature.cosign`, `signature.notation` …).
pub async fn has_accessory<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    subject: &str,
    kind: &str,
) -> Result<bool, DbError> {
    let sql = format!("SELECT 1 {ACCESSORY_WHERE} AND {ACCESSORY_TYPE} = $4 LIMIT 1");
    let found = sqlx::query(&sql)
        .bind(repository)
        .bind(subject)
        .bind(cosign_tag(subject))
        .bind(kind)
        .fetch_optional(ex)
        .await?;
    Ok(found.is_some())
}

/// The manifests of `subject`'s accessories of Harbor's type `kind` in a
/// repository.
pub async fn accessory_manifests<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    subject: &str,
    kind: &str,
) -> Result<Vec<(String, Vec<u8>)>, DbError> {
    let sql =
        format!("SELECT a.media_type, a.manifest {ACCESSORY_WHERE} AND {ACCESSORY_TYPE} = $4");
    Ok(sqlx::query_as(&sql)
        .bind(repository)
        .bind(subject)
        .bind(cosign_tag(subject))
        .bind(kind)
        .fetch_all(ex)
        .await?)
}

/// Whether the artifact `digest` of a repository is itself a signature (a
/// cosign or notation one, or tagged as a cosign signature).
pub async fn is_signature<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository: &str,
    digest: &str,
) -> Result<bool, DbError> {
    let found = sqlx::query(
        "SELECT 1 FROM artifact a JOIN repository r ON r.id = a.repository_id \
         WHERE r.name = $1 AND a.digest = $2 AND (a.artifact_type IN \
         ('application/vnd.dev.cosign.artifact.sig.v1+json', 'application/vnd.cncf.notary.signature') \
         OR EXISTS (SELECT 1 FROM tag t WHERE t.artifact_id = a.id AND t.name LIKE 'sha256-%.sig')) LIMIT 1",
    )
    .bind(repository)
    .bind(digest)
    .fetch_optional(ex)
    .await?;
    Ok(found.is_some())
}

/// One page of the accessories of `subject` in a repository, with the total.
pub async fn accessories(
    db: &crate::Db,
    repository: &str,
    subject: &str,
    query: &ListQuery,
    offset: i64,
    limit: i64,
) -> Result<(Vec<Accessory>, i64), DbError> {
    let (cond, args) = query.conditions(4);
    let n = args.len() + 4;
    let bound = |sql| {
        query::bind(
            sqlx::query(sql)
                .bind(repository.to_string())
                .bind(subject.to_string())
                .bind(cosign_tag(subject)),
            &args,
        )
    };
    let count_sql = format!("SELECT COUNT(*) {ACCESSORY_WHERE}{cond}");
    let total: i64 = bound(&count_sql).fetch_one(db.reader()).await?.try_get(0)?;
    let sql = format!(
        "SELECT a.id, a.digest, a.size, {ACCESSORY_TYPE}, a.push_time {ACCESSORY_WHERE}{cond} {} \
         LIMIT ${n} OFFSET ${}",
        query.order_by("a.push_time, a.id"),
        n + 1
    );
    let rows = bound(&sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.reader())
        .await?;
    let page = rows
        .into_iter()
        .map(|r| {
            Ok(Accessory {
                id: r.try_get(0)?,
                digest: r.try_get(1)?,
                size: r.try_get(2)?,
                kind: r.try_get(3)?,
                creation_time: r.try_get(4)?,
            })
        })
        .collect::<Result<_, DbError>>()?;
    Ok((page, total))
}

/// How many accessories refer to each of `subjects` (digests of artifacts of
/// the repository `repository_id`): referrers by `subject`, and cosign
/// signatures by their `sha256-….sig` tag. Subjects without any are absent.
pub async fn accessory_counts<'e>(
    ex: impl Executor<'e, Database = Any>,
    repository_id: i64,
    subjects: &[String],
) -> Result<std::collections::BTreeMap<String, i64>, DbError> {
    if subjects.is_empty() {
        return Ok(Default::default());
    }
    let n = subjects.len();
    let list = |from: usize| crate::placeholders(from..from + n);
    let sql = format!(
        "SELECT s, COUNT(*) FROM (\
           SELECT a.subject_digest AS s FROM artifact a \
           WHERE a.repository_id = $1 AND a.subject_digest IN ({}) \
           UNION ALL \
           SELECT t.name AS s FROM tag t JOIN artifact a ON a.id = t.artifact_id \
           WHERE t.repository_id = $1 AND a.subject_digest IS NULL AND t.name IN ({})\
         ) x GROUP BY s",
        list(2),
        list(n + 2)
    );
    let mut q = sqlx::query(&sql).bind(repository_id);
    for s in subjects {
        q = q.bind(s.clone());
    }
    for s in subjects {
        q = q.bind(cosign_tag(s));
    }
    let mut out = std::collections::BTreeMap::new();
    for r in q.fetch_all(ex).await? {
        let (key, count): (String, i64) = (r.try_get(0)?, r.try_get(1)?);
        // A signature tag names its subject: `sha256-<hex>.sig`.
        if let Some(subject) = subjects.iter().find(|s| **s == key || cosign_tag(s) == key) {
            *out.entry(subject.clone()).or_insert(0) += count;
        }
    }
    Ok(out)
}
