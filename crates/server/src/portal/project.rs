//! One project's pages, a tab each: summary with push instructions,
//! repositories, members, robot accounts, logs and configuration (the
//! webhooks tab has its own module).

use super::projects::{counted, minutes, pager, role_label, search_box, size};
use super::Col::{Plain, Wide};
use super::Listing;
use super::{
    actions, confirmed, csrf_field, failed, form_set, head, message, outcome, outcome_keeping,
    page, read_posted, redirect_with, refusal, Flash, Form, Viewer,
};
use crate::State;
use axum::extract::{FromRequest, FromRequestParts, Path, RawPathParams, Request, State as S};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::iam::rbac::{can, Action, Kind, Resource, Role};
use berth_core::project::{Member, NewMember, ProjectKey, ProjectView};
use berth_core::CoreError;
use maud::{html, Markup};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

/// What must be escaped in a repository name to make it one path segment.
pub(super) const SEGMENT: &AsciiSet = &CONTROLS.add(b' ').add(b'/').add(b'%').add(b'?').add(b'#');

/// A repository's page; `full` is `project/rest`.
pub fn repository_url(project_id: i64, full: &str) -> String {
    let rest = full.split_once('/').map_or(full, |(_, r)| r);
    format!(
        "/harbor/projects/{project_id}/repositories/{}",
        utf8_percent_encode(rest, SEGMENT)
    )
}

/// Rows per page on every tab.
const PAGE: i64 = 15;

/// The tabs: path segment, label, and what the viewer must be allowed to list there.
const TABS: &[(&str, &str, Option<Kind>)] = &[
    ("summary", "Summary", None),
    ("repositories", "Repositories", Some(Kind::Repository)),
    ("members", "Members", Some(Kind::Member)),
    ("robot-account", "Robot Accounts", Some(Kind::Robot)),
    ("logs", "Logs", Some(Kind::Log)),
    ("webhooks", "Webhooks", Some(Kind::NotificationPolicy)),
    ("labels", "Labels", Some(Kind::Label)),
    ("tag-retention", "Tag Retention", Some(Kind::TagRetention)),
    ("immutability", "Tag Immutability", Some(Kind::ImmutableTag)),
    ("configs", "Configuration", None),
];

/// The roles a member can be given, in Harbor's order.
const ROLES: &[Role] = &[
    Role::ProjectAdmin,
    Role::Maintainer,
    Role::Developer,
    Role::Guest,
    Role::LimitedGuest,
];

/// The viewer and the project of the URL's `{id}`, which they may see.
pub struct InProject(pub Viewer, pub ProjectView);

impl FromRequestParts<State> for InProject {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Response> {
        let v = Viewer::from_request_parts(parts, state).await?;
        let p = project(state, &v, &path_id(parts, state).await?).await?;
        Ok(InProject(v, p))
    }
}

/// A form posted to a page of the URL's project, its CSRF token checked
/// before the project is looked up.
pub struct ProjectPost(pub Viewer, pub Form, pub ProjectView);

impl FromRequest<State> for ProjectPost {
    type Rejection = Response;

    async fn from_request(req: Request, state: &State) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let (v, form) = read_posted(&parts, body, state).await?;
        let p = project(state, &v, &path_id(&mut parts, state).await?).await?;
        Ok(ProjectPost(v, form, p))
    }
}

