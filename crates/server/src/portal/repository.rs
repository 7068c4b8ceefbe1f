//! A repository's artifacts, and one artifact: tags, layers, build
//! history, referrers and pull commands.

use super::project::{may, registry_host, repository_url as url, InProject, ProjectPost};
use super::projects::{counted, minutes, pager, search_box, size};
use super::Col::{Plain, Wide};
use super::{
    actions, confirmed, csrf_field, form_set, head, message, outcome_keeping, page, redirect_with,
    refusal, Flash, Viewer,
};
use super::{markdown, Listing};
use crate::State;
use axum::extract::{Path, State as S};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::artifacts::{additions_of, Accessory, ArtifactRow, Described, TagRow};
use berth_core::project::labels::Label;
use berth_core::project::ProjectView;
use berth_core::query::Filter;
use berth_core::scan::report::{Overview, Report};
use berth_core::scan::{scannable_type, ScanType};
use berth_core::{CoreError, CoreResult};
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
            get(artifacts).post(change_repository),
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

/// Tags in natural order: `v2` before `v10`.
fn naturally(tags: &[TagRow]) -> Vec<&TagRow> {
    let mut sorted: Vec<&TagRow> = tags.iter().collect();
    sorted.sort_by(|a, b| natural(&a.name, &b.name));
    sorted
}

/// Compares runs of digits by their value and everything else as text.
fn natural(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while let (Some(&p), Some(&q)) = (x.first(), y.first()) {
        let order = if p.is_ascii_digit() && q.is_ascii_digit() {
            let run = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_digit()).count();
            let (m, n) = (run(x), run(y));
            let (dx, dy) = (trim_zeros(&x[..m]), trim_zeros(&y[..n]));
            let by_value = dx.len().cmp(&dy.len()).then_with(|| dx.cmp(dy));
            (x, y) = (&x[m..], &y[n..]);
            by_value
        } else {
            (x, y) = (&x[1..], &y[1..]);
            p.cmp(&q)
        };
        if order.is_ne() {
            return order;
        }
    }
    x.len().cmp(&y.len()).then_with(|| a.cmp(b))
}

fn trim_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
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
    Path((_, rest)): Path<(String, String)>,
    InProject(v, p): InProject,
    list: Listing,
) -> Response {
    let repo = match repository(&p, &rest) {
        Ok(r) => r,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let search = list.search("tag");
    let label = list.search("label").parse::<i64>().ok();
    let here = url(p.project.project_id, repo.as_str());
    let may_scan = may(&v, &p, Action::Create, Kind::Scan).await && !v.read_only;
    let wanted = Wanted {
        search: &search,
        label,
        page: list.page,
    };
    let listed = artifact_list(&state, &v, &repo, &here, wanted, may_scan).await;
    let usable = super::labels::usable(&state, &v, p.project.project_id).await;
    let (list, total) = match listed {
        Ok(x) => x,
        Err(e) => return refusal(&v, &e),
    };
    let may_delete = may(&v, &p, Action::Delete, Kind::Repository).await;
    let may_describe = may(&v, &p, Action::Update, Kind::Repository).await;
    let described = state
        .repositories
        .description(&v.ctx, &p.project.name, &rest);
    let description = described.await.unwrap_or_default();
    let host = registry_host(&state);
    let body = html! {
        (crumbs(&p, &repo, false))
        h1 { (repo.as_str()) }
        p { "Pull by tag: " code.copy { "docker pull " (host) "/" (repo.as_str()) ":TAG" } }
        (overview(&v, &here, &description, may_describe))
        h2 { "Artifacts" }
        (search_box(&here, "tag", "Filter by tag", &search, "Filter"))
        (super::labels::filter_links(&here, &usable, label))
        (list)
        @if may_delete {
            @let confirm = format!("Delete {} and all {total} of its artifacts? This cannot be undone.", repo.as_str());
            p { (confirmed(&v, &here, &confirm, "delete", "Delete repository")) }
        }
    };
    page(&v, repo.as_str(), body)
}

/// Which artifacts a list shows: a tag containing `search`, a label,
/// and the page.
struct Wanted<'a> {
    search: &'a str,
    label: Option<i64>,
    page: i64,
}

