//! A project's Tag Immutability tab: its rules, each with enable/disable
//! and delete, and the form that adds one.

use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::{actions, form_set, head, outcome_keeping, row_button, Col, Viewer};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::immutable::ImmutableRule;
use berth_core::project::ProjectKey;
use berth_core::selector::Selector;
use berth_core::CoreError;
use maud::{html, Markup};
use std::collections::BTreeMap;

const TAB: &str = "immutability";

pub fn router() -> Router<State> {
    Router::new().route("/harbor/projects/{id}/immutability", get(tab).post(save))
}

/// A selector in words: "matching v1.*", "excluding latest".
pub(super) fn said(s: Option<&Selector>) -> String {
    match s {
        Some(s) if s.decoration.ends_with("xcludes") => format!("excluding {}", s.pattern),
        Some(s) => format!("matching {}", s.pattern),
        None => "—".into(),
    }
}

async fn tab(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let here = tab_url(&p, TAB);
    let may_change = may(&v, &p, Action::Create, Kind::ImmutableTag).await;
    let body = match state.immutable.list(&v.ctx, &key, 0, 100).await {
        Err(e) => html! { div.notice.err role="alert" { (super::message(&e)) } },
        Ok((rules, _)) => html! {
            p.muted { "Tags a rule picks cannot be pushed over, retagged or deleted, nor can their artifacts, by anyone." }
            @if rules.is_empty() {
                p.empty { "No rule: every tag can move." }
            } @else {
                div.scroll { table.rules {
                    (head(&[&[Col::Plain("Repositories"), Col::Plain("Tags"), Col::Plain("Status")][..], actions(may_change && !v.read_only)].concat()))
                    tbody {
                        @for r in &rules {
                            tr {
                                td { (said(r.scope_selectors.get("repository").and_then(|s| s.first()))) }
                                td { (said(r.tag_selectors.first())) }
                                td { @if r.disabled { "Disabled" } @else { "Enabled" } }
                                @if may_change && !v.read_only {
                                    td {
                                        @let (action, label) = if r.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
                                        (row_button(&v, &here, r.id, action, label, None))
                                        (row_button(&v, &here, r.id, "delete", "Delete", Some("Delete this rule? Its tags can move again.")))
                                    }
                                }
                            }
                        }
                    }
                } }
            }
            @if may_change { (new_rule_form(&v, &here)) }
        },
    };
    show(&v, &p, TAB, body).await
}

/// A selector's "matching" / "excluding" choice, named `id`.
fn choice(v: &Viewer, id: &str, keep: &str, drop: &str) -> Markup {
    html! {
        select id=(id) name=(id) {
            option value=(keep) selected[v.typed(id, keep) == keep] { "matching" }
            option value=(drop) selected[v.typed(id, keep) == drop] { "excluding" }
        }
    }
}

/// The form that adds a rule: which repositories, which tags.
fn new_rule_form(v: &Viewer, here: &str) -> Markup {
    let choice = |id: &str, keep: &str, drop: &str| choice(v, id, keep, drop);
    html! {
        (form_set(v, here, "New rule", html! {
            label for="repo_decoration" { "Repositories" }
            (choice("repo_decoration", "repoMatches", "repoExcludes"))
            label for="repo_pattern" { "Repository pattern (doublestar: **, {a,b})" }
            input #repo_pattern type="text" name="repo_pattern" required value=(v.typed("repo_pattern", "**"));
            label for="tag_decoration" { "Tags" }
            (choice("tag_decoration", "matches", "excludes"))
            label for="tag_pattern" { "Tag pattern" }
            input #tag_pattern type="text" name="tag_pattern" required value=(v.typed("tag_pattern", ""));
            p { button type="submit" name="action" value="add" { "Add rule" } }
        }))
    }
}

/// A doublestar selector as a form gives it.
pub(super) fn selector(decoration: &str, pattern: &str, extras: &str) -> Selector {
    Selector {
        kind: "doublestar".into(),
        decoration: decoration.into(),
        pattern: pattern.trim().into(),
        extras: extras.into(),
    }
}

async fn save(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let key = ProjectKey::Id(p.project.project_id);
    let rules = &state.immutable;
    let id = form.get("id").parse::<i64>().unwrap_or(0);
    let result = match form.get("action") {
        "add" => {
            let rule = ImmutableRule {
                tag_selectors: vec![selector(
                    form.get("tag_decoration"),
                    form.get("tag_pattern"),
                    "",
                )],
                scope_selectors: BTreeMap::from([(
                    "repository".to_string(),
                    vec![selector(
                        form.get("repo_decoration"),
                        form.get("repo_pattern"),
                        "",
                    )],
                )]),
                ..ImmutableRule::default()
            };
            (rules.create(&v.ctx, &key, &rule).await).map(|_| "The rule was added.".to_string())
        }
        action @ ("enable" | "disable") => {
            let found = (rules.list(&v.ctx, &key, 0, 100).await)
                .map(|(all, _)| all.into_iter().find(|r| r.id == id));
            match found {
                Ok(Some(rule)) => {
                    let rule = ImmutableRule {
                        disabled: action == "disable",
                        ..rule
                    };
                    (rules.update(&v.ctx, &key, id, &rule).await)
                        .map(|()| format!("The rule was {action}d."))
                }
                Ok(None) => Err(CoreError::NotFound(format!(
                    "immutable rule {id} not found"
                ))),
                Err(e) => Err(e),
            }
        }
        "delete" => (rules.delete(&v.ctx, &key, id).await).map(|()| "The rule was deleted.".into()),
        _ => Err(CoreError::BadRequest("unknown action".into())),
    };
    outcome_keeping(&tab_url(&p, TAB), result, &form)
}