/// The URL's `{id}`.
async fn path_id(parts: &mut Parts, state: &State) -> Result<String, Response> {
    let params = RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(params
        .iter()
        .find(|(k, _)| *k == "id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_default())
}

/// The project with id `id` (from the URL), as the viewer may see it.
async fn project(state: &State, v: &Viewer, id: &str) -> Result<ProjectView, Response> {
    let Ok(id) = id.parse() else {
        return Err(failed(
            Some(v),
            StatusCode::NOT_FOUND,
            &format!("There is no project {id}."),
        ));
    };
    state
        .projects
        .get(&v.ctx, &ProjectKey::Id(id))
        .await
        .map_err(|e| refusal(v, &e))
}

/// Whether the viewer may do `action` on `kind` in the project.
pub(super) async fn may(v: &Viewer, p: &ProjectView, action: Action, kind: Kind) -> bool {
    if v.read_only && action.writes() {
        return false;
    }
    can(&v.ctx, action, Resource::Project(p.as_ref(), kind))
        .await
        .unwrap_or(false)
}

/// The project's heading and tab bar around one tab's content.
async fn frame(v: &Viewer, p: &ProjectView, tab: &str, body: Markup) -> Markup {
    let mut tabs = Vec::new();
    for (slug, label, kind) in TABS {
        if match kind {
            Some(k) => may(v, p, Action::List, *k).await,
            None => true,
        } {
            tabs.push((*slug, *label));
        }
    }
    let id = p.project.project_id;
    html! {
        p.crumbs { a href="/harbor/projects" { "Projects" } " /" }
        h1 {
            (p.project.name) " "
            span.badge { @if p.is_public() { "Public" } @else { "Private" } }
        }
        nav.tabs aria-label="Project" {
            @for (slug, label) in tabs {
                a href={ "/harbor/projects/" (id) "/" (slug) }
                    aria-current=[(slug == tab).then_some("page")] { (label) }
            }
        }
        (body)
    }
}

/// A project tab's page.
pub(super) async fn show(v: &Viewer, p: &ProjectView, tab: &str, body: Markup) -> Response {
    let title = format!("{} · {}", p.project.name, tab);
    page(v, &title, frame(v, p, tab, body).await)
}

/// The address of one of the project's tabs.
pub(super) fn tab_url(p: &ProjectView, tab: &str) -> String {
    format!("/harbor/projects/{}/{tab}", p.project.project_id)
}

pub async fn root(Path(id): Path<String>) -> Redirect {
    Redirect::to(&format!("/harbor/projects/{id}/summary"))
}

/// The host part of Berth's external URL: what registry clients are given.
pub(super) fn registry_host(state: &State) -> &str {
    state
        .external_url
        .split_once("://")
        .map_or(state.external_url.as_str(), |(_, h)| h)
}

pub async fn summary(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let (counts, quota) = match state.projects.summary(&v.ctx, &key).await {
        Ok(s) => (s.members, s.quota),
        Err(e) => return refusal(&v, &e),
    };
    let may_push = may(&v, &p, Action::Push, Kind::Repository).await;
    let upstream = match p.project.registry_id {
        Some(id) => upstream_name(&state, &v, id).await,
        None => None,
    };
    let body = html! {
        dl.facts {
            @if let Some(upstream) = &upstream {
                dt { "Proxy cache of" } dd.upstream { (upstream) }
            }
            dt { "Access level" } dd { @if p.is_public() { "Public" } @else { "Private" } }
            dt { "My role" } dd { (my_role(&v, &p)) }
            dt { "Repositories" } dd { (p.repo_count) }
            @if let Some((hard, used)) = quota {
                dt { "Storage" } dd.storage { (quota_bar(hard, used)) }
            }
            dt { "Members" }
            dd {
                @if counts.is_empty() { "none" }
                @for (i, (role, n)) in counts.iter().enumerate() {
                    @if i > 0 { ", " }
                    (n) " " (role_label(*role))
                }
            }
            dt { "Owner" } dd { (p.project.owner_name) }
            dt { "Created" } dd { (minutes(p.project.creation_time)) }
        }
        @if upstream.is_none() { (push_commands(registry_host(&state), &p.project.name, may_push)) }
    };
    show(&v, &p, "summary", body).await
}

/// Storage used against the limit: a bar and the figures.
pub(super) fn quota_bar(hard: i64, used: i64) -> Markup {
    if hard < 0 {
        return html! { (size(used)) " of unlimited" };
    }
    let percent = (used as f64 * 100.0 / hard.max(1) as f64).min(100.0);
    let level = match percent {
        p if p >= 100.0 => "full",
        p if p >= berth_core::quota::WARNING_PERCENT as f64 => "warn",
        _ => "ok",
    };
    html! {
        span.bar.(level) title=(format!("{percent:.0}%")) {
            span.fill style=(format!("width: {percent:.1}%")) {}
        }
        " " (size(used)) " of " (size(hard)) " (" (format!("{percent:.0}")) "%)"
    }
}

/// What a proxy cache's upstream is called (its URL too, for those who may
/// read endpoints; the id for others).
async fn upstream_name(state: &State, v: &Viewer, id: i64) -> Option<String> {
    Some(match state.registries.get(&v.ctx, id).await {
        Ok(e) => format!("{} ({})", e.name, e.url),
        Err(_) => format!("registry endpoint {id}"),
    })
}

/// How to push into the project `name` with each client.
fn push_commands(host: &str, name: &str, may_push: bool) -> Markup {
    html! {
        h2 { "Push an image" }
        @if !may_push {
            p.muted { "Your role lets you pull from this project, not push to it." }
        }
        p { "Sign in first: " code.copy { "docker login " (host) } }
        dl.commands {
            dt { "Docker" }
            dd {
                code.copy { "docker tag SOURCE_IMAGE[:TAG] " (host) "/" (name) "/REPOSITORY[:TAG]" }
                code.copy { "docker push " (host) "/" (name) "/REPOSITORY[:TAG]" }
            }
            dt { "Podman" }
            dd { code.copy { "podman push IMAGE_ID " (host) "/" (name) "/REPOSITORY[:TAG]" } }
            dt { "Helm" }
            dd { code.copy { "helm push CHART_PACKAGE oci://" (host) "/" (name) } }
            dt { "ORAS" }
            dd { code.copy { "oras push " (host) "/" (name) "/REPOSITORY[:TAG] FILE" } }
        }
    }
}

fn my_role(v: &Viewer, p: &ProjectView) -> String {
    if p.roles.is_empty() {
        return if v.ctx.is_sysadmin() {
            "System Admin"
        } else {
            "None (public project)"
        }
        .into();
    }
    p.roles
        .iter()
        .map(|r| role_label(*r))
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn repositories(
    S(state): S<State>,
    InProject(v, p): InProject,
    list: Listing,
) -> Response {
    let (search, filter) = list.searched("name");
    let listed = state
        .repositories
        .list(
            &v.ctx,
            Some(&p.project.name),
            &filter,
            list.offset(PAGE),
            PAGE,
        )
        .await
        .map_err(|e| message(&e));
    let here = tab_url(&p, "repositories");
    let body = html! {
        (search_box(&here, "name", "Search repositories", &search, "Search"))
        @match &listed {
            Err(e) => div.notice.err role="alert" { (e) },
            Ok((repos, _)) if repos.is_empty() => p.empty {
                @if search.is_empty() {
                    "No repositories yet. Push an image to create one: see "
                    a href=(tab_url(&p, "summary")) { "the push commands" } "."
                } @else { "No repository name contains “" (search) "”." }
            },
            Ok((repos, total)) => {
                table {
                    (counted(*total, "repository", "repositories"))
                    (head(&[Plain("Name"), Plain("Artifacts"), Plain("Pulls"), Wide("Last modified")]))
                    tbody {
                        @for r in repos {
                            tr {
                                td { a href=(repository_url(p.project.project_id, &r.name)) { (r.name) } }
                                td { (r.artifact_count) }
                                td { (r.pull_count) }
                                td.wide { (minutes(r.update_time)) }
                            }
                        }
                    }
                }
                (pager(&here, &[("name", &search)], list.page, PAGE, *total))
            }
        }
    };
    show(&v, &p, "repositories", body).await
}

pub async fn members(S(state): S<State>, InProject(v, p): InProject, list: Listing) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let listed = state
        .projects
        .members(&v.ctx, &key, None, list.offset(PAGE), PAGE)
        .await;
    let (may_add, may_change, may_remove) = (
        may(&v, &p, Action::Create, Kind::Member).await,
        may(&v, &p, Action::Update, Kind::Member).await,
        may(&v, &p, Action::Delete, Kind::Member).await,
    );
    let here = tab_url(&p, "members");
    let body = html! {
        @match &listed {
            Err(e) => div.notice.err role="alert" { (message(e)) },
            Ok((members, total)) => {
                table {
                    (counted(*total, "member", "members"))
                    (head(&[&[Plain("Name"), Plain("Type"), Plain("Role")], actions(may_change || may_remove)].concat()))
                    tbody {
                        @for m in members {
                            tr {
                                td { (m.entity_name) }
                                td { @if m.entity_type == "g" { "Group" } @else { "User" } }
                                td { (Role::from_id(m.role).map_or("?", role_label)) }
                                @if may_change || may_remove { td { (member_actions(&v, &p, &here, m, may_change, may_remove)) } }
                            }
                        }
                    }
                }
                (pager(&here, &[], list.page, PAGE, *total))
            }
        }
        @if may_add { (new_member_form(&v, &here)) }
    };
    show(&v, &p, "members", body).await
}

/// What the viewer may do to one member: change the role, remove.
fn member_actions(
    v: &Viewer,
    p: &ProjectView,
    here: &str,
    m: &Member,
    may_change: bool,
    may_remove: bool,
) -> Markup {
    html! {
        @if may_change {
            form.inline method="post" action={ (here) "/" (m.id) } {
                (csrf_field(v))
                label.sr-only for={ "role-" (m.id) } { "Role of " (m.entity_name) }
                select id={ "role-" (m.id) } name="role" {
                    @for r in ROLES {
                        option value=(r.id()) selected[r.id() == m.role] { (role_label(*r)) }
                    }
                }
                button.secondary type="submit" name="action" value="role" { "Change role" }
            }
        }
        @if may_remove {
            (confirmed(v, &format!("{here}/{}", m.id),
                &format!("Remove {} from {}?", m.entity_name, p.project.name),
                "remove", "Remove"))
        }
    }
}

/// The form that adds a member, a user or a group by name, with a role
/// (developer preselected).
fn new_member_form(v: &Viewer, here: &str) -> Markup {
    html! {
        (form_set(v, here, "Add a member", html! {
            label for="kind" { "Member" }
            select #kind name="kind" {
                option value="user" selected[v.typed("kind", "user") == "user"] { "User" }
                option value="group" selected[v.typed("kind", "user") == "group"] { "Group" }
            }
            label for="username" { "User or group name" }
            input #username type="text" name="username" required autocomplete="off" list="member-names"
                value=(v.typed("username", ""));
            datalist #member-names {}
            label for="role" { "Role" }
            @let developer = Role::Developer.id().to_string();
            select #role name="role" {
                @for r in ROLES {
                    option value=(r.id()) selected[r.id().to_string() == v.typed("role", &developer)] { (role_label(*r)) }
                }
            }
            p { button type="submit" { "Add member" } }
        }))
    }
}

