//! The projects list: search, pages, and creating a project.

use super::Col::{Plain, Wide};
use super::Listing;
use super::{form_set, head, message, outcome_keeping, page, Posted, Viewer};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use berth_core::iam::rbac::Role;
use berth_core::project::ProjectView;
use berth_core::query::Filter;
use berth_core::replication::registries::Endpoint;
use maud::{html, Markup};
use std::collections::BTreeMap;

/// Projects per page.
const PAGE: i64 = 15;

/// How Harbor's UI names a role.
pub fn role_label(r: Role) -> &'static str {
    match r {
        Role::ProjectAdmin => "Project Admin",
        Role::Maintainer => "Maintainer",
        Role::Developer => "Developer",
        Role::Guest => "Guest",
        Role::LimitedGuest => "Limited Guest",
    }
}

pub async fn list(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    let (search, filter) = list.searched("name");
    let listed = state
        .projects
        .list(&v.ctx, &filter, list.offset(PAGE), PAGE)
        .await
        .map_err(|e| message(&e));
    let may_create = !v.read_only && state.projects.may_create(&v.ctx).await;
    // Administrators may make a project a proxy cache of an endpoint.
    let endpoints = match v.ctx.is_sysadmin() && may_create {
        true => (state
            .registries
            .list(&v.ctx, &Filter::default(), 0, 100)
            .await)
            .map(|(l, _)| l)
            .unwrap_or_default(),
        false => Vec::new(),
    };
    let storage = match &listed {
        Ok((projects, _)) => {
            let views: Vec<_> = projects.iter().collect();
            state
                .projects
                .storage_used(&views)
                .await
                .unwrap_or_default()
        }
        Err(_) => Default::default(),
    };
    let body = html! {
        h1 { "Projects" }
        (search_box("/harbor/projects", "name", "Search by name", &search, "Search"))
        @match &listed {
            Err(e) => div.notice.err role="alert" { (e) },
            Ok((projects, _)) if projects.is_empty() => {
                p.empty {
                    @if search.is_empty() {
                        "There are no projects you can see yet. "
                        @if may_create { "Create one below, then push an image into it." }
                    } @else {
                        "No project name contains “" (search) "”."
                    }
                }
            }
            Ok((projects, total)) => {
                (project_table(&v, projects, *total, &storage))
                (pager("/harbor/projects", &[("name", &search)], list.page, PAGE, *total))
            }
        }
        @if may_create { (new_project_form(&v, &endpoints)) }
    };
    page(&v, "Projects", body)
}

/// A page of projects, with the storage each uses.
fn project_table(
    v: &Viewer,
    projects: &[ProjectView],
    total: i64,
    storage: &BTreeMap<i64, i64>,
) -> Markup {
    html! {
        table {
            (counted(total, "project", "projects"))
            (head(&[Plain("Name"), Plain("Access level"), Plain("My role"), Plain("Repositories"), Plain("Storage"), Wide("Owner"), Wide("Created")]))
            tbody {
                @for p in projects {
                    tr {
                        td { a href={ "/harbor/projects/" (p.project.project_id) "/summary" } { (p.project.name) }
                            @if p.project.registry_id.is_some() { " " span.muted { "(proxy cache)" } } }
                        td { @if p.is_public() { "Public" } @else { "Private" } }
                        td {
                            @if v.ctx.is_sysadmin() && p.roles.is_empty() { "System Admin" }
                            @else { (p.roles.iter().map(|r| role_label(*r)).collect::<Vec<_>>().join(", ")) }
                        }
                        td { (p.repo_count) }
                        td { (size(storage.get(&p.project.project_id).copied().unwrap_or(0))) }
                        td.wide { (p.project.owner_name) }
                        td.wide { (minutes(p.project.creation_time)) }
                    }
                }
            }
        }
    }
}

