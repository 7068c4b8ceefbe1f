//! The administrators' groups page (Harbor's Groups): the user groups
//! projects can take as members, a form to add one (an LDAP group by its
//! DN, an OIDC group by the name the provider's groups claim gives), and
//! each group's rename and delete.

use super::{
    actions, csrf_field, form_set, head, outcome_keeping, page, refusal, row_button, Col, Posted,
    Viewer,
};
use crate::State;
use axum::extract::State as S;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use berth_core::iam::groups::{LDAP, OIDC};
use berth_core::CoreError;
use maud::html;

const HERE: &str = "/harbor/groups";

pub fn router() -> Router<State> {
    Router::new().route(HERE, get(show).post(save))
}

async fn show(S(state): S<State>, v: Viewer) -> Response {
    let (list, total) = match state.iam.groups(&v.ctx, None, None, 0, 500).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let oidc = state.configurations.snapshot().auth_mode == "oidc_auth";
    let cols = [
        Col::Plain("Name"),
        Col::Plain("Type"),
        Col::Wide("LDAP group DN"),
    ];
    let body = html! {
        h1 { "Groups" }
        p.muted { "Groups can be members of projects: whoever belongs to one (as the directory or provider said at their last sign-in) has its role there." }
        @if list.is_empty() {
            p.muted { "No group yet." }
        } @else {
            @if total > list.len() as i64 { p.muted { "The first " (list.len()) " of " (total) " groups." } }
            div.scroll { table.groups {
                (head(&[&cols[..], actions(!v.read_only)].concat()))
                tbody {
                    @for g in &list {
                        tr {
                            td { (g.group_name) }
                            td { (match g.group_type { LDAP => "LDAP", OIDC => "OIDC", _ => "HTTP" }) }
                            td.wide { code { (g.ldap_group_dn) } }
                            @if !v.read_only {
                                td {
                                    form.inline method="post" action=(HERE) {
                                        (csrf_field(&v))
                                        input type="hidden" name="id" value=(g.id);
                                        label.sr-only for={ "name-" (g.id) } { "New name of " (g.group_name) }
                                        input id={ "name-" (g.id) } type="text" name="name" required value=(g.group_name);
                                        button.secondary type="submit" name="action" value="rename" { "Rename" }
                                    }
                                    (row_button(&v, HERE, g.id, "delete", "Delete",
                                        Some(&format!("Delete the group {}? Its project memberships go with it.", g.group_name))))
                                }
                            }
                        }
                    }
                }
            } }
        }
        (form_set(&v, HERE, if oidc { "New OIDC group" } else { "New LDAP group" }, html! {
            label for="name" { "Name" }
            input #name type="text" name="name" required value=(v.typed("name", ""));
            @if !oidc {
                label for="ldap_group_dn" { "LDAP group DN" }
                input #ldap_group_dn type="text" name="ldap_group_dn" required value=(v.typed("ldap_group_dn", ""));
            }
            p { button type="submit" name="action" value="add" { "Add group" } }
        }))
    };
    page(&v, "Groups", body)
}

async fn save(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let iam = &state.iam;
    let id = form.get("id").parse::<i64>().unwrap_or(0);
    let name = form.get("name").trim();
    let result = match form.get("action") {
        "add" => {
            let oidc = state.configurations.snapshot().auth_mode == "oidc_auth";
            let kind = if oidc { OIDC } else { LDAP };
            (iam.create_group(&v.ctx, name, kind, form.get("ldap_group_dn").trim())
                .await)
                .map(|_| format!("The group {name} was added."))
        }
        "rename" => (iam.rename_group(&v.ctx, id, name).await)
            .map(|()| format!("The group is now named {name}.")),
        "delete" => (iam.delete_group(&v.ctx, id).await).map(|()| "The group was deleted.".into()),
        _ => Err(CoreError::BadRequest("unknown action".into())),
    };
    outcome_keeping(HERE, result, &form)
}