pub async fn add_member(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let name = form.get("username").trim();
    let role = form.get("role").parse().unwrap_or(0);
    let key = ProjectKey::Id(p.project.project_id);
    let member = match form.get("kind") {
        "group" => match state.iam.search_groups(&v.ctx, name, 0, 100).await {
            Ok((groups, _)) => match groups.into_iter().find(|g| g.group_name == name) {
                Some(g) => Ok(NewMember::Group(g.id)),
                None => Err(CoreError::NotFound(format!(
                    "no user group is named {name}"
                ))),
            },
            Err(e) => Err(e),
        },
        _ => match state
            .projects
            .authorized(&v.ctx, &key, Action::Create, Kind::Member)
            .await
        {
            Ok(_) => match state.iam.member_user_id(&v.ctx, name).await {
                Ok(Some(id)) => Ok(NewMember::Id(id)),
                Ok(None) => Ok(NewMember::Name(name.to_string())),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        },
    };
    let result = match member {
        Ok(m) => state.projects.add_member(&v.ctx, &key, m, role).await,
        Err(e) => Err(e),
    };
    let done = result.map(|_| format!("{name} was added to {}.", p.project.name));
    outcome_keeping(&tab_url(&p, "members"), done, &form)
}

pub async fn change_member(
    S(state): S<State>,
    Path((_, mid)): Path<(String, i64)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let name = match state.projects.member(&v.ctx, &key, mid).await {
        Ok(m) => m.entity_name,
        Err(e) => return redirect_with(&tab_url(&p, "members"), Flash::Err(message(&e))),
    };
    let (result, done) = if form.get("action") == "remove" {
        let r = state.projects.delete_member(&v.ctx, &key, mid).await;
        (r, format!("{name} was removed from {}.", p.project.name))
    } else {
        let role = form.get("role").parse().unwrap_or(0);
        let r = state.projects.update_member(&v.ctx, &key, mid, role).await;
        let label = Role::from_id(role).map_or("?", role_label);
        (r, format!("{name} is now {label}."))
    };
    let to = tab_url(&p, "members");
    outcome(&to, result.map(|()| done))
}

pub async fn logs(S(state): S<State>, InProject(v, p): InProject, list: Listing) -> Response {
    let here = tab_url(&p, "logs");
    let listed = super::logs::table(&state, &v, Some(&p.project.name), &list, &here).await;
    show(&v, &p, "logs", listed).await
}

/// The switches of a project's Configuration tab: metadata key and label.
/// Only what Berth enforces is offered.
const SWITCHES: &[(&str, &str)] = &[
    ("public", "Public: anyone may pull its images"),
    (
        "enable_content_trust_cosign",
        "Content trust (cosign): pull only images signed with cosign",
    ),
    (
        "enable_content_trust",
        "Content trust (notation): pull only images signed with notation",
    ),
    (
        "prevent_vul",
        "Prevent vulnerable images from running: pull only images scanned without \
         findings at or above the severity below",
    ),
    (
        "reuse_sys_cve_allowlist",
        "CVE allowlist: use the system's allowlist instead of the project's own below",
    ),
    (
        "auto_scan",
        "Vulnerability scanning: scan images automatically when they are pushed",
    ),
    (
        "auto_sbom_generation",
        "SBOM generation: generate an SBOM automatically when an image is pushed",
    ),
];

/// The severities `prevent_vul` takes, as Harbor's portal offers them.
const SEVERITIES: &[(&str, &str)] = &[
    ("critical", "Critical"),
    ("high", "High"),
    ("medium", "Medium"),
    ("low", "Low"),
    ("none", "None (any finding)"),
];

pub async fn configuration(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let editable = may(&v, &p, Action::Update, Kind::Metadata).await;
    let own = state.projects.allowlist(p.project.project_id).await;
    let may_list = may(&v, &p, Action::Update, Kind::Project).await;
    let on = |k: &str| p.metadata.get(k).is_some_and(|v| v == "true");
    let body = html! {
        form method="post" action=(tab_url(&p, "configs")) {
            (csrf_field(&v))
            fieldset disabled[!editable] {
                legend { "Project settings" }
                @for (key, label) in SWITCHES {
                    label.check { input type="checkbox" name=(key) checked[on(key)]; (label) }
                }
                @let severity = p.metadata.get("severity").map_or("low", String::as_str);
                label for="severity" { "Severity that prevents a pull" }
                select #severity name="severity" {
                    @for (value, shown) in SEVERITIES {
                        option value=(value) selected[*value == severity] { (shown) }
                    }
                }
                @if editable { p { button type="submit" { "Save" } } }
                @else { p.muted { "Only the project's administrators change these." } }
            }
        }
        (keys_section(&state, &v, &p, editable).await)
        (scanner_section(&state, &v, &p).await)
        (export_section(&state, &v, &p).await)
        @match (&own, may_list) {
            (Ok(list), true) => (super::security::allowlist_form(&v, &tab_url(&p, "configs"), list,
                "Let these CVEs through vulnerability prevention in this project, unless it uses the system's allowlist.")),
            (Ok(list), false) if !list.items.is_empty() => {
                h2 { "CVE allowlist" }
                p { (list.items.join(", ")) }
            }
            _ => {}
        }
        @if may(&v, &p, Action::Delete, Kind::Project).await { (deletion(&v, &p)) }
    };
    show(&v, &p, "configs", body).await
}

