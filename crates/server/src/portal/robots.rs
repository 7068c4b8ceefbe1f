//! Robot accounts: a project's tab and the administrators' system robots
//! page (Harbor's `/harbor/robot-accounts`), each with a list, a create
//! form, an edit page and Harbor's resource × action permission grid.

use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::projects::{counted, minutes, pager};
use super::Col::{Plain, Wide};
use super::{
    actions, confirmed, csrf_field, form_set, head, message, outcome, outcome_keeping, page,
    redirect_with, refusal, switch, Flash, Form, Listing, Posted, Viewer,
};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::iam::robots::{Owner, Permission, Robot, RobotRequest};
use berth_core::iam::robots::{PROJECT_GRANTS, SYSTEM_GRANTS};
use berth_core::project::ProjectView;
use berth_core::CoreError;
use maud::{html, Markup};
use std::collections::BTreeSet;

/// Robots per page.
const PAGE: i64 = 15;

pub fn router() -> Router<State> {
    Router::new()
        .route(
            "/harbor/robot-accounts",
            get(system_list).post(system_create),
        )
        .route(
            "/harbor/robot-accounts/{rid}",
            get(system_edit).post(system_change),
        )
        .route(
            "/harbor/projects/{id}/robot-account",
            get(project_list).post(project_create),
        )
        .route(
            "/harbor/projects/{id}/robot-account/{rid}",
            get(project_edit).post(project_change),
        )
}

async fn system_list(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    listing(&state, &v, &Place::System, list.page, None).await
}

async fn system_create(S(state): S<State>, Posted(v, form): Posted) -> Response {
    create(&state, &v, &Place::System, &form).await
}

async fn system_edit(S(state): S<State>, Path(rid): Path<i64>, v: Viewer) -> Response {
    edit(&state, &v, &Place::System, rid).await
}

async fn system_change(
    S(state): S<State>,
    Path(rid): Path<i64>,
    Posted(v, form): Posted,
) -> Response {
    change(&state, &v, &Place::System, rid, &form).await
}

async fn project_list(S(state): S<State>, InProject(v, p): InProject, list: Listing) -> Response {
    listing(&state, &v, &Place::Project(p), list.page, None).await
}

async fn project_create(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    create(&state, &v, &Place::Project(p), &form).await
}

async fn project_edit(
    S(state): S<State>,
    Path((_, rid)): Path<(String, i64)>,
    InProject(v, p): InProject,
) -> Response {
    edit(&state, &v, &Place::Project(p), rid).await
}

async fn project_change(
    S(state): S<State>,
    Path((_, rid)): Path<(String, i64)>,
    ProjectPost(v, form, p): ProjectPost,
) -> Response {
    change(&state, &v, &Place::Project(p), rid, &form).await
}

/// Where robots live: the system, or one project.
enum Place {
    System,
    Project(ProjectView),
}

impl Place {
    /// The list page's address.
    fn url(&self) -> String {
        match self {
            Place::System => "/harbor/robot-accounts".into(),
            Place::Project(p) => tab_url(p, "robot-account"),
        }
    }

