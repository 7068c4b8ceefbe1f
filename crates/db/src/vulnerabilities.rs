//! The vulnerability database: OSV advisories and the packages they affect.

use crate::DbError;
use sqlx::{Any, Executor, Row};

/// An advisory as stored.
#[derive(Debug, Clone)]
pub struct Advisory {
    pub id: String,
    /// The CVEs it is about, separated by spaces.
    pub cves: String,
    pub modified: String,
    pub description: String,
    pub severity: String,
    pub cvss_x10: Option<i64>,
    pub cvss_vector: Option<String>,
    /// JSON array of URLs.
    pub links: String,
    /// JSON array of CWE ids.
    pub cwe_ids: String,
}

/// A package an advisory affects.
#[derive(Debug, Clone)]
pub struct Affected {
    pub ecosystem: String,
    pub name: String,
    /// OSV's ranges and versions, as JSON.
    pub versions: String,
    pub severity: Option<String>,
}

/// An advisory that names a package, with the versions it affects.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub advisory: Advisory,
    pub versions: String,
    pub package_severity: Option<String>,
}

/// Stores advisories, replacing what an earlier import stored of each.
pub async fn upsert(
    tx: &mut crate::Tx,
    batch: &[(Advisory, Vec<Affected>)],
) -> Result<(), DbError> {
    for (a, packages) in batch {
        sqlx::query(
            "INSERT INTO vulnerability (id, cves, modified, description, severity, cvss_x10, \
             cvss_vector, links, cwe_ids) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET cves = excluded.cves, modified = excluded.modified, \
             description = excluded.description, severity = excluded.severity, \
             cvss_x10 = excluded.cvss_x10, cvss_vector = excluded.cvss_vector, \
             links = excluded.links, cwe_ids = excluded.cwe_ids",
        )
        .bind(&a.id)
        .bind(&a.cves)
        .bind(&a.modified)
        .bind(&a.description)
        .bind(&a.severity)
        .bind(a.cvss_x10)
        .bind(&a.cvss_vector)
        .bind(&a.links)
        .bind(&a.cwe_ids)
        .execute(&mut **tx)
        .await?;
        sqlx::query("DELETE FROM vulnerability_package WHERE vulnerability_id = $1")
            .bind(&a.id)
            .execute(&mut **tx)
            .await?;
        for p in packages {
            sqlx::query(
                "INSERT INTO vulnerability_package (vulnerability_id, ecosystem, name, versions, \
                 severity) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&a.id)
            .bind(&p.ecosystem)
            .bind(&p.name)
            .bind(&p.versions)
            .bind(&p.severity)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Removes advisories (withdrawn since an earlier import).
pub async fn remove(tx: &mut crate::Tx, ids: &[String]) -> Result<(), DbError> {
    for id in ids {
        sqlx::query("DELETE FROM vulnerability WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The advisories that name a package of an ecosystem.
pub async fn naming<'e>(
    ex: impl Executor<'e, Database = Any>,
    ecosystem: &str,
    name: &str,
) -> Result<Vec<Candidate>, DbError> {
    let rows = sqlx::query(
        "SELECT v.id, COALESCE(v.cves, ''), v.modified, v.description, v.severity, v.cvss_x10, v.cvss_vector, \
         v.links, v.cwe_ids, p.versions, p.severity AS package_severity \
         FROM vulnerability_package p JOIN vulnerability v ON v.id = p.vulnerability_id \
         WHERE p.ecosystem = $1 AND p.name = $2 ORDER BY v.id",
    )
    .bind(ecosystem)
    .bind(name)
    .fetch_all(ex)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Candidate {
                advisory: Advisory {
                    id: r.try_get(0)?,
                    cves: r.try_get(1)?,
                    modified: r.try_get(2)?,
                    description: r.try_get(3)?,
                    severity: r.try_get(4)?,
                    cvss_x10: r.try_get(5)?,
                    cvss_vector: r.try_get(6)?,
                    links: r.try_get(7)?,
                    cwe_ids: r.try_get(8)?,
                },
                versions: r.try_get(9)?,
                package_severity: r.try_get(10)?,
            })
        })
        .collect()
}

/// How many advisories are stored.
pub async fn count<'e>(ex: impl Executor<'e, Database = Any>) -> Result<i64, DbError> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM vulnerability")
        .fetch_one(ex)
        .await?)
}
