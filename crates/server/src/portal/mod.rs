//! The web portal: server-rendered pages under `/harbor/…` (Harbor's own
//! UI paths) over the same core services and RBAC as the API. It signs in
//! with the same sessions as `/c/login`; every form carries the session's
//! CSRF token, and a post without it is refused.

mod admin;
mod groups;
mod hub;
mod immutable;
mod labels;
mod logs;
mod markdown;
mod project;
mod projects;
mod quotas;
mod registries;
mod replications;
mod repository;
mod retention;
mod robots;
mod security;
mod sign_in;
mod users;
mod webhooks;

use crate::State;
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use berth_core::iam::context::SecurityContext;
use berth_core::iam::rbac;
use berth_core::query::Filter;
use berth_core::CoreError;
use maud::{html, Markup, DOCTYPE};

pub fn router() -> Router<State> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/harbor/projects") }))
        .route(
            "/harbor",
            get(|| async { Redirect::to("/harbor/projects") }),
        )
        .route("/harbor/static/portal.css", get(css))
        .route("/harbor/static/portal.js", get(js))
        .route("/harbor/static/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/harbor/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/harbor/sign-out", post(sign_in::sign_out))
        .route(
            "/harbor/oidc-onboard",
            get(sign_in::onboard_form).post(sign_in::onboard),
        )
        .route(
            "/harbor/sign-up",
            get(sign_in::sign_up_form).post(sign_in::sign_up),
        )
        .route(
            "/harbor/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/harbor/projects/{id}",
            get(project::root).post(project::delete),
        )
        .route("/harbor/projects/{id}/summary", get(project::summary))
        .route(
            "/harbor/projects/{id}/repositories",
            get(project::repositories),
        )
        .route(
            "/harbor/projects/{id}/members",
            get(project::members).post(project::add_member),
        )
        .route(
            "/harbor/projects/{id}/members/{mid}",
            post(project::change_member),
        )
        .route("/harbor/projects/{id}/logs", get(project::logs))
        .route(
            "/harbor/projects/{id}/webhooks",
            get(webhooks::tab).post(webhooks::create),
        )
        .route(
            "/harbor/projects/{id}/webhooks/{policy}",
            get(webhooks::edit).post(webhooks::change),
        )
        .route(
            "/harbor/projects/{id}/webhooks/{policy}/deliveries/{execution}",
            get(webhooks::delivery),
        )
        .route(
            "/harbor/projects/{id}/configs",
            get(project::configuration).post(project::configure),
        )
        .merge(harbor_links())
        .merge(repository::router())
        .merge(admin::router())
        .merge(security::router())
        .merge(registries::router())
        .merge(replications::router())
        .merge(hub::router())
        .merge(users::router())
        .merge(groups::router())
        .merge(labels::router())
        .merge(quotas::router())
        .merge(retention::router())
        .merge(immutable::router())
        .merge(robots::router())
}

/// Harbor's own portal addresses (bookmarks, links from CI tools), sent to
/// Berth's page for the same thing.
fn harbor_links() -> Router<State> {
    let to = |target: &'static str| get(move || async move { Redirect::permanent(target) });
    Router::new()
        .route("/harbor/clearing-job/gc", to("/harbor/gc"))
        .route("/account/sign-in", to("/harbor/sign-in"))
        .route(
            "/oidc-onboard",
            get(|RawQuery(q): RawQuery| async move {
                let q = q.map(|q| format!("?{q}")).unwrap_or_default();
                Redirect::to(&format!("/harbor/oidc-onboard{q}"))
            }),
        )
        .route("/harbor/audit-log", to("/harbor/logs"))
        .route("/harbor/logs/audit-log", to("/harbor/logs"))
        .route(
            "/harbor/projects/{id}/webhook",
            get(|Path(id): Path<String>| async move {
                Redirect::permanent(&format!("/harbor/projects/{id}/webhooks"))
            }),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab",
            get(|Path((id, repo)): Path<(String, String)>| async move {
                Redirect::permanent(&format!(
                    "/harbor/projects/{id}/repositories/{}",
                    encode(&repo)
                ))
            }),
        )
        .route(
            "/harbor/projects/{id}/repositories/{repo}/artifacts-tab/artifacts/{digest}",
            get(
                |Path((id, repo, digest)): Path<(String, String, String)>| async move {
                    let repo = encode(&repo);
                    Redirect::permanent(&format!(
                        "/harbor/projects/{id}/repositories/{repo}/artifacts/{digest}"
                    ))
                },
            ),
        )
}

