//! A project's Tag Retention tab: its policy's rules (add, delete), its
//! schedule, dry runs and runs, and their history with each repository's
//! log.

use super::immutable::{said, selector};
use super::project::{may, show, tab_url, InProject, ProjectPost};
use super::projects::minutes;
use super::{actions, form_set, head, outcome_keeping, row_button, Col, Viewer};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::rbac::{Action, Kind};
use berth_core::project::ProjectView;
use berth_core::retention::{parameter, RetentionPolicy, Rule, Scope, Trigger, TEMPLATES};
use berth_core::CoreError;
use maud::{html, Markup};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const TAB: &str = "tag-retention";

pub fn router() -> Router<State> {
    Router::new()
        .route("/harbor/projects/{id}/tag-retention", get(tab).post(save))
        .route(
            "/harbor/projects/{id}/tag-retention/runs/{eid}/tasks/{tid}",
            get(task_log),
        )
}

/// The project's policy id, if it has one.
fn policy_id(p: &ProjectView) -> Option<i64> {
    p.metadata.get("retention_id")?.parse().ok()
}

/// What a rule keeps, in words.
fn keeps(r: &Rule) -> String {
    let n = r
        .params
        .get(&r.template)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let n = n.trim_matches('"');
    match r.template.as_str() {
        "latestPushedK" => format!("the {n} most recently pushed"),
        "latestPulledN" => format!("the {n} most recently pulled"),
        "nDaysSinceLastPush" => format!("those pushed within {n} days"),
        "nDaysSinceLastPull" => format!("those pulled within {n} days"),
        "always" => "all".into(),
        other => other.into(),
    }
}

async fn tab(S(state): S<State>, InProject(v, p): InProject) -> Response {
    let here = tab_url(&p, TAB);
    let may_change = may(&v, &p, Action::Update, Kind::TagRetention).await && !v.read_only;
    let policy = match policy_id(&p) {
        Some(id) => match state.retention.get(&v.ctx, id).await {
            Ok(policy) => Some(policy),
            Err(e) => return show(&v, &p, TAB, error(&e)).await,
        },
        None => None,
    };
    let runs = match &policy {
        Some(policy) => match state.retention.executions(&v.ctx, policy.id, (0, 10)).await {
            Ok((runs, _)) => runs,
            Err(e) => return show(&v, &p, TAB, error(&e)).await,
        },
        None => Vec::new(),
    };
    let mut tasks = BTreeMap::new();
    for run in &runs {
        let ids = (run.execution.vendor_id, run.execution.id);
        if let Ok((t, _)) = state.retention.tasks(&v.ctx, ids, (0, 100)).await {
            tasks.insert(run.execution.id, t);
        }
    }
    let rules = policy
        .as_ref()
        .map(|p| p.rules.as_slice())
        .unwrap_or_default();
    let cols = [
        Col::Plain("Repositories"),
        Col::Plain("Tags"),
        Col::Plain("Keeps"),
    ];
    let body = html! {
        p.muted {
            "In each repository a rule applies to, artifacts no rule keeps are deleted when the policy runs. "
            "Immutable tags are never deleted. A dry run only lists what would go."
        }
        @if rules.is_empty() {
            p.empty { "No retention rule: nothing is deleted." }
        } @else {
            div.scroll { table.rules {
                (head(&[&cols[..], actions(may_change)].concat()))
                tbody {
                    @for (n, r) in rules.iter().enumerate() {
                        tr {
                            td { (said(r.scope_selectors.get("repository").and_then(|s| s.first()))) }
                            td {
                                (said(r.tag_selectors.first()))
                                @if r.tag_selectors.first().is_some_and(|s| s.extras.contains("true")) { ", untagged too" }
                            }
                            td { (keeps(r)) }
                            @if may_change {
                                td {
                                    details {
                                        summary { "Edit " span.sr-only { "rule " (n + 1) } }
                                        form method="post" action=(here) {
                                            (super::csrf_field(&v))
                                            input type="hidden" name="id" value=(n);
                                            (rule_fields(&v, Some(r), &format!("-{n}")))
                                            button.secondary type="submit" name="action" value="update" { "Save" }
                                        }
                                    }
                                    (row_button(&v, &here, n as i64, "delete", "Delete", Some("Delete this rule?")))
                                }
                            }
                        }
                    }
                }
            } }
        }
        @if may_change {
            @if let Some(policy) = &policy {
                form.inline method="post" action=(here) {
                    (super::csrf_field(&v))
                    button.secondary type="submit" name="action" value="dry-run" { "Dry run" }
                }
                form.inline method="post" action=(here)
                    data-confirm="Run the policy now? It deletes every artifact no rule keeps." {
                    (super::csrf_field(&v))
                    button.danger type="submit" name="action" value="run" { "Run now" }
                }
                (schedule_form(&v, &here, policy))
            }
            (new_rule_form(&v, &here))
        }
        @if !runs.is_empty() {
            h2 { "Runs" }
            div.scroll { table.runs {
                (head(&[Col::Plain("Run"), Col::Plain("Status"), Col::Plain("Started"), Col::Plain("Repositories")]))
                tbody {
                    @for run in &runs {
                        tr {
                            td { (run.execution.id) @if run.dry_run { " (dry run)" } }
                            td.status { (run.execution.status) }
                            td { (minutes(run.execution.start_time)) }
                            td {
                                @for t in tasks.get(&run.execution.id).into_iter().flatten() {
                                    a href={ (here) "/runs/" (run.execution.id) "/tasks/" (t.task.id) } {
                                        (t.repository) ": " (t.retained) " of " (t.total) " kept"
                                    }
                                    br;
                                }
                            }
                        }
                    }
                }
            } }
        }
    };
    show(&v, &p, TAB, body).await
}