/// One page of a repository's artifacts (as `wanted`), each with its
/// Harbor type, labels and referrer count, and the total.
async fn artifact_list(
    state: &State,
    v: &Viewer,
    repo: &RepositoryName,
    here: &str,
    wanted: Wanted<'_>,
    may_scan: bool,
) -> CoreResult<(Markup, i64)> {
    let Wanted {
        search,
        label,
        page: page_no,
    } = wanted;
    let mut filter = Filter::default();
    if !search.is_empty() {
        filter = filter.search("tags", search.to_string());
    }
    if let Some(l) = label {
        filter = filter.exact("labels", l.to_string());
    }
    let offset = (page_no - 1) * PAGE;
    let (rows, total, _) = state
        .artifacts
        .list(&v.ctx, repo, &filter, offset, PAGE)
        .await?;
    if rows.is_empty() {
        let markup = html! {
            p.empty {
                @if label.is_some() { "No artifact here carries this label." }
                @else if search.is_empty() { "This repository has no artifacts left: push one to it again, or delete it below." }
                @else { "No tag contains “" (search) "”." }
            }
        };
        return Ok((markup, total));
    }
    // A viewer who may not list referrers sees no counts.
    let referrers = state
        .artifacts
        .accessory_counts(&v.ctx, repo, &rows)
        .await
        .unwrap_or_default();
    // Harbor's type of each (`IMAGE`, `CHART` …), as the API shows it.
    let mut kinds = Vec::with_capacity(rows.len());
    for a in &rows {
        let described = state.artifacts.described(&state.registry, repo, a).await?;
        kinds.push(described.harbor_type);
    }
    let scans = state
        .scans
        .overviews(&rows, ScanType::Vulnerability)
        .await?;
    let sboms = state.scans.overviews(&rows, ScanType::Sbom).await?;
    let ids: Vec<i64> = rows.iter().map(|a| a.id).collect();
    let labels = state.labels.of_artifacts(&ids).await?;
    let markup = html! {
        table.artifacts {
            (counted(total, "artifact", "artifacts"))
            (head(&[Plain("Digest"), Plain("Tags"), Wide("Type"), Wide("Size"), Plain("Scan"), Wide("SBOM"), Wide("Referrers"), Wide("Pushed"), Wide("Pulled")]))
            tbody {
                @for (a, kind) in rows.iter().zip(&kinds) {
                    @let scannable = scannable_type(kind);
                    @let row = Row {
                        here,
                        artifact: a,
                        kind,
                        scan: scannable.then(|| scans.get(&a.id)),
                        sbom: scannable.then(|| sboms.get(&a.id)),
                        referrers: referrers.get(&a.digest).copied().unwrap_or(0),
                        labels: labels.get(&a.id).map_or(&[], Vec::as_slice),
                        scan_button: (may_scan && scannable).then(|| csrf_field(v)),
                    };
                    (artifact_row(&row))
                }
            }
        }
        @let label = label.map(|l| l.to_string()).unwrap_or_default();
        (pager(here, &[("tag", search), ("label", &label)], page_no, PAGE, total))
    };
    Ok((markup, total))
}

/// An artifact's row in its repository's list.
struct Row<'a> {
    here: &'a str,
    artifact: &'a ArtifactRow,
    kind: &'a str,
    /// None for what the scanner does not read, `Some(None)` for an image
    /// never scanned.
    scan: Option<Option<&'a Overview>>,
    /// Likewise, its SBOM.
    sbom: Option<Option<&'a Overview>>,
    referrers: i64,
    labels: &'a [Label],
    /// The CSRF field of a "Scan" button, for those who may scan.
    scan_button: Option<Markup>,
}