/// A repository name (inside its project) as one path segment again.
fn encode(repo: &str) -> String {
    percent_encoding::utf8_percent_encode(repo, project::SEGMENT).to_string()
}

async fn css() -> Response {
    asset("text/css", include_str!("../../assets/portal.css"))
}

async fn favicon() -> Response {
    asset("image/svg+xml", include_str!("../../assets/favicon.svg"))
}

async fn js() -> Response {
    asset("text/javascript", include_str!("../../assets/portal.js"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// A signed-in person looking at the portal.
pub struct Viewer {
    pub ctx: SecurityContext,
    /// The session's CSRF token, which every form echoes.
    pub csrf: String,
    /// What the last action did, to show on this page once.
    flash: Option<Flash>,
    /// The system refuses every change (configuration `read_only`): pages
    /// say so and offer no write.
    pub read_only: bool,
    /// The administrators' banner message, shown on every page.
    banner: String,
    /// The page's path: the navigation marks its section.
    path: String,
    /// What was typed into a form the server refused, to type in again.
    pub kept: Form,
}

impl Viewer {
    /// What was typed into the field `name` of a refused form, else `default`.
    pub fn typed<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.kept.is_empty() {
            true => default,
            false => self.kept.get(name),
        }
    }

    /// Whether the checkbox `name` with `value` was ticked on a refused
    /// form, else `default`.
    pub fn ticked(&self, name: &str, value: &str, default: bool) -> bool {
        match self.kept.is_empty() {
            true => default,
            false => self.kept.all(name).any(|v| v == value),
        }
    }
}

/// A handler's viewer: without a session the request is sent to sign in.
impl FromRequestParts<State> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &State) -> Result<Self, Response> {
        let signed_in = viewer(state, &parts.headers).await.map(|mut v| {
            v.path = parts.uri.path().to_string();
            v
        });
        match signed_in {
            // Signing in leads back to the page that was asked for.
            Err(_) if parts.method == axum::http::Method::GET => {
                let asked = parts
                    .uri
                    .path_and_query()
                    .map_or("/harbor/projects", |p| p.as_str());
                let next: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", asked)
                    .finish();
                Err(Redirect::to(&format!("/harbor/sign-in?{next}")).into_response())
            }
            other => other,
        }
    }
}

/// A posted form whose CSRF token matches its viewer's session.
pub struct Posted(pub Viewer, pub Form);

/// Portal forms are a few fields; anything larger is not one of them.
const MAX_FORM: usize = 64 * 1024;

impl FromRequest<State> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, state: &State) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let (v, form) = read_posted(&parts, body, state).await?;
        Ok(Posted(v, form))
    }
}

/// The viewer and their form, once its CSRF token checks out.
pub(super) async fn read_posted(
    parts: &Parts,
    body: axum::body::Body,
    state: &State,
) -> Result<(Viewer, Form), Response> {
    let mut v = viewer(state, &parts.headers).await?;
    v.path = parts.uri.path().to_string();
    let body = axum::body::to_bytes(body, MAX_FORM)
        .await
        .map_err(|_| StatusCode::PAYLOAD_TOO_LARGE.into_response())?;
    let form = Form::parse(&body);
    if !berth_core::iam::constant_time_eq(form.get("_csrf").as_bytes(), v.csrf.as_bytes()) {
        return Err(refused(Some(&v)));
    }
    Ok((v, form))
}