    fn level(&self) -> &'static str {
        match self {
            Place::System => "system",
            Place::Project(_) => "project",
        }
    }

    fn owner(&self) -> Owner {
        match self {
            Place::System => Owner::System,
            Place::Project(p) => Owner::Project(p.project.project_id),
        }
    }

    /// Whether the robot is one of this place's (its id came from the URL).
    fn holds(&self, r: &Robot) -> bool {
        match self {
            Place::System => r.level == "system",
            Place::Project(p) => r.project_id == Some(p.project.project_id),
        }
    }

    /// Whether the viewer may do `action` to robots here.
    async fn may(&self, v: &Viewer, action: Action) -> bool {
        match self {
            Place::System => !(v.read_only && action.writes()) && v.ctx.is_sysadmin(),
            Place::Project(p) => may(v, p, action, Kind::Robot).await,
        }
    }

    /// A page of this place around `body`.
    async fn show(&self, v: &Viewer, body: Markup) -> Response {
        match self {
            Place::System => page(
                v,
                "Robot accounts",
                html! {
                    h1 { "Robot accounts" }
                    p.muted { "System robots act across projects: give them project permissions for every project or for the ones named." }
                    (body)
                },
            ),
            Place::Project(p) => show(v, p, "robot-account", body).await,
        }
    }

    /// The name a new robot `name` signs in with.
    fn sign_in_name(&self, name: &str) -> String {
        match self {
            Place::System => format!("robot${name}"),
            Place::Project(p) => format!("robot${}+{name}", p.project.name),
        }
    }

    /// The permission fields, ticked as `perms` grants (None: a new robot's
    /// defaults).
    fn permission_fields(&self, v: &Viewer, perms: Option<&[Permission]>) -> Markup {
        let granted = |kind: &str| -> Option<BTreeSet<String>> {
            perms.map(|ps| {
                ps.iter()
                    .filter(|p| p.kind == kind)
                    .map(|p| format!("{}:{}", p.resource, p.action))
                    .collect()
            })
        };
        let project = granted("project");
        match self {
            Place::Project(_) => grid(v, "perm", "Permissions", PROJECT_GRANTS, project.as_ref()),
            Place::System => html! {
                (grid(v, "sys", "System permissions", SYSTEM_GRANTS, granted("system").as_ref()))
                (project_scope(v, perms))
                (grid(v, "perm", "Project permissions", PROJECT_GRANTS, project.as_ref()))
            },
        }
    }

    /// The permissions a posted form grants, or what is wrong with it.
    fn permissions(&self, form: &Form) -> Result<Vec<Permission>, String> {
        let granted = self.grants(form)?;
        match granted.is_empty() {
            true => Err("Tick at least one permission.".into()),
            false => Ok(granted),
        }
    }

    fn grants(&self, form: &Form) -> Result<Vec<Permission>, String> {
        let project_grants = |namespace: &str| -> Vec<Permission> {
            let ticked = form.all("perm");
            ticked
                .filter_map(|g| permission("project", namespace, g))
                .collect()
        };
        match self {
            Place::Project(p) => Ok(project_grants(&p.project.name)),
            Place::System => {
                let mut out: Vec<Permission> = form
                    .all("sys")
                    .filter_map(|g| permission("system", "/", g))
                    .collect();
                let named = project_names(form.get("projects"));
                let namespaces = match form.get("scope") {
                    "all" => vec!["*".to_string()],
                    _ if named.is_empty() && form.all("perm").next().is_some() => {
                        return Err("Name the projects its project permissions apply to, or choose all projects.".into())
                    }
                    _ => named,
                };
                for ns in &namespaces {
                    out.extend(project_grants(ns));
                }
                Ok(out)
            }
        }
    }
}

/// A permission from a grid's `resource:action` value.
fn permission(kind: &str, namespace: &str, granted: &str) -> Option<Permission> {
    let (resource, action) = granted.split_once(':')?;
    Some(Permission {
        kind: kind.into(),
        namespace: namespace.into(),
        resource: resource.into(),
        action: action.into(),
        project_id: None,
    })
}