fn artifact_row(row: &Row) -> Markup {
    let Row {
        here,
        artifact: a,
        kind,
        scan,
        sbom,
        referrers,
        ..
    } = *row;
    html! {
        tr {
            td { a href={ (here) "/artifacts/" (a.digest) } { code.digest { (short(&a.digest)) } } }
            td.tags {
                @let tags = naturally(&a.tags);
                @match tags.split_first() {
                    Some((first, [])) => span.tag { (first.name) },
                    Some((first, rest)) => {
                        span.tag { (first.name) } " "
                        @let others: Vec<&str> = rest.iter().map(|t| t.name.as_str()).collect();
                        span.more title=(others.join(", ")) { "+" (rest.len()) }
                    }
                    None => span.muted { "untagged" },
                }
                @for l in row.labels { " " (super::labels::chip(l)) }
            }
            td.wide { (kind) }
            td.wide { (size(a.size)) }
            td.scan {
                @match scan {
                    None => span.muted { "—" },
                    Some(o) => (scan_state(o)),
                }
                @if let Some(csrf) = &row.scan_button {
                    form.inline method="post" action={ (here) "/artifacts/" (a.digest) } {
                        (csrf)
                        " " button.secondary type="submit" name="action" value="scan" { "Scan" }
                    }
                }
            }
            td.wide.sbom {
                @match sbom.map(|o| o.map(|o| (o.status.as_str(), o.sbom_digest()))) {
                    None | Some(None) => span.muted { "—" },
                    Some(Some((_, Some(d)))) => a href={ (here) "/artifacts/" (d) } { "SBOM" },
                    Some(Some((status, None))) => span.muted { (status) },
                }
            }
            td.wide.referrers { (referrers) }
            td.wide { (minutes(a.push_time)) }
            td.wide { @match a.pull_time { Some(t) => (minutes(t)), None => span.muted { "never" } } }
        }
    }
}

/// A scan's state in a few words: its worst severity and how many
/// findings, or how far it is.
fn scan_state(o: Option<&Overview>) -> Markup {
    let Some(o) = o else {
        return html! { span.muted { "Not scanned" } };
    };
    let total = (o.summary.as_ref())
        .and_then(|s| s.get("total"))
        .and_then(|t| t.as_i64())
        .unwrap_or(0);
    html! {
        @match (o.status.as_str(), o.severity) {
            ("Success", _) if total == 0 => span.sev.none { "No vulnerabilities" },
            ("Success", Some(s)) => {
                span class={ "sev " (s.as_str().to_ascii_lowercase()) } { (s.as_str()) }
                " · " (total) @if total == 1 { " finding" } @else { " findings" }
            }
            ("Pending" | "Running", _) => span.muted { "Scanning…" },
            ("Error", _) => span.sev.high { "Scan failed" },
            (other, _) => span.muted { "Scan " (other.to_ascii_lowercase()) },
        }
    }
}

/// The repository's description (Harbor's Info tab), Markdown rendered
/// safely, and the form that edits it.
fn overview(v: &Viewer, here: &str, description: &str, may_describe: bool) -> Markup {
    html! {
        section.overview aria-label="Description" {
            @if description.trim().is_empty() {
                p.muted { "No description." }
            } @else {
                div.readme { (markdown::render(description)) }
            }
            @if may_describe && !v.read_only {
                details.describe open[!v.kept.is_empty()] {
                    summary { "Edit the description" }
                    form method="post" action=(here) {
                        (csrf_field(v))
                        label for="description" { "Description (Markdown)" }
                        textarea #description name="description" rows="8" { (v.typed("description", description)) }
                        p { button type="submit" name="action" value="describe" { "Save description" } }
                    }
                }
            }
        }
    }
}

/// Saves the description, or deletes the repository.
pub async fn change_repository(
    S(state): S<State>,
    Path((_, rest)): Path<(String, String)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    let name = &p.project.name;
    let full = format!("{name}/{rest}");
    let here = url(p.project.project_id, &full);
    if form.get("action") == "describe" {
        // Browsers send a textarea's lines ending in CRLF; API clients read LF.
        let text = form.get("description").replace("\r\n", "\n");
        let saved = state
            .repositories
            .update_description(&v.ctx, name, &rest, &text);
        let result = saved
            .await
            .map(|()| "The description was saved.".to_string());
        return outcome_keeping(&here, result, &form);
    }
    delete_repository(&state, &v, &p, &rest).await
}