/// The scanner the project's scans use, and the choice of another for
/// those who may make it.
async fn scanner_section(state: &State, v: &Viewer, p: &ProjectView) -> Markup {
    let key = ProjectKey::Id(p.project.project_id);
    let scanners = state.scans.scanners();
    let Ok(current) = scanners.of_project(&v.ctx, &key).await else {
        return html! {};
    };
    let editable = may(v, p, Action::Create, Kind::Scanner).await;
    let everything = berth_core::query::Filter::default();
    let candidates = match editable {
        true => (scanners.candidates(&v.ctx, &key, &everything, 0, 100).await)
            .map(|(c, _)| c)
            .unwrap_or_default(),
        false => Vec::new(),
    };
    let reg = &current.registration;
    html! {
        form method="post" action=(tab_url(p, "configs")) {
            (csrf_field(v))
            fieldset disabled[!editable] {
                legend { "Vulnerability scanner" }
                p.project-scanner {
                    strong { (reg.name) }
                    @if reg.is_default { " (the system default)" }
                    " — " span class=(current.health()) { (current.health()) }
                }
                @if editable {
                    label for="scanner" { "Scan this project's images with" }
                    select #scanner name="scanner" {
                        @for c in &candidates {
                            @let r = &c.registration;
                            option value=(r.uuid) selected[r.uuid == reg.uuid] disabled[r.disabled] {
                                (r.name) @if r.disabled { " (deactivated)" }
                            }
                        }
                    }
                    p { button type="submit" name="action" value="scanner" { "Use this scanner" } }
                }
            }
        }
    }
}