/// The viewer, or a redirect to the sign-in page.
async fn viewer(state: &State, headers: &HeaderMap) -> Result<Viewer, Response> {
    let found = match crate::session::session_id(headers) {
        Some(sid) => state.iam.session(sid).await.ok().flatten(),
        None => None,
    };
    match found {
        Some((ctx, csrf)) => {
            let system = state.configurations.snapshot();
            Ok(Viewer {
                ctx,
                csrf,
                flash: take_flash(headers),
                read_only: system.read_only,
                banner: system.banner_message,
                path: String::new(),
                kept: kept_fields(headers),
            })
        }
        None => Err(Redirect::to("/harbor/sign-in").into_response()),
    }
}

/// `s` escaped for a URL's query.
pub(crate) fn query_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to go after signing in: a portal page of this Berth only (never
/// another site, never the sign-in pages themselves).
pub fn safe_next(next: &str) -> Option<&str> {
    let local = next.starts_with("/harbor/") && !next.contains("\\") && !next.contains("//");
    let loops = next.starts_with("/harbor/sign-");
    (local && !loops).then_some(next)
}

/// A posted form's fields.
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(form_urlencoded::parse(body).into_owned().collect())
    }

    /// A field's value ("" when absent).
    pub fn get(&self, key: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, v)| v.as_str())
    }

    /// Every value of a repeated field.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the form has no field at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a checkbox was ticked.
    pub fn checked(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }
}

/// What a form without its CSRF token gets.
fn refused(v: Option<&Viewer>) -> Response {
    let body = layout(
        v,
        "Request refused",
        None,
        html! {
            p { "This form did not come from a page of this Berth session, so nothing was changed. "
                "Reload the page and try again." }
        },
    );
    respond(StatusCode::FORBIDDEN, body)
}

/// A page that only says what went wrong.
fn failed(v: Option<&Viewer>, status: StatusCode, text: &str) -> Response {
    let body = html! {
        p { a href="/harbor/projects" { "Back to the projects" } }
    };
    respond(
        status,
        layout(
            v,
            "Not available",
            Some(&Flash::Err(text.to_string())),
            body,
        ),
    )
}

