//! The web pages, at the root (the JSON API stays under `/api/v1`): server-rendered HTML
//! (askama templates in `api/templates`) that works without JavaScript.
//!
//! Signing in: `/login` takes a configured token and opens a session kept in the store; the
//! browser holds the session's random id in `dqc_session` (`HttpOnly; SameSite=Lax`, so a link
//! tapped in a chat app keeps it) and a companion `dqc_same_site` (`SameSite=Strict`, never sent
//! from another site). The token itself is never kept by the browser. A write (any POST) needs
//! both cookies and an `Origin` of dqc's own, which a form on another site cannot give. Without
//! a session, `api.anonymous_role` applies, as in the API; else a page answers with the sign-in
//! page's address. A notification's link to a report carries a signature that opens that one
//! report, read-only, until it expires ([`links`]).
//!
//! Every page is sent with a strict Content-Security-Policy (no inline script or style),
//! `nosniff`, `frame-ancestors 'none'` and `no-store`; every value from data is escaped by the
//! templates.

mod dead_letters;
mod diffs;
mod gating;
mod impact;
mod inventories;
pub mod links;
mod overview;
mod report;
pub use report::render_page;
mod reports;
mod rows;
mod tables;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::AccessRole;

/// How long a session lasts at most.
const SESSION_LIFETIME: chrono::Duration = chrono::Duration::days(7);
/// How long a session lasts unused.
const SESSION_IDLE: chrono::Duration = chrono::Duration::hours(12);
const SESSION_COOKIE: &str = "dqc_session";
const SAME_SITE_COOKIE: &str = "dqc_same_site";

/// The stylesheet and the one script, each served at an address with its content's digest in
/// the path, so that it can be cached for good.
const STYLESHEET: &str = include_str!("../../static/dqc.css");
const SCRIPT: &str = include_str!("../../static/dqc.js");

/// `/static/<digest>/<name>` of `content`.
fn static_path(name: &str, content: &str) -> String {
    let digest = Sha256::digest(content.as_bytes());
    let hex: String = digest.iter().take(4).map(|byte| format!("{byte:02x}")).collect();
    format!("/static/{hex}/{name}")
}

fn stylesheet_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| static_path("dqc.css", STYLESHEET))
}

fn script_path() -> &'static str {
    static PATH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PATH.get_or_init(|| static_path("dqc.js", SCRIPT))
}

/// `text` as one segment of a path: everything but ASCII letters, digits and `-._~` encoded, as
/// the templates' `urlencode_strict` does.
pub(crate) fn path_segment(text: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(text, SEGMENT).to_string()
}

/// `path` with `query` (`a=1&b=2`, possibly empty) appended.
pub(crate) fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() { path.to_owned() } else { format!("{path}?{query}") }
}

/// The pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/", get(overview::page))
        .route("/reports", get(reports::page))
        .route("/reports/{id}", get(report::page))
        .route("/reports/{id}/rows", get(rows::page))
        .route("/reports/{id}/rows.csv", get(rows::csv))
        .route("/reports/{id}/export.parquet", get(rows::export))
        .route("/tables", get(tables::list))
        .route("/tables/{name}", get(tables::page).post(tables::edit))
        .route("/tables/{name}/delete", post(tables::delete))
        .route("/gating", get(gating::overview))
        .route("/gating/workflows/{id}", get(gating::workflow))
        .route("/gating/workflows/{id}/transitions", post(gating::transition))
        .route("/dead-letters", get(dead_letters::page))
        .route("/dead-letters/{id}/delete", post(dead_letters::delete))
        .route("/diffs", get(diffs::list))
        .route("/diffs/new", get(diffs::form).post(diffs::start))
        .route("/diffs/{id}", get(diffs::progress))
        .route("/diffs/{id}/cancel", post(diffs::cancel))
        .route("/inventories", get(inventories::list))
        .route("/inventories/{id}", get(inventories::page))
        .route("/inventories/{id}/tables", get(inventories::table))
        .route("/inventories/{id}/cancel", post(inventories::cancel))
        .route("/static/{digest}/dqc.css", get(stylesheet))
        .route("/static/{digest}/dqc.js", get(script))
}