/// The cosign public keys signatures must verify against (beyond Harbor).
async fn keys_section(state: &State, v: &Viewer, p: &ProjectView, editable: bool) -> Markup {
    let key = ProjectKey::Id(p.project.project_id);
    let keys = state
        .projects
        .cosign_keys(&v.ctx, &key)
        .await
        .unwrap_or_default();
    let to = tab_url(p, "configs");
    html! {
        h2 { "Cosign keys" }
        p.muted {
            "With cosign content trust on and a key here, an image is served only when a cosign signature of it verifies against one of these keys; with none, any cosign signature will do."
        }
        @if !keys.is_empty() {
            div.scroll { table.cosign-keys {
                thead { tr { th { "Name" } th { "Added" } th {} } }
                tbody {
                    @for k in &keys {
                        tr {
                            td { (k.name) }
                            td { (minutes(k.creation_time)) }
                            td { @if editable {
                                form.inline method="post" action=(to) {
                                    (csrf_field(v))
                                    input type="hidden" name="key" value=(k.id);
                                    button.secondary type="submit" name="action" value="delete-key" { "Delete" }
                                }
                            } }
                        }
                    }
                }
            } }
        }
        @if editable {
            form method="post" action=(to) {
                (csrf_field(v))
                fieldset {
                    legend { "Add a cosign key" }
                    label for="key_name" { "Name" }
                    input #key_name name="name" required;
                    label for="key_pem" { "Public key (PEM, as cosign.pub)" }
                    textarea #key_pem name="public_key" rows="5" required {}
                    p { button type="submit" name="action" value="add-key" { "Add key" } }
                }
            }
        }
    }
}