/// Project names typed into one field, separated by commas or spaces.
fn project_names(typed: &str) -> Vec<String> {
    let mut names: Vec<String> = typed
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The grid's columns, in Harbor's order.
const ACTIONS: &[&str] = &[
    "list", "read", "create", "update", "delete", "pull", "push", "stop",
];

/// Harbor's permission grid: a row per resource, a column per action, a
/// checkbox `field=resource:action` where the pair can be granted; `granted`
/// ticks a robot's (None: repository pull and push, a new robot's default).
fn grid(
    v: &Viewer,
    field: &str,
    legend: &str,
    grants: &[(&str, &str)],
    granted: Option<&BTreeSet<String>>,
) -> Markup {
    let columns: Vec<&str> = ACTIONS
        .iter()
        .copied()
        .filter(|a| grants.iter().any(|(_, g)| g == a))
        .collect();
    let mut resources: Vec<&str> = Vec::new();
    for (r, _) in grants {
        if !resources.contains(r) {
            resources.push(r);
        }
    }
    let ticked = |value: &str| {
        let default = match granted {
            Some(set) => set.contains(value),
            None => field == "perm" && matches!(value, "repository:pull" | "repository:push"),
        };
        v.ticked(field, value, default)
    };
    html! {
        fieldset.grid {
            legend { (legend) }
            // Shown by the script, which makes it work.
            label.check.select-all hidden { input type="checkbox" data-select-all=(field); "Select all" }
            div.scroll {
                table.grid {
                    thead { tr {
                        th scope="col" { "Resource" }
                        @for a in &columns { th scope="col" { (a) } }
                    } }
                    tbody {
                        @for r in &resources {
                            tr {
                                th scope="row" { (people(r)) }
                                @for a in &columns {
                                    @let value = format!("{r}:{a}");
                                    td { @if grants.contains(&(r, a)) {
                                        input type="checkbox" name=(field) value=(value)
                                            aria-label={ (people(r)) ": " (a) } checked[ticked(&value)];
                                    } }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A resource's name for people: `notification-policy` is "Notification policy".
fn people(resource: &str) -> String {
    let mut s = resource.replace('-', " ");
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    s
}

/// Which projects a system robot's project permissions cover.
fn project_scope(v: &Viewer, perms: Option<&[Permission]>) -> Markup {
    let namespaces: BTreeSet<&str> = perms
        .unwrap_or_default()
        .iter()
        .filter(|p| p.kind == "project")
        .map(|p| p.namespace.as_str())
        .collect();
    let every = namespaces.contains("*");
    let named: Vec<&str> = namespaces.iter().copied().filter(|n| *n != "*").collect();
    let named = named.join(", ");
    html! {
        fieldset {
            legend { "Projects" }
            label.check { input type="radio" name="scope" value="all" checked[v.ticked("scope", "all", every)]; "All projects, including projects created later" }
            label.check { input type="radio" name="scope" value="listed" checked[v.ticked("scope", "listed", !every)]; "Only these projects:" }
            input #robot_projects type="text" name="projects" aria-label="Project names, separated by commas"
                placeholder="library, team-a" value=(v.typed("projects", &named));
            @if uneven(perms.unwrap_or_default()) {
                p.notice.warn {
                    "Its permissions differ from project to project (set through the API). "
                    "Saving gives every project the permissions ticked below."
                }
            }
        }
    }
}

/// Whether a robot's project permissions differ between its projects.
fn uneven(perms: &[Permission]) -> bool {
    let mut by_project: std::collections::BTreeMap<&str, BTreeSet<(&str, &str)>> =
        Default::default();
    for p in perms.iter().filter(|p| p.kind == "project") {
        let set = by_project.entry(&p.namespace).or_default();
        set.insert((&p.resource, &p.action));
    }
    let mut sets = by_project.values();
    let first = sets.next();
    sets.any(|s| Some(s) != first)
}

/// How long a robot lasts: days, or never.
fn expiry_fields(v: &Viewer, duration: i64) -> Markup {
    let days = if duration > 0 {
        duration.to_string()
    } else {
        String::new()
    };
    html! {
        label for="robot_days" { "Expires after (days)" }
        input #robot_days type="text" inputmode="numeric" name="duration" value=(v.typed("duration", &days));
        label.check { input #robot_never type="checkbox" name="never" checked[v.ticked("never", "on", duration < 0)]; "Never expires" }
    }
}

/// The days a posted form gives a robot (-1: never).
fn duration(form: &Form) -> Result<i64, CoreError> {
    if form.checked("never") {
        return Ok(-1);
    }
    match form.get("duration").trim().parse::<i64>() {
        Ok(days) if days > 0 => Ok(days),
        _ => Err(CoreError::BadRequest(
            "enter how many days the robot account lasts (1 or more), or tick \"Never expires\"."
                .into(),
        )),
    }
}

/// A resource and the actions granted on it.
type Granted<'a> = (&'a str, Vec<&'a str>);

/// A robot's permissions for people: per resource, the actions; for a
/// system robot, per scope.
fn summary(perms: &[Permission], scoped: bool) -> Markup {
    let mut scopes: Vec<(String, Vec<Granted>)> = Vec::new();
    for p in perms {
        let scope = match (p.kind.as_str(), p.namespace.as_str()) {
            ("system", _) => "System".to_string(),
            (_, "*") => "All projects".to_string(),
            (_, ns) => format!("Project {ns}"),
        };
        if scopes.last().is_none_or(|(s, _)| *s != scope) {
            scopes.push((scope, Vec::new()));
        }
        let Some((_, resources)) = scopes.last_mut() else {
            continue;
        };
        match resources.last_mut() {
            Some((r, actions)) if *r == p.resource => actions.push(&p.action),
            _ => resources.push((&p.resource, vec![&p.action])),
        }
    }
    html! {
        @if scopes.is_empty() { span.muted { "None" } }
        @for (scope, resources) in &scopes {
            p.perms {
                @if scoped { strong { (scope) ": " } }
                @for (i, (r, actions)) in resources.iter().enumerate() {
                    @if i > 0 { "; " }
                    (people(r)) " " (actions.join(", "))
                }
            }
        }
    }
}

/// The list page; `secret` is a just-issued secret, shown this once.
async fn listing(
    state: &State,
    v: &Viewer,
    place: &Place,
    page_no: i64,
    secret: Option<(String, String)>,
) -> Response {
    let offset = (page_no - 1) * PAGE;
    let listed = state.iam.robots.list(&v.ctx, place.owner(), offset, PAGE);
    let (robots, total) = match listed.await {
        Ok(x) => x,
        Err(e) => return refusal(v, &e),
    };
    let may_create = place.may(v, Action::Create).await;
    let may_update = place.may(v, Action::Update).await;
    let may_delete = place.may(v, Action::Delete).await;
    let here = place.url();
    let body = html! {
        @if let Some((name, secret)) = &secret { (secret_notice(name, secret)) }
        @if robots.is_empty() {
            p.empty {
                "No robot accounts. A robot lets CI pull or push without a person's password"
                @if may_create { ": create one below." } @else { "." }
            }
        } @else {
            table {
                (counted(total, "robot account", "robot accounts"))
                (head(&[&[Plain("Name"), Plain("Status"), Wide("Permissions"), Plain("Expires")], actions(may_update || may_delete)].concat()))
                tbody {
                    @for (r, perms) in &robots {
                        tr {
                            td { (r.name) @if !r.description.is_empty() { br; span.muted { (r.description) } } }
                            td { @if r.disabled { "Disabled" } @else { "Enabled" } }
                            td.wide { (summary(perms, matches!(place, Place::System))) }
                            td { (expires(r)) }
                            (robot_actions(v, &here, r, may_update, may_delete))
                        }
                    }
                }
            }
            (pager(&here, &[], page_no, PAGE, total))
        }
        @if may_create { (new_robot_form(v, place)) }
    };
    place.show(v, body).await
}

/// When a robot stops working.
fn expires(r: &Robot) -> String {
    match r.expires_at {
        -1 => "Never".into(),
        at => minutes(at * 1000),
    }
}

/// A new or refreshed robot secret, shown this once.
fn secret_notice(name: &str, secret: &str) -> Markup {
    html! {
        div.notice.ok role="status" #secret-notice {
            p { "Copy the secret of " strong { (name) } " now: it is not shown again." }
            p { code.copy #robot-secret { (secret) } }
        }
    }
}

/// A robot's edit link and its enable/disable, refresh and delete buttons,
/// as allowed (no cell when none is).
fn robot_actions(v: &Viewer, here: &str, r: &Robot, may_update: bool, may_delete: bool) -> Markup {
    if !may_update && !may_delete {
        return html! {};
    }
    let to = format!("{here}/{}", r.id);
    html! { td.actions {
        @if may_update {
            a.button.secondary href=(to) aria-label={ "Edit " (r.name) } { "Edit" } " "
            (switch(v, &to, !r.disabled))
            form.inline method="post" action=(to)
                data-confirm={ "Issue a new secret for " (r.name) "? The old one stops working." } {
                (csrf_field(v))
                button.secondary type="submit" name="action" value="refresh" { "Refresh secret" }
            }
        }
        @if may_delete {
            (confirmed(v, &to, &format!("Delete {}? Anything using it loses access.", r.name), "delete", "Delete"))
        }
    } }
}

/// The form that creates a robot.
fn new_robot_form(v: &Viewer, place: &Place) -> Markup {
    let example = place.sign_in_name("NAME");
    form_set(
        v,
        &place.url(),
        "New robot account",
        html! {
            label for="robot_name" { "Name" }
            input #robot_name type="text" name="name" required pattern="[A-Za-z0-9._-]+" maxlength="200"
                aria-describedby="robot_name_help" value=(v.typed("name", ""));
            p #robot_name_help .muted { "Letters, digits, '.', '_' and '-'. It signs in as " (example) "." }
            label for="robot_description" { "Description" }
            input #robot_description type="text" name="description" value=(v.typed("description", ""));
            (expiry_fields(v, 30))
            (place.permission_fields(v, None))
            p { button type="submit" { "Create robot account" } }
        },
    )
}

async fn create(state: &State, v: &Viewer, place: &Place, form: &Form) -> Response {
    let to = place.url();
    let request = duration(form).and_then(|duration| {
        Ok(RobotRequest {
            name: form.get("name").trim().to_string(),
            description: form.get("description").trim().to_string(),
            level: place.level().into(),
            duration,
            disable: false,
            permissions: place.permissions(form).map_err(CoreError::BadRequest)?,
            secret: None,
        })
    });
    let created = match request {
        Ok(req) => state.iam.robots.create(&v.ctx, &req).await,
        Err(e) => Err(e),
    };
    match created {
        Ok((robot, secret)) => listing(state, v, place, 1, Some((robot.name, secret))).await,
        Err(e) => outcome_keeping(&to, Err(e), form),
    }
}

/// A robot of this place, or the page that says why not.
async fn robot(
    state: &State,
    v: &Viewer,
    place: &Place,
    rid: i64,
) -> Result<(Robot, Vec<Permission>), CoreError> {
    let found = state.iam.robots.get(&v.ctx, rid).await?;
    match place.holds(&found.0) {
        true => Ok(found),
        false => Err(CoreError::NotFound(format!("robot {rid} not found here"))),
    }
}

/// The edit page: description, expiry and permissions.
async fn edit(state: &State, v: &Viewer, place: &Place, rid: i64) -> Response {
    let (r, perms) = match robot(state, v, place, rid).await {
        Ok(x) => x,
        Err(e) => return refusal(v, &e),
    };
    let to = format!("{}/{rid}", place.url());
    let editable = place.may(v, Action::Update).await;
    let body = html! {
        p.crumbs { a href=(place.url()) { "Robot accounts" } " /" }
        h2 { "Edit " (r.name) }
        @if !editable { p.muted { "Only those who manage robot accounts here change them." } }
        @else {
            (form_set(v, &to, "Robot account", html! {
                label for="robot_description" { "Description" }
                input #robot_description type="text" name="description" value=(v.typed("description", &r.description));
                (expiry_fields(v, r.duration))
                p.muted { "Counted from its creation on " (minutes(r.creation_time)) "; it now expires: " (expires(&r)) "." }
                (place.permission_fields(v, Some(&perms)))
                p { button type="submit" name="action" value="update" { "Save" } " "
                    a.button.secondary href=(place.url()) { "Cancel" } }
            }))
        }
    };
    place.show(v, body).await
}

/// The edit page's save, and the list's row buttons.
async fn change(state: &State, v: &Viewer, place: &Place, rid: i64, form: &Form) -> Response {
    let to = place.url();
    let (robot, perms) = match robot(state, v, place, rid).await {
        Ok(x) => x,
        Err(e) => return redirect_with(&to, Flash::Err(message(&e))),
    };
    let robots = &state.iam.robots;
    let name = robot.name.clone();
    let result = match form.get("action") {
        "refresh" => {
            return match robots.refresh_secret(&v.ctx, rid, None).await {
                Ok(secret) => listing(state, v, place, 1, Some((name, secret))).await,
                Err(e) => redirect_with(&to, Flash::Err(message(&e))),
            };
        }
        "delete" => robots
            .delete(&v.ctx, rid)
            .await
            .map(|()| format!("{name} was deleted.")),
        action @ ("enable" | "disable") => {
            let req = RobotRequest {
                disable: action == "disable",
                ..RobotRequest::unchanged(&robot, perms)
            };
            robots
                .update(&v.ctx, rid, &req)
                .await
                .map(|()| format!("{name} is {action}d."))
        }
        "update" => {
            let saved = update(state, v, place, &robot, form).await;
            if saved.is_err() {
                return outcome_keeping(&format!("{to}/{rid}"), saved, form);
            }
            saved
        }
        other => Err(CoreError::BadRequest(format!("unknown action {other:?}"))),
    };
    outcome(&to, result)
}

/// Saves the edit page's description, expiry and permissions.
async fn update(
    state: &State,
    v: &Viewer,
    place: &Place,
    robot: &Robot,
    form: &Form,
) -> Result<String, CoreError> {
    let req = RobotRequest {
        description: form.get("description").trim().to_string(),
        duration: duration(form)?,
        permissions: place.permissions(form).map_err(CoreError::BadRequest)?,
        ..RobotRequest::unchanged(robot, Vec::new())
    };
    state.iam.robots.update(&v.ctx, robot.id, &req).await?;
    Ok(format!("{} was saved.", robot.name))
}
