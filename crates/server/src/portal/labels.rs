//! Labels in the portal: the administrators' global labels
//! (`/harbor/labels`) and a project's own (its Labels tab), each with
//! add, edit and delete; and the chips that show them on artifacts.

use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::{
    actions, csrf_field, form_set, head, outcome_keeping, page, refusal, row_button, Col, Posted,
    Viewer,
};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::labels::{Label, LabelFields, NewLabel};
use berth_core::project::ProjectView;
use berth_core::query::Filter;
use berth_core::CoreError;
use maud::{html, Markup};

const GLOBAL: &str = "/harbor/labels";

pub fn router() -> Router<State> {
    Router::new()
        .route(GLOBAL, get(global).post(save_global))
        .route(
            "/harbor/projects/{id}/labels",
            get(tab).post(save_in_project),
        )
}

/// A label as a chip in its color.
pub fn chip(l: &Label) -> Markup {
    let color = Some(l.color.as_str()).filter(|c| is_color(c));
    html! {
        span.chip style=[color.map(|c| format!("--chip: {c}"))] title=(l.description) { (l.name) }
    }
}

/// Whether a color is one CSS can take as written here (`#rgb`, `#rrggbb`).
fn is_color(c: &str) -> bool {
    c.strip_prefix('#')
        .is_some_and(|h| matches!(h.len(), 3 | 6) && h.chars().all(|x| x.is_ascii_hexdigit()))
}

/// The labels of a scope, with edit and delete when the viewer may, and
/// the form that adds one.
fn labels_page(v: &Viewer, to: &str, list: &[Label], may_change: bool) -> Markup {
    let cols = [
        Col::Plain("Label"),
        Col::Wide("Description"),
        Col::Wide("Color"),
    ];
    html! {
        @if list.is_empty() {
            p.muted { "No label yet." }
        } @else {
            div.scroll { table.labels {
                (head(&[&cols[..], actions(may_change && !v.read_only)].concat()))
                tbody {
                    @for l in list {
                        tr {
                            td { (chip(l)) }
                            td.wide { (l.description) }
                            td.wide { code { (l.color) } }
                            @if may_change && !v.read_only {
                                td {
                                    details {
                                        summary { "Edit " span.sr-only { (l.name) } }
                                        form method="post" action=(to) {
                                            (csrf_field(v))
                                            input type="hidden" name="id" value=(l.id);
                                            (fields(v, Some(l), &format!("-{}", l.id)))
                                            button.secondary type="submit" name="action" value="update" { "Save" }
                                        }
                                    }
                                    (row_button(v, to, l.id, "delete", "Delete",
                                        Some(&format!("Delete the label {}? It leaves every artifact it is on.", l.name))))
                                }
                            }
                        }
                    }
                }
            } }
        }
        @if may_change {
            (form_set(v, to, "New label", html! {
                (fields(v, None, ""))
                p { button type="submit" name="action" value="add" { "Add label" } }
            }))
        }
    }
}

/// A label's fields (ids suffixed so that each row's form has its own).
fn fields(v: &Viewer, l: Option<&Label>, suffix: &str) -> Markup {
    let value = |k: &str, stored: Option<&str>| match l {
        Some(_) => stored.unwrap_or("").to_string(),
        None => v.typed(k, "").to_string(),
    };
    let color = value("color", l.map(|l| l.color.as_str()));
    html! {
        label for={ "name" (suffix) } { "Name" }
        input id={ "name" (suffix) } type="text" name="name" required maxlength="128"
            value=(value("name", l.map(|l| l.name.as_str())));
        label for={ "description" (suffix) } { "Description" }
        input id={ "description" (suffix) } type="text" name="description"
            value=(value("description", l.map(|l| l.description.as_str())));
        label for={ "color" (suffix) } { "Color" }
        input id={ "color" (suffix) } type="color" name="color"
            value=(if is_color(&color) { color } else { "#4a90d9".to_string() });
    }
}

/// Carries out a labels form: add (in `scope`), update, delete.
async fn save(
    state: &State,
    v: &Viewer,
    form: &super::Form,
    scope: &str,
    project_id: i64,
) -> Result<String, CoreError> {
    let labels = &state.labels;
    let id = form.get("id").parse::<i64>().unwrap_or(0);
    let (name, description, color) = (
        form.get("name").trim(),
        form.get("description").trim(),
        form.get("color").trim(),
    );
    match form.get("action") {
        "add" => {
            let new = NewLabel {
                name: name.into(),
                description: description.into(),
                color: color.into(),
                scope: scope.into(),
                project_id,
            };
            (labels.create(&v.ctx, &new).await).map(|_| format!("The label {name} was added."))
        }
        "update" => {
            let fields = LabelFields {
                name,
                description,
                color,
            };
            (labels.update(&v.ctx, id, fields).await)
                .map(|()| format!("The label {name} was saved."))
        }
        "delete" => (labels.delete(&v.ctx, id).await).map(|()| "The label was deleted.".into()),
        _ => Err(CoreError::BadRequest("unknown action".into())),
    }
}