/// Exporting the project's findings to CSV, and the viewer's exports.
async fn export_section(state: &State, v: &Viewer, p: &ProjectView) -> Markup {
    if !may(v, p, Action::Create, Kind::ExportCve).await || v.ctx.user_id().is_none() {
        return html! {};
    }
    let runs = state.scans.cve_exports(&v.ctx).await.unwrap_or_default();
    html! {
        form method="post" action=(tab_url(p, "configs")) {
            (csrf_field(v))
            fieldset {
                legend { "Export CVEs" }
                p.muted { "The findings of this project's scanner on its artifacts, as a CSV file you download once." }
                label for="export_repositories" { "Repositories (a pattern such as ** or {app,web}; empty: all)" }
                input #export_repositories name="repositories";
                label for="export_tags" { "Tags (a pattern; empty: every artifact)" }
                input #export_tags name="tags";
                label for="export_cves" { "CVE ids (comma-separated; empty: all)" }
                input #export_cves name="cve_ids";
                p { button type="submit" name="action" value="export" { "Export CVEs" } }
            }
        }
        @if !runs.is_empty() {
            div.scroll { table.exports {
                caption.muted { "Your CVE exports" }
                thead { tr { th { "Export" } th { "Started" } th { "Status" } th {} } }
                tbody {
                    @for r in &runs {
                        tr {
                            td { (r.execution.id) }
                            td { (minutes(r.execution.start_time)) }
                            td { (r.execution.status) }
                            td {
                                @if r.file_present {
                                    a href={ "/harbor/cve-exports/" (r.execution.id) } { "Download CSV" }
                                } @else if r.execution.status == "Success" {
                                    span.muted { "downloaded" }
                                }
                            }
                        }
                    }
                }
            } }
        }
    }
}

