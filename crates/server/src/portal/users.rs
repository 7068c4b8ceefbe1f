//! People: the administrators' user list, and each person's own account
//! (profile and password).

use super::projects::{counted, minutes, pager, search_box};
use super::Col::{Plain, Wide};
use super::Listing;
use super::{
    csrf_field, form_set, head, message, outcome, outcome_keeping, page, redirect_with, refusal,
    Flash, Posted, Viewer,
};
use crate::State;
use axum::extract::{Path, State as S};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use berth_core::iam::{User, UserRequest};
use maud::{html, Markup};

/// Users per page.
const PAGE: i64 = 15;

pub fn router() -> Router<State> {
    Router::new()
        .route("/harbor/users", get(list).post(create))
        .route("/harbor/users/ldap", get(ldap_search).post(ldap_import))
        .route("/harbor/users/{id}", post(change))
        .route("/harbor/users/{id}/password", get(password_form))
        .route("/harbor/account", get(account).post(update_account))
}

pub async fn list(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    let (search, filter) = list.searched("username");
    let listed = state
        .iam
        .list_users(&v.ctx, &filter, list.offset(PAGE), PAGE)
        .await;
    let (users, total) = match listed {
        Ok(x) => x,
        Err(e) => return refusal(&v, &e),
    };
    let ldap = state.configurations.snapshot().auth_mode == "ldap_auth";
    let body = html! {
        h1 { "Users" }
        (search_box("/harbor/users", "username", "Search by username", &search, "Search"))
        @if users.is_empty() {
            p.empty { "No username contains “" (search) "”." }
        } @else {
            table.users {
                (counted(total, "user", "users"))
                (head(&[Plain("Username"), Plain("Administrator"), Wide("Email"), Wide("Registered"), Plain("Actions")]))
                tbody {
                    @for u in &users {
                        tr {
                            td { (u.username) }
                            td { @if u.sysadmin { "Yes" } @else { "No" } }
                            td.wide { (u.email.as_deref().unwrap_or("")) }
                            td.wide { (minutes(u.creation_time)) }
                            td { (user_actions(&v, u, ldap)) }
                        }
                    }
                }
            }
            (pager("/harbor/users", &[("username", &search)], list.page, PAGE, total))
        }
        @if ldap {
            (search_box("/harbor/users/ldap", "uid", "Find in LDAP by uid (empty: everyone)", "", "Find in LDAP"))
        } @else {
            (form_set(&v, "/harbor/users", "New user", html! {
                (person_fields(Some(&person(&v.kept))))
                p { button type="submit" { "Create user" } }
            }))
        }
    };
    page(&v, "Users", body)
}