/// Deletes the repository with its artifacts (GC reclaims the storage).
async fn delete_repository(state: &State, v: &Viewer, p: &ProjectView, rest: &str) -> Response {
    let name = &p.project.name;
    let result = state
        .repositories
        .delete(&v.ctx, &state.registry, name, rest)
        .await;
    let full = format!("{name}/{rest}");
    match result {
        Ok(()) => redirect_with(
            &super::project::tab_url(p, "repositories"),
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
    Path((_, rest, digest)): Path<(String, String, String)>,
    InProject(v, p): InProject,
    list: Listing,
) -> Response {
    let (repo, reference) = match named(&p, &rest, &digest) {
        Ok(x) => x,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let arts = &state.artifacts;
    let found = match arts
        .manifest(&v.ctx, &state.registry, &repo, &reference)
        .await
    {
        Ok((a, manifest)) => match arts.described(&state.registry, &repo, &a).await {
            Ok(d) => (a, manifest, d),
            Err(e) => return refusal(&v, &e),
        },
        Err(e) => return refusal(&v, &e),
    };
    let (a, manifest, described) = found;
    let here = artifact_url(p.project.project_id, repo.as_str(), &a.digest);
    let name = repo.as_str();
    let tags = tag_section(&v, &p, (&here, list.page), registry_host(&state), name, &a).await;
    let labels = super::labels::artifact_section(&state, &v, &p, &here, a.id).await;
    let extras = extras(&state, &v, &p, &repo, &reference, &a, &described).await;
    let may_delete = may(&v, &p, Action::Delete, Kind::Artifact).await;
    let refused = state.registry.pull_refusal(&repo, &a.digest).await;
    let body = html! {
        (crumbs(&p, &repo, true))
        h1 { code.digest { (short(&a.digest)) } }
        @if let Ok(Some(why)) = &refused {
            div.notice.warn.pull-refused role="note" {
                strong { "Pulls of this artifact are refused. " } (why)
                " The project's configuration asks for it."
            }
        }
        (facts(&a, &described.harbor_type, manifest.subject.as_ref(), &here))
        (pull_commands(&a.digest, &described.harbor_type, registry_host(&state), name))
        (tags)
        (labels)
        @if !manifest.layers.is_empty() { h2 { "Layers" } (descriptors(&manifest.layers)) }
        @if !manifest.manifests.is_empty() { (children(&manifest.manifests, &here)) }
        (extras)
        @if may_delete {
            @let confirm = format!("Delete this artifact and its {} tag(s)? This cannot be undone.", a.tags.len());
            p { (confirmed(&v, &here, &confirm, "delete", "Delete artifact")) }
        }
    };
    let title = format!("{name}@{}", short(&a.digest));
    page(&v, &title, body)
}

/// An artifact's facts; a referrer's link to its subject (`here` is the
/// artifact's own page).
fn facts(a: &ArtifactRow, harbor_type: &str, subject: Option<&Descriptor>, here: &str) -> Markup {
    html! {
        dl.facts {
            dt { "Digest" } dd { code.copy { (a.digest) } }
            dt { "Type" } dd { (harbor_type) }
            dt { "Media type" } dd { (a.media_type) }
            @if let Some(t) = &a.artifact_type { dt { "Artifact type" } dd { (t) } }
            @if let Some(s) = subject {
                dt { "Refers to" }
                dd.subject { a href=(sibling(here, &s.digest.to_string())) { code.digest { (short(&s.digest.to_string())) } } }
            }
            dt { "Size" } dd { (size(a.size)) }
            dt { "Pushed" } dd { (minutes(a.push_time)) }
            dt { "Pulled" } dd { @match a.pull_time { Some(t) => (minutes(t)), None => "never" } }
        }
    }
}

/// The commands that pull an artifact: container clients for images (and
/// indexes of images), ORAS for anything.
fn pull_commands(digest: &str, harbor_type: &str, host: &str, name: &str) -> Markup {
    html! {
        h2 { "Pull" }
        dl.commands {
            @if harbor_type == "IMAGE" {
                dt { "Docker" } dd { code.copy { "docker pull " (host) "/" (name) "@" (digest) } }
                dt { "Podman" } dd { code.copy { "podman pull " (host) "/" (name) "@" (digest) } }
            }
            dt { "ORAS" } dd { code.copy { "oras pull " (host) "/" (name) "@" (digest) } }
        }
    }
}

/// The page of another artifact of the same repository.
fn sibling(here: &str, digest: &str) -> String {
    let base = here.rsplit_once('/').map_or(here, |(b, _)| b);
    format!("{base}/{digest}")
}

/// An index's manifests: each child's platform and a link to its page.
fn children(list: &[Descriptor], here: &str) -> Markup {
    html! {
        h2 { "Manifests" }
        table.manifests {
            (head(&[Plain("Digest"), Plain("Platform"), Wide("Media type"), Plain("Size")]))
            tbody {
                @for d in list {
                    @let digest = d.digest.to_string();
                    tr {
                        td { a href=(sibling(here, &digest)) { code.digest { (short(&digest)) } } }
                        td.platform { (platform(d.platform.as_ref())) }
                        td.wide { (d.media_type) }
                        td { (size(d.size as i64)) }
                    }
                }
            }
        }
    }
}

/// `os/architecture[/variant]`, as `docker manifest inspect` writes it.
fn platform(p: Option<&serde_json::Value>) -> String {
    let field = |k: &str| p.and_then(|p| p.get(k)).and_then(|v| v.as_str());
    match (field("os"), field("architecture")) {
        (Some(os), Some(arch)) => match field("variant") {
            Some(variant) => format!("{os}/{arch}/{variant}"),
            None => format!("{os}/{arch}"),
        },
        _ => "—".into(),
    }
}

/// One page of an artifact's tags (in natural order), with the forms that
/// add and delete them for whoever may.
async fn tag_section(
    v: &Viewer,
    p: &ProjectView,
    (here, page_no): (&str, i64),
    host: &str,
    name: &str,
    a: &ArtifactRow,
) -> Markup {
    let may_tag = may(v, p, Action::Create, Kind::Tag).await;
    let may_untag = may(v, p, Action::Delete, Kind::Tag).await;
    let sorted = naturally(&a.tags);
    let shown = sorted
        .iter()
        .skip(((page_no - 1) * PAGE) as usize)
        .take(PAGE as usize);
    let total = sorted.len() as i64;
    html! {
        h2 #tags-heading { "Tags" }
        @if a.tags.is_empty() {
            p.empty { "No tags: this artifact is pulled by digest only." @if may_tag { " Add a tag below." } }
        } @else {
            table.tags aria-labelledby="tags-heading" {
                (counted(total, "tag", "tags"))
                (head(&[&[Plain("Tag"), Wide("Pushed"), Plain("Pull command")], actions(may_untag)].concat()))
                tbody {
                    @for tag in shown {
                        @let t = &tag.name;
                        tr {
                            td.tag-name { (t) }
                            td.wide { (minutes(tag.push_time)) }
                            td { code.copy { "docker pull " (host) "/" (name) ":" (t) } }
                            @if may_untag {
                                td {
                                    form.inline method="post" action=(here)
                                        data-confirm={ "Delete tag " (t) "? The artifact stays." } {
                                        (csrf_field(v))
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
            @if total > PAGE { (pager(here, &[], page_no, PAGE, total)) }
        }
        @if may_tag {
            (form_set(v, here, "Add a tag", html! {
                label for="new_tag" { "Tag" }
                input #new_tag type="text" name="tag" required maxlength="128"
                    pattern="[A-Za-z0-9_][A-Za-z0-9_.\\-]{0,127}" value=(v.typed("tag", ""));
                p { button type="submit" name="action" value="add-tag" { "Add tag" } }
            }))
        }
    }
}

/// The optional parts of an artifact's page: only images have a build
/// history, only charts their files, and a viewer may not be allowed to
/// list referrers.
async fn extras(
    state: &State,
    v: &Viewer,
    p: &ProjectView,
    repo: &RepositoryName,
    reference: &Reference,
    a: &ArtifactRow,
    described: &Described,
) -> Markup {
    let (arts, reg) = (&state.artifacts, &state.registry);
    let history = match additions_of(described, &a.media_type).contains(&"build_history") {
        true => arts
            .addition(&v.ctx, reg, repo, reference, "build_history")
            .await
            .ok()
            .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h.content).ok()),
        false => None,
    };
    let chart = match described.harbor_type == "CHART" {
        true => Some(arts.chart(&v.ctx, reg, repo, reference).await),
        false => None,
    };
    let referrers = arts
        .accessories(&v.ctx, repo, reference, &Filter::default(), 0, 50)
        .await
        .ok();
    let scanning = match scannable_type(&described.harbor_type) {
        true => Some(scan_section(state, v, p, repo, reference, a).await),
        false => None,
    };
    html! {
        @if let Some(section) = scanning { (section) }
        @if let Some(serde_json::Value::Array(steps)) = &history { (build_history(steps)) }
        @match &chart {
            Some(Ok(files)) => { (chart_files(files)) }
            Some(Err(e)) => { h2 { "Chart" } p.muted { (e) } }
            None => {}
        }
        @if let Some((accessories, total, _)) = &referrers {
            (referrer_table(p.project.project_id, repo.as_str(), accessories, *total))
        }
    }
}

/// An image's scans: their state, the buttons that start them, the
/// findings of the last vulnerability scan and where its SBOM is.
async fn scan_section(
    state: &State,
    v: &Viewer,
    p: &ProjectView,
    repo: &RepositoryName,
    reference: &Reference,
    a: &ArtifactRow,
) -> Markup {
    let scans = &state.scans;
    let one = std::slice::from_ref(a);
    let vuln = scans.overviews(one, ScanType::Vulnerability).await.ok();
    let sbom = scans.overviews(one, ScanType::Sbom).await.ok();
    let vuln = vuln.and_then(|mut m| m.remove(&a.id));
    let sbom = sbom.and_then(|mut m| m.remove(&a.id));
    let report = (scans
        .vulnerabilities(&v.ctx, repo, reference, None)
        .await
        .ok())
    .and_then(|m| m.into_values().next());
    let may_scan = may(v, p, Action::Create, Kind::Scan).await && !v.read_only;
    let may_sbom = may(v, p, Action::Create, Kind::Sbom).await && !v.read_only;
    let here = artifact_url(p.project.project_id, repo.as_str(), &a.digest);
    html! {
        section.scans aria-label="Vulnerabilities" {
            h2 { "Vulnerabilities" }
            p.scan-state { (scan_state(vuln.as_ref())) }
            @if may_scan || may_sbom {
                form.inline method="post" action=(here) {
                    (csrf_field(v))
                    @if may_scan { button type="submit" name="action" value="scan" { "Scan" } " " }
                    @if may_sbom { button.secondary type="submit" name="action" value="sbom" { "Generate SBOM" } }
                }
            }
            @if let Some(r) = &report { (findings(r)) }
            @match sbom.as_ref().map(|o| (o.status.as_str(), o.sbom_digest())) {
                Some((_, Some(d))) => p.sbom {
                    "SBOM: " a href=(artifact_url(p.project.project_id, repo.as_str(), d)) { code.digest { (short(d)) } }
                },
                Some(("Pending" | "Running", _)) => p.sbom.muted { "Generating the SBOM…" },
                Some((status, None)) => p.sbom.muted { "SBOM generation: " (status) },
                None => {}
            }
        }
    }
}

/// A report's findings, most severe first.
fn findings(r: &Report) -> Markup {
    html! {
        @if r.vulnerabilities.is_empty() { p.muted { "The last scan found no vulnerabilities." } }
        @else {
            table.findings {
                (head(&[Plain("Severity"), Plain("Vulnerability"), Plain("Package"), Wide("Version"), Plain("Fixed in")]))
                tbody {
                    @for f in &r.vulnerabilities {
                        tr {
                            td { span class={ "sev " (f.severity.as_str().to_ascii_lowercase()) } { (f.severity.as_str()) } }
                            td {
                                @match f.links.first() {
                                    Some(l) => a href=(l) rel="noreferrer" { (f.id) },
                                    None => (f.id),
                                }
                            }
                            td { (f.package) }
                            td.wide { code { (f.version) } }
                            td { @if f.fix_version.is_empty() { span.muted { "no fix yet" } } @else { code { (f.fix_version) } } }
                        }
                    }
                }
            }
        }
    }
}

/// An image's build steps.
fn build_history(steps: &[serde_json::Value]) -> Markup {
    html! {
        h2 { "Build history" }
        @if steps.is_empty() { p.muted { "The image config records no history." } }
        @else {
            table.history {
                (head(&[Plain("Created"), Plain("Command")]))
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
                (head(&[Plain("Name"), Plain("Version"), Plain("Repository")]))
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
                (head(&[Plain("Type"), Plain("Digest"), Plain("Size")]))
                tbody {
                    @for r in accessories {
                        tr {
                            td { (r.kind) }
                            td { a href=(artifact_url(project_id, name, &r.digest)) { code.digest { (short(&r.digest)) } } }
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
            (head(&[Plain("Digest"), Wide("Media type"), Plain("Size")]))
            tbody {
                @for d in list {
                    tr {
                        td { code.digest { (short(&d.digest.to_string())) } }
                        td.wide { (d.media_type) }
                        td { (size(d.size as i64)) }
                    }
                }
            }
        }
    }
}

/// Adds or deletes a tag, deletes the artifact, or scans it.
pub async fn change(
    S(state): S<State>,
    Path((_, rest, digest)): Path<(String, String, String)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    let (repo, reference) = match named(&p, &rest, &digest) {
        Ok(x) => x,
        Err(e) => return super::failed(Some(&v), StatusCode::NOT_FOUND, &e),
    };
    let (arts, reg, ctx) = (&state.artifacts, &state.registry, &v.ctx);
    let tag = form.get("tag").trim();
    let action = form.get("action");
    let result = match action {
        "add-tag" => (arts.add_tag(ctx, reg, &repo, &reference, tag).await)
            .map(|()| format!("Tag {tag} added.")),
        "delete-tag" => (arts.delete_tag(ctx, reg, &repo, &reference, tag).await)
            .map(|()| format!("Tag {tag} deleted.")),
        "add-label" | "remove-label" => match form.get("label").parse::<i64>() {
            Ok(label) if action == "add-label" => (arts.add_label(ctx, &repo, &reference, label))
                .await
                .map(|()| "Label added.".into()),
            Ok(label) => (arts.remove_label(ctx, &repo, &reference, label).await)
                .map(|()| "Label removed.".into()),
            Err(_) => Err(CoreError::BadRequest("choose a label".into())),
        },
        "delete" => (arts.delete(ctx, reg, &repo, &reference).await)
            .map(|()| format!("Artifact {} deleted.", short(&digest))),
        "scan" => (state
            .scans
            .scan(ctx, &repo, &reference, ScanType::Vulnerability)
            .await)
            .map(|()| "Scan queued: this page shows its findings once it ends.".into()),
        "sbom" => (state
            .scans
            .scan(ctx, &repo, &reference, ScanType::Sbom)
            .await)
            .map(|()| "SBOM generation queued.".into()),
        other => Err(CoreError::BadRequest(format!("unknown action {other:?}"))),
    };
    // A deleted artifact's page is gone: go back to its repository.
    let to = match (action, &result) {
        ("delete", Ok(_)) => url(p.project.project_id, repo.as_str()),
        _ => artifact_url(p.project.project_id, repo.as_str(), &digest),
    };
    outcome_keeping(&to, result, &form)
}

#[cfg(test)]
mod tests {
    #[test]
    fn natural_order_reads_numbers_as_numbers() {
        let mut tags = [
            "v10", "v2", "latest", "v1.10", "v1.9", "v02", "1", "10", "9",
        ];
        tags.sort_by(|a, b| super::natural(a, b));
        assert_eq!(
            tags,
            ["1", "9", "10", "latest", "v1.9", "v1.10", "v02", "v2", "v10"]
        );
    }
}