/// Deleting the project, which Harbor allows only once it holds no
/// repositories.
fn deletion(v: &Viewer, p: &ProjectView) -> Markup {
    let name = &p.project.name;
    html! {
        h2 { "Delete project" }
        @if p.repo_count > 0 {
            p.muted.undeletable {
                "A project can be deleted only when it holds no repositories: delete its "
                (p.repo_count) " repositor" @if p.repo_count == 1 { "y" } @else { "ies" } " first."
            }
        } @else {
            @let to = format!("/harbor/projects/{}", p.project.project_id);
            @let confirm = format!("Delete project {name}? Its members, robots and webhooks go with it.");
            p { (confirmed(v, &to, &confirm, "delete", "Delete project")) }
        }
    }
}

/// Deletes the project (refused while it holds repositories).
pub async fn delete(S(state): S<State>, ProjectPost(v, _, p): ProjectPost) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    match state.projects.delete(&v.ctx, &key).await {
        Ok(()) => redirect_with(
            "/harbor/projects",
            Flash::Ok(format!("Project {} deleted.", p.project.name)),
        ),
        Err(e) => redirect_with(&tab_url(&p, "configs"), Flash::Err(message(&e))),
    }
}

pub async fn configure(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let to = tab_url(&p, "configs");
    match form.get("action") {
        "add-key" => {
            let result = (state.projects)
                .add_cosign_key(&v.ctx, &key, form.get("name"), form.get("public_key"))
                .await
                .map(|_| format!("Cosign key {} added.", form.get("name").trim()));
            return outcome(&to, result);
        }
        "delete-key" => {
            let id = form.get("key").parse::<i64>().unwrap_or(0);
            let result = (state.projects.delete_cosign_key(&v.ctx, &key, id).await)
                .map(|()| "Cosign key deleted.".into());
            return outcome(&to, result);
        }
        _ => {}
    }
    if form.get("action") == "export" {
        let cves: Vec<&str> = (form.get("cve_ids").split([',', ' ', '\n']))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let criteria = berth_core::scan::export::ExportCriteria {
            projects: vec![p.project.project_id],
            repositories: form.get("repositories").trim().into(),
            tags: form.get("tags").trim().into(),
            cve_ids: match cves.len() {
                0 | 1 => cves.concat(),
                _ => format!("{{{}}}", cves.join(",")),
            },
            ..Default::default()
        };
        let type_ = berth_core::scan::export::EXPORT_TYPE;
        let result = (state.scans.export_cves(&v.ctx, type_, criteria).await)
            .map(|id| format!("CVE export {id} started; download it below once it has run."));
        return outcome(&to, result);
    }
    if form.get("action") == "scanner" {
        let result = (state.scans.scanners())
            .set_of_project(&v.ctx, &key, form.get("scanner"))
            .await
            .map(|()| "The project's scanner was set.".into());
        return outcome(&to, result);
    }
    if form.get("action") == "allowlist" {
        let result = match super::security::allowlist_change(form.get("cves"), form.get("expires"))
        {
            Ok(change) => (state.projects.set_allowlist(&v.ctx, &key, &change).await)
                .map(|()| "The project's CVE allowlist was saved.".into()),
            Err(why) => Err(berth_core::CoreError::BadRequest(why)),
        };
        return outcome(&to, result);
    }
    let mut metadata: std::collections::BTreeMap<String, String> = SWITCHES
        .iter()
        .map(|(k, _)| (k.to_string(), form.checked(k).to_string()))
        .collect();
    let severity = form.get("severity");
    if let Some((value, _)) = SEVERITIES.iter().find(|(value, _)| *value == severity) {
        metadata.insert("severity".into(), value.to_string());
    }
    let result = state.projects.set_metadata(&v.ctx, &key, &metadata).await;
    outcome(
        &to,
        result.map(|()| "The project's configuration was saved.".into()),
    )
}