/// The page for a failed read: sign in again, not found, or not allowed.
fn refusal(v: &Viewer, e: &CoreError) -> Response {
    let status = match e {
        CoreError::Unauthorized => return Redirect::to("/harbor/sign-in").into_response(),
        CoreError::NotFound(_) => StatusCode::NOT_FOUND,
        CoreError::Forbidden(_) => StatusCode::FORBIDDEN,
        CoreError::BadRequest(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    failed(Some(v), status, &message(e))
}

/// A message shown once on the next page.
pub enum Flash {
    Ok(String),
    Err(String),
}

const FLASH: &str = "berth_flash";

/// Redirects to `to`, showing what an action did or why it failed.
fn outcome(to: &str, result: Result<String, CoreError>) -> Response {
    match result {
        Ok(done) => redirect_with(to, Flash::Ok(done)),
        Err(e) => redirect_with(to, Flash::Err(message(&e))),
    }
}

/// Like `outcome`, and a refused form's fields are typed in again on the
/// page it goes back to (never a password, a secret or the CSRF token).
fn outcome_keeping(to: &str, result: Result<String, CoreError>, form: &Form) -> Response {
    match result {
        Ok(_) => outcome(to, result),
        Err(e) => flash_redirect(to, &Flash::Err(message(&e)), &typed_in(form)),
    }
}

/// Like `outcome`, and the form's fields are typed in again whatever the
/// outcome: a form that was tried (a connection test), not saved.
fn outcome_tried(to: &str, result: Result<String, CoreError>, form: &Form) -> Response {
    let flash = match result {
        Ok(done) => Flash::Ok(done),
        Err(e) => Flash::Err(message(&e)),
    };
    flash_redirect(to, &flash, &typed_in(form))
}

/// A form's fields to type in again (never a password, a secret or the
/// CSRF token; at most what fits a cookie).
fn typed_in(form: &Form) -> Vec<(&str, &str)> {
    const SECRET: &[&str] = &["password", "secret", "auth_header", "_csrf"];
    const MOST: usize = 1500;
    let mut kept = Vec::new();
    let mut size = 0;
    for (k, v) in &form.0 {
        size += k.len() + v.len();
        if size > MOST {
            break;
        }
        if !SECRET.iter().any(|s| k.contains(s)) {
            kept.push((k.as_str(), v.as_str()));
        }
    }
    kept
}

/// Redirects to `to`, showing `flash` there.
fn redirect_with(to: &str, flash: Flash) -> Response {
    flash_redirect(to, &flash, &[])
}

/// Redirects to `to` with the flash cookie: the message first, then the
/// kept fields as `k:<name>` pairs.
fn flash_redirect(to: &str, flash: &Flash, kept: &[(&str, &str)]) -> Response {
    let (kind, text) = match flash {
        Flash::Ok(t) => ("ok", t),
        Flash::Err(t) => ("err", t),
    };
    let mut value = form_urlencoded::Serializer::new(String::new());
    value.append_pair(kind, text);
    for (k, v) in kept {
        value.append_pair(&format!("k:{k}"), v);
    }
    let value = value.finish();
    let mut resp = Redirect::to(to).into_response();
    if let Ok(c) = HeaderValue::from_str(&format!(
        "{FLASH}={value}; Path=/harbor; HttpOnly; SameSite=Strict"
    )) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}

/// The fields a refused form left in the flash cookie.
fn kept_fields(headers: &HeaderMap) -> Form {
    let raw = crate::session::cookie(headers, FLASH).unwrap_or("");
    let fields = form_urlencoded::parse(raw.as_bytes())
        .filter_map(|(k, v)| Some((k.strip_prefix("k:")?.to_string(), v.into_owned())))
        .collect();
    Form(fields)
}

/// The message the previous step left, if any.
fn take_flash(headers: &HeaderMap) -> Option<Flash> {
    let raw = crate::session::cookie(headers, FLASH)?;
    let (kind, text) = form_urlencoded::parse(raw.as_bytes()).next()?;
    match kind.as_ref() {
        "ok" => Some(Flash::Ok(text.into_owned())),
        "err" => Some(Flash::Err(text.into_owned())),
        _ => None,
    }
}

/// A full page for the viewer.
fn page(v: &Viewer, title: &str, body: Markup) -> Response {
    framed(Some(v), v.flash.as_ref(), title, body)
}

/// A full page; a flash shown on it is cleared.
fn framed(v: Option<&Viewer>, flash: Option<&Flash>, title: &str, body: Markup) -> Response {
    let clear = flash.is_some();
    let mut resp = respond(StatusCode::OK, layout(v, title, flash, body));
    if clear {
        resp.headers_mut().insert(
            header::SET_COOKIE,
            HeaderValue::from_static("berth_flash=; Path=/harbor; Max-Age=0"),
        );
    }
    resp
}

/// An HTML answer.
fn respond(status: StatusCode, body: Markup) -> Response {
    (status, axum::response::Html(body.into_string())).into_response()
}

fn layout(v: Option<&Viewer>, title: &str, flash: Option<&Flash>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Berth" }
                link rel="stylesheet" href="/harbor/static/portal.css";
                link rel="icon" href="/harbor/static/favicon.svg" type="image/svg+xml";
                // Not deferred: it sets the chosen theme before the page is drawn.
                script src="/harbor/static/portal.js" {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header.top {
                    a.brand href="/harbor/projects" { "Berth" }
                    @if let Some(v) = v {
                        nav aria-label="Main" {
                            (section_link(v, "/harbor/projects", "Projects"))
                            @if rbac::administers(&v.ctx) {
                                (section_link(v, "/harbor/users", "Users"))
                                (section_link(v, "/harbor/groups", "Groups"))
                                (section_link(v, "/harbor/labels", "Labels"))
                                (section_link(v, "/harbor/project-quotas", "Project Quotas"))
                                (section_link(v, "/harbor/robot-accounts", "Robot Accounts"))
                                (section_link(v, "/harbor/logs", "Logs"))
                                (section_link(v, "/harbor/gc", "Garbage Collection"))
                                (section_link(v, "/harbor/job-service-dashboard", "Job Queues"))
                                (section_link(v, "/harbor/registries", "Registries"))
                                (section_link(v, "/harbor/replications", "Replications"))
                                (section_link(v, "/harbor/interrogation-services", "Interrogation Services"))
                                (section_link(v, "/harbor/security-hub", "Security Hub"))
                                (section_link(v, "/harbor/configs", "Configuration"))
                            }
                        }
                        span { "Signed in as " a href="/harbor/account" { strong { (v.ctx.username()) } } }
                        form method="post" action="/harbor/sign-out" {
                            input type="hidden" name="_csrf" value=(v.csrf);
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                    // Shown by the script, which makes it work.
                    div.theme hidden {
                        label.sr-only for="theme" { "Colour theme" }
                        select #theme {
                            option value="auto" { "Auto theme" }
                            option value="light" { "Light theme" }
                            option value="dark" { "Dark theme" }
                        }
                    }
                }
                main #main tabindex="-1" {
                    @if let Some(v) = v { (system_notices(v)) }
                    @match flash {
                        Some(Flash::Ok(t)) => div.notice.ok role="status" { (t) },
                        Some(Flash::Err(t)) => div.notice.err role="alert" { (t) },
                        None => {},
                    }
                    (body)
                }
            }
        }
    }
}

