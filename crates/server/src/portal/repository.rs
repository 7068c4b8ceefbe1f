//! A repository's artifacts, and one artifact: tags, layers, build
//! history, referrers and pull commands.

use super::project::{may, registry_host, repository_url as url, InProject, ProjectPost};
use super::projects::{counted, minutes, page_number, pager, param, search_box, search_text, size};
use super::{csrf_field, message, page, redirect_with, refusal, Flash};
use crate::State;
use axum::extract::{Path, RawQuery, State as S};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::artifacts::{additions_of, Accessory};
use berth_core::project::ProjectView;
use berth_core::query::Filter;
use berth_oci::chart::ChartFiles;
use berth_oci::manifest::Descriptor;
use berth_oci::{Reference, RepositoryName};
use maud::{html, Markup};

/// Artifacts per page.
const PAGE: i64 = 15;

pub fn router() -> Router<State> {
    Router::new()
        .route(
            "/harbor/projects/{id}/repositories/{repo}",
            get(artifacts).post(delete_repository),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts/{digest}",
            get(artifact).post(change),
        )
}

fn artifact_url(project_id: i64, full: &str, digest: &str) -> String {
    format!("{}/artifacts/{digest}", url(project_id, full))
}

/// The repository named in the URL, inside the project.
fn repository(p: &ProjectView, rest: &str) -> Result<RepositoryName, String> {
    RepositoryName::parse(&format!("{}/{rest}", p.project.name))
        .map_err(|e| format!("Invalid repository name: {e}."))
}

/// `sha256:0123456789ab` — how Harbor's lists show a digest.
fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// Where the page sits; `inside` links the repository too (an artifact's page).
fn crumbs(p: &ProjectView, repo: &RepositoryName, inside: bool) -> Markup {
    html! {
        p.crumbs {
            a href="/harbor/projects" { "Projects" } " / "
            a href={ "/harbor/projects/" (p.project.project_id) "/repositories" } { (p.project.name) } " / "
            @if inside {
                a href=(url(p.project.project_id, repo.as_str())) { (repo.as_str()) } " /"
            } @else {
                span { (repo.as_str()) }
            }
        }
    }
}