fn error(e: &CoreError) -> Markup {
    html! { div.notice.err role="alert" { (super::message(e)) } }
}

/// When the policy runs by itself.
fn schedule_form(v: &Viewer, here: &str, policy: &RetentionPolicy) -> Markup {
    let cron = (policy.trigger.settings.get("cron"))
        .and_then(Value::as_str)
        .unwrap_or("");
    html! {
        (form_set(v, here, "Schedule", html! {
            label for="cron" { "Cron (six fields, seconds first; empty: only when run by hand)" }
            input #cron type="text" name="cron" value=(v.typed("cron", cron));
            p { button.secondary type="submit" name="action" value="schedule" { "Save schedule" } }
        }))
    }
}

/// A select of `options` (value, label) with `chosen` selected.
fn pick(id: &str, name: &str, options: &[(&str, &str)], chosen: &str) -> Markup {
    html! {
        select id=(id) name=(name) {
            @for (value, label) in options {
                option value=(value) selected[*value == chosen] { (label) }
            }
        }
    }
}

/// A rule's fields: `r`'s values when editing it (ids suffixed so each
/// row's form has its own), else what was typed or the defaults.
fn rule_fields(v: &Viewer, r: Option<&Rule>, suffix: &str) -> Markup {
    let repo = r.and_then(|r| r.scope_selectors.get("repository")?.first());
    let tag = r.and_then(|r| r.tag_selectors.first());
    let value = |k: &str, stored: Option<String>, default: &str| match r {
        Some(_) => stored.unwrap_or_default(),
        None => v.typed(k, default).to_string(),
    };
    let count = r.map(keeps_count);
    let untagged = match r {
        Some(_) => tag.is_some_and(|t| t.extras.contains("true")),
        None => v.ticked("untagged", "on", false),
    };
    let id = |k: &str| format!("{k}{suffix}");
    let matching =
        |keep: &'static str, drop: &'static str| [(keep, "matching"), (drop, "excluding")];
    let templates: Vec<(&str, &str)> = (TEMPLATES.iter()).map(|(t, _, text)| (*t, *text)).collect();
    html! {
        label for=(id("repo_decoration")) { "Repositories" }
        (pick(&id("repo_decoration"), "repo_decoration", &matching("repoMatches", "repoExcludes"),
            &value("repo_decoration", repo.map(|s| s.decoration.clone()), "repoMatches")))
        label for=(id("repo_pattern")) { "Repository pattern (doublestar: **, {a,b})" }
        input id=(id("repo_pattern")) type="text" name="repo_pattern" required
            value=(value("repo_pattern", repo.map(|s| s.pattern.clone()), "**"));
        label for=(id("template")) { "Keep" }
        (pick(&id("template"), "template", &templates,
            &value("template", r.map(|r| r.template.clone()), "latestPushedK")))
        label for=(id("count")) { "# (count or days)" }
        input id=(id("count")) type="number" min="1" name="count" value=(value("count", count, "10"));
        label for=(id("tag_decoration")) { "Tags" }
        (pick(&id("tag_decoration"), "tag_decoration", &matching("matches", "excludes"),
            &value("tag_decoration", tag.map(|s| s.decoration.clone()), "matches")))
        label for=(id("tag_pattern")) { "Tag pattern" }
        input id=(id("tag_pattern")) type="text" name="tag_pattern" required
            value=(value("tag_pattern", tag.map(|s| s.pattern.clone()), "**"));
        label { input type="checkbox" name="untagged" checked[untagged]; "Untagged artifacts too" }
    }
}