/// A link of the main navigation, marked when the page is in its section.
fn section_link(v: &Viewer, href: &str, label: &str) -> Markup {
    let current = v.path.starts_with(href);
    html! { a href=(href) aria-current=[current.then_some("page")] { (label) } }
}

/// Read-only mode and the administrators' banner, above every page.
fn system_notices(v: &Viewer) -> Markup {
    html! {
        @if v.read_only {
            div.notice.warn.read-only role="status" {
                strong { "Read-only mode. " }
                "Pushes, deletions and changes are refused until an administrator turns it off"
                @if rbac::administers(&v.ctx) { " in " a href="/harbor/configs" { "Configuration" } }
                "."
            }
        }
        @if !v.banner.is_empty() { div.notice.banner role="note" { (v.banner) } }
    }
}

/// The hidden field every form of a signed-in page carries.
fn csrf_field(v: &Viewer) -> Markup {
    html! { input type="hidden" name="_csrf" value=(v.csrf); }
}

/// A table column's heading.
#[derive(Clone, Copy)]
pub enum Col {
    /// Shown on every screen.
    Plain(&'static str),
    /// Hidden on narrow screens (the `wide` class).
    Wide(&'static str),
}

/// A table's head row.
fn head(cols: &[Col]) -> Markup {
    html! {
        thead { tr {
            @for c in cols {
                @match c {
                    Col::Plain(t) => th scope="col" { (t) },
                    Col::Wide(t) => th.wide scope="col" { (t) },
                }
            }
        } }
    }
}

/// The actions column, when the viewer may take any.
fn actions(any: bool) -> &'static [Col] {
    if any {
        &[Col::Plain("Actions")]
    } else {
        &[]
    }
}

/// A form posting to `to` (with the viewer's CSRF token) around one
/// fieldset titled `legend`.
fn form_set(v: &Viewer, to: &str, legend: &str, fields: Markup) -> Markup {
    if v.read_only {
        return html! {};
    }
    html! {
        form method="post" action=(to) {
            (csrf_field(v))
            fieldset {
                legend { (legend) }
                (fields)
            }
        }
    }
}

/// The button that disables what is `enabled`, or enables it.
fn switch(v: &Viewer, to: &str, enabled: bool) -> Markup {
    if v.read_only {
        return html! {};
    }
    let (action, label) = match enabled {
        true => ("disable", "Disable"),
        false => ("enable", "Enable"),
    };
    html! {
        form.inline method="post" action=(to) {
            (csrf_field(v))
            button.secondary type="submit" name="action" value=(action) { (label) }
        }
    }
}

/// A one-button form for an action that cannot be undone: the browser asks
/// `confirm` first.
fn confirmed(v: &Viewer, to: &str, confirm: &str, action: &str, label: &str) -> Markup {
    if v.read_only {
        return html! {};
    }
    html! {
        form.inline method="post" action=(to) data-confirm=(confirm) {
            (csrf_field(v))
            button.danger type="submit" name="action" value=(action) { (label) }
        }
    }
}

/// A one-button form about row `id` of a list, posting `action` to `to`;
/// one that cannot be undone asks `confirm` first.
fn row_button(
    v: &Viewer,
    to: &str,
    id: i64,
    action: &str,
    label: &str,
    confirm: Option<&str>,
) -> Markup {
    html! {
        form.inline method="post" action=(to) data-confirm=[confirm] {
            (csrf_field(v))
            input type="hidden" name="id" value=(id);
            button type="submit" name="action" value=(action)
                class=(if confirm.is_some() { "danger" } else { "secondary" }) { (label) }
        }
    }
}

/// What a failed action tells the person who tried it.
fn message(e: &CoreError) -> String {
    match e {
        CoreError::Unauthorized => "Sign in again to do that.".into(),
        CoreError::Db(_) | CoreError::Internal(_) => {
            tracing::warn!(error = %e, "portal action failed");
            "Something went wrong on the server; the change was not made.".into()
        }
        other => {
            let mut s = other.to_string();
            if let Some(first) = s.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            s
        }
    }
}

/// A list page's query: its page number, and what it searches for.
pub struct Listing {
    /// From 1.
    pub page: i64,
    raw: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Listing {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().map(str::to_string);
        let page = param(&raw, "page").parse::<i64>().unwrap_or(1).max(1);
        Ok(Listing { page, raw })
    }
}

impl Listing {
    /// Where this page starts, at `per_page` rows a page.
    pub fn offset(&self, per_page: i64) -> i64 {
        (self.page - 1) * per_page
    }