/// The headers of every page: a strict Content-Security-Policy and friends.
pub(super) async fn page_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if !api {
        let headers = response.headers_mut();
        for (name, value) in [
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
                 frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
            (header::X_FRAME_OPTIONS, "DENY"),
        ] {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if !headers.contains_key(header::CACHE_CONTROL) {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    response
}

/// A link to `/api/v1/reports/{id}` (as notifications sent before the pages existed give) opened
/// by a browser, without a token: the report's page.
pub(super) async fn browser_links(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let path = request.uri().path();
    let report =
        path.strip_prefix("/api/v1/reports/").filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    let html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    match report {
        Some(id)
            if request.method() == axum::http::Method::GET
                && html
                && !request.headers().contains_key(header::AUTHORIZATION) =>
        {
            Redirect::to(&format!("/reports/{id}")).into_response()
        }
        _ => next.run(request).await,
    }
}

async fn stylesheet() -> impl IntoResponse {
    immutable("text/css; charset=utf-8", STYLESHEET)
}

async fn script() -> impl IntoResponse {
    immutable("text/javascript; charset=utf-8", SCRIPT)
}

fn immutable(content_type: &'static str, content: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")], content)
}

/// Who is looking at a page.
#[derive(Debug, Clone)]
pub(crate) struct Visitor {
    /// The token's name, `anonymous`, or `link` for a signed link.
    pub(crate) name: String,
    /// What they may do.
    pub(crate) role: AccessRole,
    /// True when signed in (they may sign out).
    pub(crate) session: bool,
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The store's name of a session: the SHA-256 of its id, as tokens are hashed.
fn digest(id: &str) -> String {
    super::hash_token(id)
}

impl AppState {
    /// The visitor of a request: its session's token (if still configured), else the anonymous
    /// role, else nobody.
    pub(crate) async fn visitor(&self, headers: &HeaderMap) -> Result<Option<Visitor>, super::ApiError> {
        if let Some(id) = cookie(headers, SESSION_COOKIE) {
            let session = self.store().session(&digest(id), Utc::now(), SESSION_IDLE).await?;
            if let Some(token) =
                session.and_then(|session| self.inner.tokens.iter().find(|t| t.name == session.token_name))
            {
                return Ok(Some(Visitor { name: token.name.clone(), role: token.role, session: true }));
            }
        }
        Ok(self.config().api.anonymous_role.map(|role| Visitor { name: "anonymous".into(), role, session: false }))
    }

    /// The visitor when at least `role`; else the answer to give instead: the sign-in page
    /// (coming back to `here`), or why the role is too low.
    pub(crate) async fn visitor_at_least(
        &self,
        headers: &HeaderMap,
        role: AccessRole,
        here: &str,
    ) -> Result<Visitor, Response> {
        match self.visitor(headers).await {
            Ok(Some(visitor)) if visitor.role >= role => Ok(visitor),
            Ok(Some(visitor)) => Err(message(
                StatusCode::FORBIDDEN,
                "Not allowed",
                &format!("`{}` has the role {}; this needs {}.", visitor.name, visitor.role.as_str(), role.as_str()),
            )),
            Ok(None) => Err(login_redirect(here)),
            Err(error) => Err(error.into_response()),
        }
    }

    /// The visitor of a write (a form's POST) when at least `role` and the write came from dqc's
    /// own pages; else the answer to give instead.
    pub(crate) async fn writer(&self, headers: &HeaderMap, role: AccessRole, here: &str) -> Result<Visitor, Response> {
        let visitor = self.visitor_at_least(headers, role, here).await?;
        self.same_origin(headers, visitor.session)
            .map_err(|reason| message(StatusCode::FORBIDDEN, "Refused", &reason))?;
        Ok(visitor)
    }

    /// [`Self::visitor_at_least`] for a page read at `uri` (where the sign-in page comes back to).
    pub(crate) async fn reader_of(&self, headers: &HeaderMap, uri: &axum::http::Uri) -> Result<Visitor, Response> {
        self.visitor_at_least(headers, AccessRole::Viewer, uri.path_and_query().map_or("/", |p| p.as_str())).await
    }

    /// The origin pages are served from: `api.public_url`'s, else the request's `Host`.
    fn own_origin(&self, headers: &HeaderMap) -> Option<String> {
        match &self.config().api.public_url {
            Some(url) => url::Url::parse(url).ok().map(|url| url.origin().ascii_serialization()),
            None => headers.get(header::HOST).and_then(|host| host.to_str().ok()).map(|host| format!("http://{host}")),
        }
    }

    /// Whether a write came from dqc's own pages: the Strict companion cookie (never sent from
    /// another site), `Origin` equal to dqc's, and `Sec-Fetch-Site: same-origin` where the
    /// browser sends it. A request with neither `Origin` nor `Sec-Fetch-Site` is refused.
    fn same_origin(&self, headers: &HeaderMap, needs_session: bool) -> Result<(), String> {
        if needs_session && cookie(headers, SAME_SITE_COOKIE).is_none() {
            return Err("this form was not sent from a dqc page (the same-site cookie is missing)".into());
        }
        let fetch_site = headers.get("sec-fetch-site").and_then(|value| value.to_str().ok());
        if fetch_site.is_some_and(|site| site != "same-origin" && site != "none") {
            return Err("this form was sent from another site".into());
        }
        match headers.get(header::ORIGIN).and_then(|value| value.to_str().ok()) {
            Some(origin) if Some(origin) == self.own_origin(headers).as_deref() => Ok(()),
            Some(origin) => Err(format!("this form was sent from `{origin}`, not from dqc")),
            None if fetch_site == Some("same-origin") => Ok(()),
            None => Err("this form carries no Origin: it cannot be told to come from dqc".into()),
        }
    }
}

/// The sign-in page's address, coming back to `next`.
pub(crate) fn login_redirect(next: &str) -> Response {
    let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// A local path to go to after signing in: one that starts with `/` and not `//` (or `/\`).
fn local_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") => path,
        _ => "/",
    }
}

#[derive(Debug, Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    stylesheet: &'static str,
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, serde::Deserialize)]
struct Next {
    next: Option<String>,
}

