//! The administrators' registry endpoints page (Harbor's Registries): the
//! endpoints, a form to add one (tested before it is kept), and each
//! endpoint's page to change it.

use super::{
    actions, csrf_field, head, outcome_keeping, page, refusal, row_button, Col, Form, Posted,
    Viewer,
};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::replication::adapters;
use berth_core::replication::registries::{
    Credential, Endpoint, EndpointChange, NewEndpoint, PingRequest,
};
use berth_core::CoreError;
use maud::{html, Markup};

const HERE: &str = "/harbor/registries";

pub fn router() -> Router<State> {
    Router::new()
        .route(HERE, get(show).post(save))
        .route("/harbor/registries/{id}", get(edit).post(change))
}

async fn show(S(state): S<State>, v: Viewer) -> Response {
    let everything = berth_core::query::Filter::default();
    let (list, _) = match state.registries.list(&v.ctx, &everything, 0, 100).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let cols = [
        Col::Plain("Name"),
        Col::Plain("Status"),
        Col::Wide("Endpoint URL"),
        Col::Wide("Provider"),
        Col::Wide("Verify certificate"),
    ];
    let body = html! {
        h1 { "Registries" }
        p.muted { "Other registries Berth can replicate with, or cache images of in a proxy-cache project." }
        @if list.is_empty() {
            p.muted { "No registry endpoint yet." }
        } @else {
            div.scroll { table.registries {
                (head(&[&cols[..], actions(!v.read_only)].concat()))
                tbody {
                    @for e in &list {
                        tr {
                            td { a href=(format!("{HERE}/{}", e.id)) { (e.name) }
                                @if !e.description.is_empty() { br; span.muted { (e.description) } } }
                            td { span class=(e.status) { (e.status) } }
                            td.wide { code { (e.url) } }
                            td.wide { (e.kind) }
                            td.wide { @if e.insecure { "no" } @else { "yes" } }
                            @if !v.read_only {
                                td {
                                    (row_button(&v, HERE, e.id, "test", "Test connection", None))
                                    (row_button(&v, HERE, e.id, "delete", "Delete", Some(&format!("Delete the endpoint {}?", e.name))))
                                }
                            }
                        }
                    }
                }
            } }
        }
        (endpoint_form(&v, HERE, None))
    };
    page(&v, "Registries", body)
}

/// The fields of an endpoint: empty to add one, or an endpoint's to change
/// it (its type stays; its secret is never shown).
fn endpoint_form(v: &Viewer, to: &str, e: Option<&Endpoint>) -> Markup {
    let value = |name: &str, stored: &str| v.typed(name, stored).to_string();
    let stored = |f: fn(&Endpoint) -> &str| e.map(f).unwrap_or_default();
    let kind = value("type", stored(|e| &e.kind));
    html! {
        form method="post" action=(to) {
            (csrf_field(v))
            fieldset disabled[v.read_only] {
                legend { @if e.is_some() { "Edit the endpoint" } @else { "New endpoint" } }
                label for="registry_type" { "Provider" }
                select #registry_type name="type" disabled[e.is_some()] {
                    @for k in adapters::kinds() {
                        option value=(k) selected[k == kind || (kind.is_empty() && k == "docker-registry")] { (k) }
                    }
                }
                label for="registry_name" { "Name" }
                input #registry_name name="name" required maxlength="64" value=(value("name", stored(|e| &e.name)));
                label for="registry_description" { "Description" }
                input #registry_description name="description" value=(value("description", stored(|e| &e.description)));
                label for="registry_url" { "Endpoint URL" }
                input #registry_url name="url" required placeholder="https://registry.example.com"
                    value=(value("url", stored(|e| &e.url)));
                label for="registry_key" { "Access ID" }
                input #registry_key name="access_key" autocomplete="off" value=(value("access_key", stored(|e| &e.access_key)));
                label for="registry_secret" { "Access secret" }
                input #registry_secret name="access_secret" type="password" autocomplete="new-password"
                    placeholder=[e.filter(|e| !e.access_secret.is_empty()).map(|_| "(unchanged)")];
                label.check { input type="checkbox" name="insecure" checked[v.ticked("insecure", "on", e.is_some_and(|e| e.insecure))];
                    "Do not verify the registry's certificate" }
                label for="registry_ca" { "CA certificate (PEM; empty for the system's)" }
                textarea #registry_ca name="ca_certificate" rows="3" { (value("ca_certificate", stored(|e| &e.ca_certificate))) }
                @if !v.read_only {
                    p {
                        button.secondary type="submit" name="action" value="test-new" formnovalidate { "Test connection" }
                        " "
                        @match e {
                            Some(_) => button type="submit" name="action" value="save" { "Save" },
                            None => button type="submit" name="action" value="add" { "Add endpoint" },
                        }
                    }
                }
            }
        }
    }
}