    /// The search for `key`, cleaned of filter syntax.
    pub fn search(&self, key: &str) -> String {
        search_text(&param(&self.raw, key))
    }

    /// The search for `key` and the filter it makes, sorted by `key`.
    pub fn searched(&self, key: &'static str) -> (String, Filter) {
        let search = self.search(key);
        let sorted = Filter::new(None, Some(key.into()));
        let filter = match search.as_str() {
            "" => sorted,
            s => sorted.search(key, s.into()),
        };
        (search, filter)
    }
}

/// Gives an error under `/harbor` that is not a portal page (an unknown
/// path, a malformed id in the URL) the portal's own page, with the
/// navigation when the viewer is signed in.
pub async fn styled_errors(
    axum::extract::State(state): axum::extract::State<State>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    if !req.uri().path().starts_with("/harbor") {
        return next.run(req).await;
    }
    let headers = req.headers().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let html = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let text = match status {
        StatusCode::NOT_FOUND => "There is no page at this address.",
        StatusCode::METHOD_NOT_ALLOWED => "This page cannot be used that way.",
        StatusCode::PAYLOAD_TOO_LARGE => "That form is larger than any of the portal's.",
        s if s.is_client_error() => "This address is not valid: check the link.",
        _ => "Something went wrong on our side. Try again in a moment.",
    };
    let v = viewer(&state, &headers).await.ok();
    failed(v.as_ref(), status, text)
}

/// The read-only mode's answer to a portal write.
pub async fn read_only(state: &State, headers: &HeaderMap, message: &str) -> Response {
    let v = viewer(state, headers).await.ok();
    failed(v.as_ref(), StatusCode::FORBIDDEN, message)
}

/// A query parameter's value.
pub(crate) fn param(query: &Option<String>, key: &str) -> String {
    form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A search box's text, without the characters of the query language.
fn search_text(raw: &str) -> String {
    raw.chars()
        .filter(|c| !",=~[]{}()".contains(*c))
        .collect::<String>()
        .trim()
        .to_string()
}