/// A rule's count or number of days, as the form shows it.
fn keeps_count(r: &Rule) -> String {
    parameter(r).map_or_else(String::new, |n| n.to_string())
}

/// The form that adds a rule.
fn new_rule_form(v: &Viewer, here: &str) -> Markup {
    html! {
        (form_set(v, here, "New rule", html! {
            (rule_fields(v, None, ""))
            p { button type="submit" name="action" value="add" { "Add rule" } }
        }))
    }
}

/// The rule a form describes.
fn rule_from(form: &super::Form) -> Rule {
    let template = form.get("template");
    let untagged = if form.checked("untagged") {
        r#"{"untagged":true}"#
    } else {
        ""
    };
    let count = form.get("count").trim().parse::<i64>().unwrap_or(0);
    Rule {
        template: template.into(),
        action: "retain".into(),
        params: BTreeMap::from([(template.to_string(), json!(count))]),
        tag_selectors: vec![selector(
            form.get("tag_decoration"),
            form.get("tag_pattern"),
            untagged,
        )],
        scope_selectors: BTreeMap::from([(
            "repository".to_string(),
            vec![selector(
                form.get("repo_decoration"),
                form.get("repo_pattern"),
                "",
            )],
        )]),
        ..Rule::default()
    }
}

async fn save(S(state): S<State>, ProjectPost(v, form, p): ProjectPost) -> Response {
    let retention = &state.retention;
    let existing = match policy_id(&p) {
        Some(id) => retention.get(&v.ctx, id).await.map(Some),
        None => Ok(None),
    };
    let result = async {
        let existing = existing?;
        let mut policy = existing.clone().unwrap_or_else(|| RetentionPolicy {
            algorithm: "or".into(),
            trigger: Trigger {
                kind: "Schedule".into(),
                ..Trigger::default()
            },
            scope: Scope {
                level: "project".into(),
                reference: p.project.project_id,
            },
            ..RetentionPolicy::default()
        });
        let done = match form.get("action") {
            "add" => {
                policy.rules.push(rule_from(&form));
                "The rule was added."
            }
            "update" => {
                let n = form.get("id").parse::<usize>().unwrap_or(usize::MAX);
                let rule = (policy.rules.get_mut(n))
                    .ok_or_else(|| CoreError::NotFound("no such rule".into()))?;
                *rule = rule_from(&form);
                "The rule was saved."
            }
            "delete" => {
                let n = form.get("id").parse::<usize>().unwrap_or(usize::MAX);
                if n >= policy.rules.len() {
                    return Err(CoreError::NotFound("no such rule".into()));
                }
                policy.rules.remove(n);
                "The rule was deleted."
            }
            "schedule" => {
                let cron = form.get("cron").trim();
                policy.trigger.settings.insert("cron".into(), json!(cron));
                "The schedule was saved."
            }
            action @ ("run" | "dry-run") => {
                let id = existing
                    .map(|e| e.id)
                    .ok_or_else(|| CoreError::BadRequest("add a rule first".into()))?;
                let eid = retention.run(&v.ctx, id, action == "dry-run").await?;
                return Ok(format!("Run {eid} started."));
            }
            _ => return Err(CoreError::BadRequest("unknown action".into())),
        };
        match existing {
            Some(e) => retention.update(&v.ctx, e.id, &policy).await?,
            None => {
                retention.create(&v.ctx, &policy).await?;
            }
        }
        Ok(done.to_string())
    }
    .await;
    outcome_keeping(&tab_url(&p, TAB), result, &form)
}

async fn task_log(
    S(state): S<State>,
    InProject(v, p): InProject,
    Path((_, eid, tid)): Path<(String, i64, i64)>,
) -> Response {
    let Some(id) = policy_id(&p) else {
        return show(
            &v,
            &p,
            TAB,
            error(&CoreError::NotFound("no retention policy".into())),
        )
        .await;
    };
    let body = match state.retention.task_log(&v.ctx, (id, eid), tid).await {
        Ok(log) => html! {
            h2 { "Run " (eid) ", task " (tid) }
            p { a href=(tab_url(&p, TAB)) { "← Tag Retention" } }
            pre.log { (log) }
        },
        Err(e) => error(&e),
    };
    show(&v, &p, TAB, body).await
}