/// Directory users whose uid is the one asked (everyone for none), each
/// to import.
pub async fn ldap_search(S(state): S<State>, v: Viewer, list: Listing) -> Response {
    let search = list.search("uid");
    let found = match state.iam.ldap_users(&v.ctx, &search).await {
        Ok(found) => found,
        Err(e) => return refusal(&v, &e),
    };
    let body = html! {
        p.crumbs { a href="/harbor/users" { "Users" } " /" }
        h1 { "LDAP users" }
        (search_box("/harbor/users/ldap", "uid", "Find in LDAP by uid (empty: everyone)", &search, "Find in LDAP"))
        @if found.is_empty() {
            p.empty { "No LDAP user has the uid “" (search) "”." }
        } @else {
            table.users {
                (head(&[Plain("Username"), Wide("Full name"), Wide("Email"), Plain("Actions")]))
                tbody {
                    @for u in &found {
                        tr {
                            td { (u.username) }
                            td.wide { (u.realname) }
                            td.wide { (u.email) }
                            td {
                                form.inline method="post" action="/harbor/users/ldap" {
                                    (csrf_field(&v))
                                    button type="submit" name="uid" value=(u.username)
                                        aria-label={ "Import " (u.username) } { "Import" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    page(&v, "LDAP users", body)
}

/// Imports a directory user (on-boards them before their first sign-in).
pub async fn ldap_import(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let uid = form.get("uid").to_string();
    let result = match state
        .iam
        .ldap_import(&v.ctx, std::slice::from_ref(&uid))
        .await
    {
        Ok(failed) => match failed.first() {
            None => Ok(format!("{uid} was imported.")),
            Some((_, why)) => Err(berth_core::CoreError::BadRequest(format!(
                "{uid} was not imported: {why}"
            ))),
        },
        Err(e) => Err(e),
    };
    outcome("/harbor/users", result)
}

/// Grant or revoke administrator, reset a password (not while the
/// directory keeps them: `ldap`), and delete: for anyone but the viewer,
/// who neither changes nor deletes themselves here.
fn user_actions(v: &Viewer, u: &User, ldap: bool) -> Markup {
    html! {
        @if v.ctx.user_id() != Some(u.user_id) && !v.read_only {
            form.inline method="post" action={ "/harbor/users/" (u.user_id) } {
                (csrf_field(v))
                @if u.sysadmin {
                    button.secondary type="submit" name="action" value="revoke"
                        aria-label={ "Revoke administrator from " (u.username) } { "Revoke admin" }
                } @else {
                    button.secondary type="submit" name="action" value="grant"
                        aria-label={ "Make " (u.username) " an administrator" } { "Make admin" }
                }
            }
            @if !ldap {
                a.button.secondary href={ "/harbor/users/" (u.user_id) "/password" }
                    aria-label={ "Reset the password of " (u.username) } { "Reset password" }
                " "
            }
            form.inline method="post" action={ "/harbor/users/" (u.user_id) }
                data-confirm={ "Delete user " (u.username) "? This cannot be undone." } {
                (csrf_field(v))
                button.danger type="submit" name="action" value="delete"
                    aria-label={ "Delete " (u.username) } { "Delete" }
            }
        }
    }
}

/// The fields a new account is made of (the user list and sign-up),
/// holding what was entered before, if anything (never the password).
pub fn person_fields(entered: Option<&UserRequest>) -> maud::Markup {
    let (username, email, realname) = entered.map_or(("", "", ""), |u| {
        (
            u.username.as_str(),
            u.email.as_deref().unwrap_or(""),
            u.realname.as_str(),
        )
    });
    html! {
        label for="new_username" { "Username" }
        input #new_username type="text" name="username" required maxlength="255" autocomplete="off" value=(username);
        label for="new_email" { "Email" }
        input #new_email type="email" name="email" required autocomplete="off" value=(email);
        label for="new_realname" { "Full name" }
        input #new_realname type="text" name="realname" value=(realname);
        label for="new_password" { "Password" }
        input #new_password type="password" name="password" required autocomplete="new-password"
            aria-describedby="new_password_help";
        p #new_password_help .muted { (PASSWORD_RULE) }
    }
}

/// The account a posted person form asks for.
pub fn person(form: &super::Form) -> UserRequest {
    UserRequest {
        username: form.get("username").trim().to_string(),
        email: Some(form.get("email").trim().to_string()).filter(|e| !e.is_empty()),
        realname: form.get("realname").trim().to_string(),
        comment: String::new(),
        password: form.get("password").to_string(),
    }
}

pub async fn create(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let req = person(&form);
    let result = state.iam.create_user(&v.ctx, &req).await;
    let done = result.map(|_| format!("User {} created.", req.username));
    outcome_keeping("/harbor/users", done, &form)
}

pub async fn change(S(state): S<State>, Path(id): Path<i64>, Posted(v, form): Posted) -> Response {
    let name = match state.iam.get_user(&v.ctx, id).await {
        Ok(u) => u.username,
        Err(e) => return redirect_with("/harbor/users", Flash::Err(message(&e))),
    };
    let iam = &state.iam;
    let result = match form.get("action") {
        "grant" => iam
            .set_sysadmin(&v.ctx, id, true)
            .await
            .map(|()| format!("{name} is now an administrator.")),
        "revoke" => iam
            .set_sysadmin(&v.ctx, id, false)
            .await
            .map(|()| format!("{name} is no longer an administrator.")),
        "delete" => iam
            .delete_user(&v.ctx, id)
            .await
            .map(|()| format!("User {name} deleted.")),
        "password" => {
            let new = form.get("new_password");
            return match iam.change_password(&v.ctx, id, None, new).await {
                Ok(()) => outcome(
                    "/harbor/users",
                    Ok(format!("The password of {name} was reset.")),
                ),
                Err(e) => outcome(&format!("/harbor/users/{id}/password"), Err(e)),
            };
        }
        other => {
            return redirect_with(
                "/harbor/users",
                Flash::Err(format!("Unknown action {other:?}.")),
            )
        }
    };
    outcome("/harbor/users", result)
}

/// An administrator sets another person's password (Harbor's "Reset
/// password"); the old one is not asked for.
pub async fn password_form(S(state): S<State>, Path(id): Path<i64>, v: Viewer) -> Response {
    let user = match state.iam.get_user(&v.ctx, id).await {
        Ok(u) => u,
        Err(e) => return refusal(&v, &e),
    };
    let to = format!("/harbor/users/{id}");
    let body = html! {
        p.crumbs { a href="/harbor/users" { "Users" } " /" }
        h1 { "Reset the password of " (user.username) }
        (form_set(&v, &to, "New password", html! {
            (new_password_field())
            p { button type="submit" name="action" value="password" { "Reset password" } }
        }))
    };
    page(&v, "Reset password", body)
}

/// A new password's field, with the rule it must follow.
fn new_password_field() -> Markup {
    html! {
        label for="new_password" { "New password" }
        input #new_password type="password" name="new_password" required autocomplete="new-password"
            aria-describedby="new_password_help";
        p #new_password_help .muted { (PASSWORD_RULE) }
    }
}

/// What a password must be, as the forms say it.
const PASSWORD_RULE: &str =
    "8 to 128 characters, with an upper-case letter, a lower-case letter and a digit.";

pub async fn account(S(state): S<State>, v: Viewer) -> Response {
    let me = match state.iam.current_user(&v.ctx).await {
        Ok(u) => u,
        Err(e) => return refusal(&v, &e),
    };
    let oidc = match state.iam.oidc_user_meta(&v.ctx, me.user_id).await {
        Ok(m) => m,
        Err(e) => return refusal(&v, &e),
    };
    let local = match state.iam.keeps_profile(me.user_id).await {
        Ok(l) => l,
        Err(e) => return refusal(&v, &e),
    };
    let body = html! {
        h1 { "My account" }
        @if !local {
            p.muted { "Your name, email and password are kept by the LDAP directory or OIDC provider you sign in with." }
        }
        @if local {
        (form_set(&v, "/harbor/account", &format!("Profile of {}", me.username), html! {
            label for="email" { "Email" }
            input #email type="text" inputmode="email" name="email" value=(me.email.as_deref().unwrap_or(""));
            label for="realname" { "Full name" }
            input #realname type="text" name="realname" value=(me.realname);
            label for="comment" { "Comment" }
            input #comment type="text" name="comment" value=(me.comment);
            p { button type="submit" name="action" value="profile" { "Save profile" } }
        }))
        }
        @if let Some(meta) = &oidc {
            (form_set(&v, "/harbor/account", "CLI secret", html! {
                p.hint { "The password of docker, skopeo and helm for " (me.username)
                    ": it works while the OIDC provider still vouches for you." }
                details { summary { "Show the CLI secret" } p { code #cli-secret { (meta.secret) } } }
                label for="cli_secret" { "New secret (empty: a random one)" }
                input #cli_secret type="password" name="cli_secret" autocomplete="new-password"
                    aria-describedby="cli_secret_help";
                p #cli_secret_help .muted { (PASSWORD_RULE) }
                p { button type="submit" name="action" value="cli_secret" { "Set CLI secret" } }
            }))
        } @else if local {
            (form_set(&v, "/harbor/account", "Change password", html! {
                label for="old_password" { "Current password" }
                input #old_password type="password" name="old_password" required autocomplete="current-password";
                (new_password_field())
                p { button type="submit" name="action" value="password" { "Change password" } }
            }))
        }
    };
    page(&v, "My account", body)
}

pub async fn update_account(S(state): S<State>, Posted(v, form): Posted) -> Response {
    let Some(id) = v.ctx.user_id() else {
        return redirect_with(
            "/harbor/projects",
            Flash::Err("Robots have no account page.".into()),
        );
    };
    let result = if form.get("action") == "cli_secret" {
        (state.iam)
            .set_cli_secret(&v.ctx, id, form.get("cli_secret"))
            .await
            .map(|()| "Your CLI secret was set.".to_string())
    } else if form.get("action") == "password" {
        state
            .iam
            .change_password(
                &v.ctx,
                id,
                Some(form.get("old_password")),
                form.get("new_password"),
            )
            .await
            .map(|()| "Your password was changed.".to_string())
    } else {
        let email = Some(form.get("email").trim()).filter(|e| !e.is_empty());
        state
            .iam
            .update_profile(
                &v.ctx,
                id,
                email,
                form.get("realname").trim(),
                form.get("comment").trim(),
            )
            .await
            .map(|()| "Your profile was saved.".to_string())
    };
    outcome("/harbor/account", result)
}