async fn login_page(Query(next): Query<Next>) -> Response {
    render(
        StatusCode::OK,
        &LoginPage { stylesheet: stylesheet_path(), next: local_next(next.next.as_deref()), error: None },
    )
}

#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    token: String,
    next: Option<String>,
}

async fn login(State(state): State<AppState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let next = local_next(form.next.as_deref()).to_owned();
    let refused = |status, message: &str| {
        render(status, &LoginPage { stylesheet: stylesheet_path(), next: &next, error: Some(message) })
    };
    if let Err(message) = state.same_origin(&headers, false) {
        return refused(StatusCode::FORBIDDEN, &message);
    }
    let Some(token) = super::auth::find(&state.inner.tokens, form.token.trim()) else {
        return refused(StatusCode::UNAUTHORIZED, "this token is not valid");
    };
    let mut id = [0_u8; 32];
    if getrandom::fill(&mut id).is_err() {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "no randomness for a session id; try again");
    }
    let id: String = id.iter().map(|byte| format!("{byte:02x}")).collect();
    let now = Utc::now();
    if let Err(error) = state.store().open_session(&digest(&id), &token.name, now, now + SESSION_LIFETIME).await {
        return super::ApiError::from(error).into_response();
    }
    let secure = state.config().public_url().starts_with("https://");
    let max_age = SESSION_LIFETIME.num_seconds();
    let attributes = |name: &str, value: &str, same_site: &str| {
        let name = if secure { format!("__Host-{name}") } else { name.to_owned() };
        let secure = if secure { "; Secure" } else { "" };
        format!("{name}={value}; HttpOnly; SameSite={same_site}; Path=/; Max-Age={max_age}{secure}")
    };
    let mut response = Redirect::to(&next).into_response();
    for cookie in [attributes(SESSION_COOKIE, &id, "Lax"), attributes(SAME_SITE_COOKIE, "1", "Strict")] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    tracing::info!(token = %token.name, "signed in");
    response
}

async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(message) = state.same_origin(&headers, true) {
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Err(error) = state.store().close_session(&digest(id)).await
    {
        return super::ApiError::from(error).into_response();
    }
    let mut response = Redirect::to("/login").into_response();
    for name in [SESSION_COOKIE, SAME_SITE_COOKIE] {
        if let Ok(value) = HeaderValue::from_str(&format!("{name}=; HttpOnly; Path=/; Max-Age=0")) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// A page as HTML, or the error of rendering it.
fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => super::ApiError::internal(&error).into_response(),
    }
}

/// A page found (rendered with `status`), not found (a 404 that says `missing`), or the error.
fn page_or_missing(
    status: StatusCode,
    found: Result<Option<impl Template>, super::ApiError>,
    title: &str,
    missing: &str,
) -> Response {
    match found {
        Ok(Some(page)) => render(status, &page),
        Ok(None) => message(StatusCode::NOT_FOUND, title, missing),
        Err(error) => error.into_response(),
    }
}

/// A page that says what went wrong.
#[derive(Debug, Template)]
#[template(path = "message.html")]
pub(crate) struct MessagePage<'a> {
    stylesheet: &'static str,
    title: &'a str,
    message: &'a str,
}

/// An HTML answer with `message`.
pub(crate) fn message(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &MessagePage { stylesheet: stylesheet_path(), title, message })
}

/// The fallback outside `/api/`: an HTML 404.
pub(super) fn not_found() -> Response {
    message(StatusCode::NOT_FOUND, "Not found", "There is no page at this address.")
}