/// The form that creates a project (a proxy cache of one of `endpoints`,
/// if any is given).
fn new_project_form(v: &Viewer, endpoints: &[Endpoint]) -> Markup {
    html! {
        h2 { "New project" }
        (form_set(v, "/harbor/projects", "Create a project", html! {
            label for="project_name" { "Project name" }
            input #project_name type="text" name="project_name" required
                pattern="[a-z0-9]+(?:[._-][a-z0-9]+)*" maxlength="255" value=(v.typed("project_name", ""))
                aria-describedby="project_name_help";
            p #project_name_help .muted { "Lower-case letters, digits and . _ - between them." }
            label { input type="checkbox" name="public" checked[v.ticked("public", "on", false)]; "Public: anyone may pull its images" }
            @if !endpoints.is_empty() {
                label for="project_registry" { "Proxy cache" }
                select #project_registry name="registry_id" {
                    option value="" { "No: images are pushed into it" }
                    @for e in endpoints {
                        option value=(e.id) selected[v.typed("registry_id", "") == e.id.to_string()] {
                            "Of " (e.name) " (" (e.url) ")" }
                    }
                }
            }
            @if berth_core::iam::rbac::administers(&v.ctx) {
                label for="storage_limit" { "Storage limit" }
                input #storage_limit type="text" name="storage_limit" value=(v.typed("storage_limit", ""))
                    aria-describedby="storage_limit_help";
                p #storage_limit_help .muted { "Such as 500 MiB or 2 GiB; -1 for unlimited; empty for the default." }
            }
            p { button type="submit" { "Create project" } }
        }))
    }
}

/// A list's caption: how many rows it has in all.
pub fn counted(total: i64, one: &str, many: &str) -> Markup {
    html! { caption.muted { (total) " " @if total == 1 { (one) } @else { (many) } } }
}

/// A list's search form: one field `name` (labelled `label`) sent by GET to `action`.
pub fn search_box(action: &str, name: &str, label: &str, value: &str, button: &str) -> Markup {
    html! {
        div.toolbar {
            form method="get" action=(action) role="search" {
                div {
                    label for={ "search-" (name) } { (label) }
                    input id={ "search-" (name) } type="search" name=(name) value=(value);
                }
                button.secondary type="submit" { (button) }
            }
        }
    }
}

/// Sizes as people read them.
pub fn size(bytes: i64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// A time to the minute, as people read it (UTC).
pub fn minutes(ms: i64) -> String {
    let t = berth_core::timestamp(ms);
    format!("{} UTC", t.get(..16).unwrap_or(&t).replace('T', " "))
}

/// Previous and next links around "Page n of m"; `keep` are the list's other parameters.
pub fn pager(base: &str, keep: &[(&str, &str)], page_no: i64, per_page: i64, total: i64) -> Markup {
    let link = |n: i64| {
        let mut q = form_urlencoded::Serializer::new(format!("{base}?"));
        for (k, v) in keep.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        q.append_pair("page", &n.to_string()).finish()
    };
    html! {
        nav.pager aria-label="Pages" {
            @if page_no > 1 {
                a href=(link(page_no - 1)) rel="prev" { "← Previous" }
            }
            span.muted { "Page " (page_no) " of " (((total + per_page - 1) / per_page).max(1)) }
            @if page_no * per_page < total {
                a href=(link(page_no + 1)) rel="next" { "Next →" }
            }
        }
    }
}

pub async fn create(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let name = form.get("project_name").trim();
    let public = if form.checked("public") {
        "true"
    } else {
        "false"
    };
    let metadata = BTreeMap::from([("public".to_string(), public.to_string())]);
    let upstream = form.get("registry_id").parse().ok();
    let result = async {
        let limit = match form.get("storage_limit").trim() {
            "" => None,
            given => Some(super::quotas::parse_limit(given)?),
        };
        (state.projects)
            .create(&v.ctx, name, &metadata, (upstream, limit))
            .await
    }
    .await;
    let done = result.map(|_| format!("Project {name} created."));
    outcome_keeping("/harbor/projects", done, &form)
}
