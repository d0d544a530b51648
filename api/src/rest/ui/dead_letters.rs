//! `/dead-letters` (operator): the events that could not be accepted, oldest first, each with its
//! source (topic, partition, offset), why it was refused and its payload; admins may delete one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{Visitor, message, render, stylesheet_path};
use crate::config::AccessRole;
use crate::rest::AppState;
use crate::store::StoredDeadLetter;

/// Dead letters per page.
const PAGE: i64 = 50;

#[derive(Debug, serde::Deserialize)]
pub(super) struct Paging {
    page: Option<i64>,
}

#[derive(Debug, Template)]
#[template(path = "dead_letters.html")]
struct DeadLettersPage {
    stylesheet: &'static str,
    visitor: Visitor,
    letters: Vec<StoredDeadLetter>,
    page: i64,
    previous: Option<String>,
    next: Option<String>,
    may_delete: bool,
}

pub(super) async fn page(State(state): State<AppState>, Query(paging): Query<Paging>, headers: HeaderMap) -> Response {
    let visitor = match state.visitor_at_least(&headers, AccessRole::Operator, "/dead-letters").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    let page = paging.page.unwrap_or(1).max(1);
    // One more than a page tells whether there is a next one.
    let mut letters = match state.store().dead_letters_page(PAGE + 1, (page - 1).saturating_mul(PAGE)).await {
        Ok(letters) => letters,
        Err(error) => return crate::rest::ApiError::from(error).into_response(),
    };
    let more = letters.len() > usize::try_from(PAGE).unwrap_or(usize::MAX);
    letters.truncate(usize::try_from(PAGE).unwrap_or(usize::MAX));
    let page_view = DeadLettersPage {
        stylesheet: stylesheet_path(),
        may_delete: visitor.role >= AccessRole::Admin && visitor.session,
        visitor,
        letters,
        page,
        previous: (page > 1).then(|| format!("/dead-letters?page={}", page - 1)),
        next: more.then(|| format!("/dead-letters?page={}", page + 1)),
    };
    render(StatusCode::OK, &page_view)
}

pub(super) async fn delete(State(state): State<AppState>, Path(id): Path<i64>, headers: HeaderMap) -> Response {
    let visitor = match state.writer(&headers, AccessRole::Admin, "/dead-letters").await {
        Ok(visitor) => visitor,
        Err(answer) => return answer,
    };
    match state.store().delete_dead_letter(id).await {
        Ok(true) => {
            tracing::info!(dead_letter = id, by = %visitor.name, "dead letter deleted");
            Redirect::to("/dead-letters").into_response()
        }
        Ok(false) => message(StatusCode::NOT_FOUND, "No such dead letter", &format!("There is no dead letter {id}.")),
        Err(error) => crate::rest::ApiError::from(error).into_response(),
    }
}