pub async fn artifacts(
    S(state): S<State>,
    headers: HeaderMap,
    Path((_, rest)): Path<(String, String)>,
    InProject(v, p): InProject,
    RawQuery(query): RawQuery,
) -> Response {
    let repo = match repository(&p, &rest) {
        Ok(r) => r,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let search = search_text(&param(&query, "tag"));
    let page_no = page_number(&query);
    let mut filter = Filter::default();
    if !search.is_empty() {
        filter = filter.search("tags", search.clone());
    }
    let (rows, total) = match state
        .artifacts
        .list(&v.ctx, &repo, &filter, (page_no - 1) * PAGE, PAGE)
        .await
    {
        Ok((rows, total, _)) => (rows, total),
        Err(e) => return refusal(&v, &e),
    };
    // A viewer who may not list referrers sees no counts.
    let referrers = state
        .artifacts
        .accessory_counts(&v.ctx, &repo, &rows)
        .await
        .unwrap_or_default();
    // Harbor's type of each (`IMAGE`, `CHART` …), as the API shows it.
    let mut kinds = Vec::with_capacity(rows.len());
    for a in &rows {
        match state.artifacts.described(&state.registry, &repo, a).await {
            Ok(d) => kinds.push(d.harbor_type),
            Err(e) => return refusal(&v, &e),
        }
    }
    let may_delete = may(&v, &p, Action::Delete, Kind::Repository).await;
    let here = url(p.project.project_id, repo.as_str());
    let host = registry_host(&state);
    let body = html! {
        (crumbs(&p, &repo, false))
        h1 { (repo.as_str()) }
        p { "Pull by tag: " code.copy { "docker pull " (host) "/" (repo.as_str()) ":TAG" } }
        (search_box(&here, "tag", "Filter by tag", &search, "Filter"))
        @if rows.is_empty() {
            p.empty {
                @if search.is_empty() { "This repository has no artifacts left: push one to it again, or delete it below." }
                @else { "No tag contains “" (search) "”." }
            }
        } @else {
            table.artifacts {
                (counted(total, "artifact", "artifacts"))
                thead { tr {
                    th scope="col" { "Digest" }
                    th scope="col" { "Tags" }
                    th.wide scope="col" { "Type" }
                    th scope="col" { "Size" }
                    th.wide scope="col" { "Referrers" }
                    th.wide scope="col" { "Pushed" }
                    th.wide scope="col" { "Pulled" }
                } }
                tbody {
                    @for (a, kind) in rows.iter().zip(&kinds) {
                        tr {
                            td { a href=(artifact_url(p.project.project_id, repo.as_str(), &a.digest)) { code { (short(&a.digest)) } } }
                            td.tags {
                                @for t in &a.tags { span.tag { (t.name) } " " }
                                @if a.tags.is_empty() { span.muted { "untagged" } }
                            }
                            td.wide { (kind) }
                            td { (size(a.size)) }
                            td.wide.referrers { (referrers.get(&a.digest).copied().unwrap_or(0)) }
                            td.wide { (minutes(a.push_time)) }
                            td.wide { @match a.pull_time { Some(t) => (minutes(t)), None => span.muted { "never" } } }
                        }
                    }
                }
            }
            (pager(&here, &[("tag", &search)], page_no, PAGE, total))
        }
        @if may_delete {
            form method="post" action=(here)
                data-confirm={ "Delete " (repo.as_str()) " and all " (total) " of its artifacts? This cannot be undone." } {
                (csrf_field(&v))
                p { button.danger type="submit" name="action" value="delete" { "Delete repository" } }
            }
        }
    };
    page(Some(&v), &headers, repo.as_str(), body)
}

/// Deletes the repository with its artifacts (GC reclaims the storage).
pub async fn delete_repository(
    S(state): S<State>,
    Path((_, rest)): Path<(String, String)>,
    ProjectPost(v, _, p): ProjectPost,
) -> Response {
    let name = &p.project.name;
    let result = state
        .repositories
        .delete(&v.ctx, &state.registry, name, &rest)
        .await;
    let full = format!("{name}/{rest}");
    match result {
        Ok(()) => redirect_with(
            &super::project::tab_url(&p, "repositories"),
            Flash::Ok(format!("Repository {full} deleted.")),
        ),
        Err(e) => redirect_with(&url(p.project.project_id, &full), Flash::Err(message(&e))),
    }
}

/// The repository and digest named in the URL.
fn named(p: &ProjectView, rest: &str, digest: &str) -> Result<(RepositoryName, Reference), String> {
    let repo = repository(p, rest)?;
    let reference = Reference::parse(digest).map_err(|e| format!("Invalid digest: {e}."))?;
    Ok((repo, reference))
}

pub async fn artifact(
    S(state): S<State>,
    headers: HeaderMap,
    Path((_, rest, digest)): Path<(String, String, String)>,
    InProject(v, p): InProject,
) -> Response {
    let (repo, reference) = match named(&p, &rest, &digest) {
        Ok(x) => x,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let (a, manifest) = match state
        .artifacts
        .manifest(&v.ctx, &state.registry, &repo, &reference)
        .await
    {
        Ok(x) => x,
        Err(e) => return refusal(&v, &e),
    };
    let described = match state.artifacts.described(&state.registry, &repo, &a).await {
        Ok(d) => d,
        Err(e) => return refusal(&v, &e),
    };
    // The additions and referrers are optional parts of the page: only
    // images have a history, only charts their files, and a viewer may not
    // be allowed to list referrers.
    let has_history = additions_of(&described, &a.media_type).contains(&"build_history");
    let history = match has_history {
        true => state
            .artifacts
            .addition(&v.ctx, &state.registry, &repo, &reference, "build_history")
            .await
            .ok()
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h.content).ok()),
        false => None,
    };
    let chart = if described.harbor_type == "CHART" {
        Some(
            state
                .artifacts
                .chart(&v.ctx, &state.registry, &repo, &reference)
                .await
                .map_err(|e| e.to_string()),
        )
    } else {
        None
    };
    let referrers = state
        .artifacts
        .accessories(&v.ctx, &repo, &reference, &Filter::default(), 0, 50)
        .await
        .ok();
    let may_tag = may(&v, &p, Action::Create, Kind::Tag).await;
    let may_untag = may(&v, &p, Action::Delete, Kind::Tag).await;
    let may_delete = may(&v, &p, Action::Delete, Kind::Artifact).await;
    let here = artifact_url(p.project.project_id, repo.as_str(), &a.digest);
    let host = registry_host(&state);
    let name = repo.as_str();
    let body = html! {
        (crumbs(&p, &repo, true))
        h1 { code { (short(&a.digest)) } }
        dl.facts {
            dt { "Digest" } dd { code.copy { (a.digest) } }
            dt { "Type" } dd { (described.harbor_type) }
            dt { "Media type" } dd { (a.media_type) }
            @if let Some(t) = &a.artifact_type { dt { "Artifact type" } dd { (t) } }
            dt { "Size" } dd { (size(a.size)) }
            dt { "Pushed" } dd { (minutes(a.push_time)) }
            dt { "Pulled" } dd { @match a.pull_time { Some(t) => (minutes(t)), None => "never" } }
        }
        h2 { "Pull" }
        dl.commands {
            dt { "Docker" } dd { code.copy { "docker pull " (host) "/" (name) "@" (a.digest) } }
            dt { "Podman" } dd { code.copy { "podman pull " (host) "/" (name) "@" (a.digest) } }
            dt { "ORAS" } dd { code.copy { "oras pull " (host) "/" (name) "@" (a.digest) } }
        }
        h2 #tags-heading { "Tags" }
        @if a.tags.is_empty() {
            p.empty { "No tags: this artifact is pulled by digest only." @if may_tag { " Add a tag below." } }
        } @else {
            table.tags aria-labelledby="tags-heading" {
                thead { tr {
                    th scope="col" { "Tag" }
                    th.wide scope="col" { "Pushed" }
                    th scope="col" { "Pull command" }
                    @if may_untag { th scope="col" { "Actions" } }
                } }
                tbody {
                    @for tag in &a.tags {
                        @let t = &tag.name;
                        tr {
                            td.tag-name { (t) }
                            td.wide { (minutes(tag.push_time)) }
                            td { code.copy { "docker pull " (host) "/" (name) ":" (t) } }
                            @if may_untag {
                                td {
                                    form.inline method="post" action=(here)
                                        data-confirm={ "Delete tag " (t) "? The artifact stays." } {
                                        (csrf_field(&v))
                                        input type="hidden" name="tag" value=(t);
                                        button.danger type="submit" name="action" value="delete-tag"
                                            aria-label={ "Delete tag " (t) } { "Delete" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if may_tag {
            form method="post" action=(here) {
                (csrf_field(&v))
                fieldset {
                    legend { "Add a tag" }
                    label for="new_tag" { "Tag" }
                    input #new_tag type="text" name="tag" required maxlength="128"
                        pattern="[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}";
                    p { button type="submit" name="action" value="add-tag" { "Add tag" } }
                }
            }
        }
        @if !manifest.layers.is_empty() {
            h2 { "Layers" }
            (descriptors(&manifest.layers))
        }
        @if !manifest.manifests.is_empty() {
            h2 { "Manifests" }
            (descriptors(&manifest.manifests))
        }
        @if let Some(serde_json::Value::Array(steps)) = &history { (build_history(steps)) }
        @match &chart {
            Some(Ok(files)) => { (chart_files(files)) }
            Some(Err(e)) => { h2 { "Chart" } p.muted { (e) } }
            None => {}
        }
        @if let Some((accessories, total, _)) = &referrers {
            (referrer_table(p.project.project_id, name, accessories, *total))
        }
        @if may_delete {
            form method="post" action=(here)
                data-confirm={ "Delete this artifact and its " (a.tags.len()) " tag(s)? This cannot be undone." } {
                (csrf_field(&v))
                p { button.danger type="submit" name="action" value="delete" { "Delete artifact" } }
            }
        }
    };
    page(
        Some(&v),
        &headers,
        &format!("{name}@{}", short(&a.digest)),
        body,
    )
}

/// An image's build steps.
fn build_history(steps: &[serde_json::Value]) -> Markup {
    html! {
        h2 { "Build history" }
        @if steps.is_empty() { p.muted { "The image config records no history." } }
        @else {
            table.history {
                thead { tr { th scope="col" { "Created" } th scope="col" { "Command" } } }
                tbody {
                    @for s in steps {
                        tr {
                            td { (s.get("created").and_then(|c| c.as_str()).unwrap_or("")) }
                            td { code { (s.get("created_by").and_then(|c| c.as_str()).unwrap_or("")) } }
                        }
                    }
                }
            }
        }
    }
}

/// A chart's README, dependencies and values.
fn chart_files(files: &ChartFiles) -> Markup {
    html! {
        h2 { "Chart" }
        h3 { "README" }
        @if files.readme.is_empty() { p.muted { "The chart has no README." } }
        @else { pre.chart-file { (String::from_utf8_lossy(&files.readme)) } }
        h3 { "Dependencies" }
        @if files.dependencies.is_empty() { p.muted { "The chart depends on no other chart." } }
        @else {
            table.dependencies {
                thead { tr {
                    th scope="col" { "Name" } th scope="col" { "Version" } th scope="col" { "Repository" }
                } }
                tbody {
                    @for d in &files.dependencies {
                        tr { td { (d.name) } td { (d.version) } td { code { (d.repository) } } }
                    }
                }
            }
        }
        h3 { "Values" }
        @if files.values.is_empty() { p.muted { "The chart has no values.yaml." } }
        @else { pre.chart-file { (String::from_utf8_lossy(&files.values)) } }
    }
}

/// The signatures, SBOMs and other artifacts that refer to one.
fn referrer_table(project_id: i64, name: &str, accessories: &[Accessory], total: i64) -> Markup {
    html! {
        h2 { "Referrers" }
        @if accessories.is_empty() { p.muted { "No signatures, SBOMs or other artifacts refer to this one." } }
        @else {
            table {
                (counted(total, "referrer", "referrers"))
                thead { tr { th scope="col" { "Type" } th scope="col" { "Digest" } th scope="col" { "Size" } } }
                tbody {
                    @for r in accessories {
                        tr {
                            td { (r.kind) }
                            td { a href=(artifact_url(project_id, name, &r.digest)) { code { (short(&r.digest)) } } }
                            td { (size(r.size)) }
                        }
                    }
                }
            }
        }
    }
}

fn descriptors(list: &[Descriptor]) -> Markup {
    html! {
        table.layers {
            thead { tr {
                th scope="col" { "Digest" }
                th.wide scope="col" { "Media type" }
                th scope="col" { "Size" }
            } }
            tbody {
                @for d in list {
                    tr {
                        td { code { (short(&d.digest.to_string())) } }
                        td.wide { (d.media_type) }
                        td { (size(d.size as i64)) }
                    }
                }
            }
        }
    }
}

/// Adds or deletes a tag, or deletes the artifact.
pub async fn change(
    S(state): S<State>,
    Path((_, rest, digest)): Path<(String, String, String)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    let (repo, reference) = match named(&p, &rest, &digest) {
        Ok(x) => x,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let here = artifact_url(p.project.project_id, repo.as_str(), &digest);
    let arts = &state.artifacts;
    let tag = form.get("tag").trim();
    let (result, to) = match form.get("action") {
        "add-tag" => {
            let r = arts
                .add_tag(&v.ctx, &state.registry, &repo, &reference, tag)
                .await;
            (r.map(|()| format!("Tag {tag} added.")), here)
        }
        "delete-tag" => {
            let r = arts
                .delete_tag(&v.ctx, &state.registry, &repo, &reference, tag)
                .await;
            (r.map(|()| format!("Tag {tag} deleted.")), here)
        }
        "delete" => {
            let r = arts
                .delete(&v.ctx, &state.registry, &repo, &reference)
                .await;
            // A deleted artifact's page is gone: go back to its repository.
            let to = if r.is_ok() {
                url(p.project.project_id, repo.as_str())
            } else {
                here
            };
            (
                r.map(|()| format!("Artifact {} deleted.", short(&digest))),
                to,
            )
        }
        other => (
            Err(berth_core::CoreError::BadRequest(format!(
                "unknown action {other:?}"
            ))),
            here,
        ),
    };
    match result {
        Ok(done) => redirect_with(&to, Flash::Ok(done)),
        Err(e) => redirect_with(&to, Flash::Err(message(&e))),
    }
}