/// A ping of what the form says (a stored endpoint's secret when no new
/// one is typed).
fn ping_of(form: &Form, stored: Option<&Endpoint>) -> PingRequest {
    let secret = Some(form.get("access_secret").to_string()).filter(|s| !s.is_empty());
    match stored {
        // A stored endpoint is pinged at its stored address.
        Some(e) => PingRequest {
            id: Some(e.id),
            kind: None,
            with: EndpointChange {
                access_key: Some(form.get("access_key").into()),
                access_secret: secret,
                ..EndpointChange::default()
            },
        },
        None => PingRequest {
            id: None,
            kind: Some(form.get("type").into()),
            with: EndpointChange {
                url: Some(form.get("url").into()),
                access_key: Some(form.get("access_key").into()),
                access_secret: secret,
                insecure: Some(form.checked("insecure")),
                ca_certificate: Some(form.get("ca_certificate").into()),
                ..EndpointChange::default()
            },
        },
    }
}

async fn save(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let r = &state.registries;
    let id = form.get("id").parse::<i64>().unwrap_or(0);
    let result = match form.get("action") {
        "add" => {
            let new = NewEndpoint {
                name: form.get("name").into(),
                description: form.get("description").into(),
                kind: form.get("type").into(),
                url: form.get("url").into(),
                credential: Some(Credential {
                    kind: String::new(),
                    access_key: form.get("access_key").into(),
                    access_secret: form.get("access_secret").into(),
                }),
                insecure: form.checked("insecure"),
                ca_certificate: Some(form.get("ca_certificate").into()),
            };
            (r.create(&v.ctx, &new).await).map(|_| format!("The endpoint {} was added.", new.name))
        }
        "test-new" => {
            (r.ping(&v.ctx, &ping_of(&form, None)).await).map(|()| "The registry answered.".into())
        }
        "test" => (r
            .ping(
                &v.ctx,
                &PingRequest {
                    id: Some(id),
                    ..PingRequest::default()
                },
            )
            .await)
            .map(|()| "The registry answered.".into()),
        "delete" => {
            (r.delete(&v.ctx, id).await).map(|e| format!("The endpoint {} was deleted.", e.name))
        }
        _ => Err(CoreError::BadRequest("unknown action".into())),
    };
    outcome_keeping(HERE, result, &form)
}

async fn edit(S(state): S<State>, v: Viewer, Path(id): Path<i64>) -> Response {
    let e = match state.registries.get(&v.ctx, id).await {
        Ok(e) => e,
        Err(e) => return refusal(&v, &e),
    };
    let to = format!("{HERE}/{id}");
    let body = html! {
        p { a href=(HERE) { "Registries" } }
        h1 { (e.name) }
        p.muted { "Status: " (e.status) ". A new endpoint URL drops the stored secret unless a new one is given." }
        (endpoint_form(&v, &to, Some(&e)))
    };
    page(&v, &e.name, body)
}

async fn change(S(state): S<State>, Path(id): Path<i64>, Posted(v, form): Posted) -> Response {
    let r = &state.registries;
    let to = format!("{HERE}/{id}");
    let stored = match r.get(&v.ctx, id).await {
        Ok(e) => e,
        Err(e) => return outcome_keeping(&to, Err(e), &form),
    };
    let result = match form.get("action") {
        "test-new" => (r.ping(&v.ctx, &ping_of(&form, Some(&stored))).await)
            .map(|()| "The registry answered.".into()),
        _ => {
            let secret = form.get("access_secret");
            let change = EndpointChange {
                name: Some(form.get("name").into()),
                description: Some(form.get("description").into()),
                url: Some(form.get("url").into()),
                credential_type: None,
                access_key: Some(form.get("access_key").into()),
                access_secret: (!secret.is_empty()).then(|| secret.into()),
                insecure: Some(form.checked("insecure")),
                ca_certificate: Some(form.get("ca_certificate").into()),
            };
            (r.update(&v.ctx, id, &change).await).map(|()| "The endpoint was saved.".into())
        }
    };
    outcome_keeping(&to, result, &form)
}