/// Every label of a scope (a page of 500: labels are few).
async fn all(
    state: &State,
    v: &Viewer,
    scope: &str,
    project: Option<i64>,
) -> Result<Vec<Label>, CoreError> {
    let listed = (state.labels)
        .list(&v.ctx, (scope, project), None, &Filter::default(), 0, 500)
        .await?;
    Ok(listed.0)
}

async fn global(S(state): S<State>, v: Viewer) -> Response {
    if !berth_core::iam::rbac::administers(&v.ctx) {
        return refusal(&v, &CoreError::Forbidden("forbidden".into()));
    }
    let list = match all(&state, &v, "g", None).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let body = html! {
        h1 { "Labels" }
        p.muted { "Global labels: every project's artifacts can carry them." }
        (labels_page(&v, GLOBAL, &list, true))
    };
    page(&v, "Labels", body)
}

async fn save_global(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let result = save(&state, &v, &form, "g", 0).await;
    outcome_keeping(GLOBAL, result, &form)
}

async fn tab(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let id = p.project.project_id;
    let body = match all(&state, &v, "p", Some(id)).await {
        Ok(list) => {
            let may_change = may(&v, &p, Action::Create, Kind::Label).await;
            labels_page(&v, &tab_url(&p, "labels"), &list, may_change)
        }
        Err(e) => html! { div.notice.err role="alert" { (super::message(&e)) } },
    };
    show(&v, &p, "labels", body).await
}

async fn save_in_project(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let id = p.project.project_id;
    let result = save(&state, &v, &form, "p", id).await;
    outcome_keeping(&tab_url(&p, "labels"), result, &form)
}

/// The global labels and the project's, which its artifacts may carry.
pub async fn usable(state: &State, v: &Viewer, project: i64) -> Vec<Label> {
    let mut out = all(state, v, "g", None).await.unwrap_or_default();
    out.extend(all(state, v, "p", Some(project)).await.unwrap_or_default());
    out
}

/// An artifact's labels, each with a button that takes it off, and the
/// form that puts another on (for who may).
pub async fn artifact_section(
    state: &State,
    v: &Viewer,
    p: &ProjectView,
    here: &str,
    artifact: i64,
) -> Markup {
    let on = (state.labels.of_artifacts(&[artifact]).await)
        .map(|mut m| m.remove(&artifact).unwrap_or_default())
        .unwrap_or_default();
    let may_add = may(v, p, Action::Create, Kind::ArtifactLabel).await;
    let may_remove = may(v, p, Action::Delete, Kind::ArtifactLabel).await;
    let others: Vec<Label> = (usable(state, v, p.project.project_id).await.into_iter())
        .filter(|l| !on.iter().any(|o| o.id == l.id))
        .collect();
    html! {
        h2 #labels-heading { "Labels" }
        @if on.is_empty() {
            p.empty { "No labels." }
        } @else {
            ul.chips aria-labelledby="labels-heading" {
                @for l in &on {
                    li {
                        (chip(l))
                        @if may_remove {
                            form.inline method="post" action=(here) {
                                (csrf_field(v))
                                input type="hidden" name="label" value=(l.id);
                                button.link type="submit" name="action" value="remove-label"
                                    aria-label={ "Remove the label " (l.name) } { "×" }
                            }
                        }
                    }
                }
            }
        }
        @if may_add && !others.is_empty() {
            (form_set(v, here, "Add a label", html! {
                label for="label" { "Label" }
                select #label name="label" {
                    @for l in &others {
                        option value=(l.id) { (l.name) @if l.scope == "p" { " (project)" } }
                    }
                }
                p { button type="submit" name="action" value="add-label" { "Add label" } }
            }))
        }
    }
}

/// Links that filter a list by one of `labels` (`current` the chosen one).
pub fn filter_links(base: &str, labels: &[Label], current: Option<i64>) -> Markup {
    html! {
        @if !labels.is_empty() {
            nav.label-filter aria-label="Filter by label" {
                "Label: "
                @if current.is_none() { strong { "any" } } @else { a href=(base) { "any" } }
                @for l in labels {
                    " "
                    @if current == Some(l.id) {
                        strong aria-current="true" { (chip(l)) }
                    } @else {
                        a href={ (base) "?label=" (l.id) } { (chip(l)) }
                    }
                }
            }
        }
    }
}
