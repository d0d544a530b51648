//! The API's errors: a status and a precise message, as `{"error": "..."}`; and the extractors
//! that turn axum's rejections (bad JSON, bad query, too large) into them.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for people.
    pub message: String,
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody {
    /// What went wrong.
    error: String,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 422: the request parses but cannot be done.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    /// 409: the resource is not in a state that allows it.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }
}

impl ApiError {
    /// 500: a failure inside dqc. The answer names an error id and nothing of the error (it can
    /// quote a path, SQL, a host or data); the full chain is logged once with that id.
    pub fn internal(error: &dyn std::error::Error) -> Self {
        let id = logged(error, "a request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal error (error id {id}; the service's log has the details)"),
        )
    }
}

/// Logs `error`'s whole chain once under a new error id, and returns the id.
fn logged(error: &dyn std::error::Error, what: &str) -> String {
    let id = format!("{:016x}", getrandom::u64().unwrap_or_default());
    tracing::error!(error_id = %id, error = %crate::error::chain(error), "{what}");
    id
}

impl From<crate::store::StoreError> for ApiError {
    /// 503, as [`ApiError::internal`]: the store is down far more often than it is wrong.
    fn from(error: crate::store::StoreError) -> Self {
        let id = logged(&error, "store failed while answering a request");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("internal error: the store is unavailable (error id {id}; the service's log has the details)"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(ErrorBody { error: self.message })).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// A JSON body; its rejections become [`ApiError`]s (400 syntax, 422 data, 413 too large, 415
/// not JSON).
#[derive(Debug)]
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let message = match rejection {
        JsonRejection::JsonDataError(error) => format!("the body does not fit: {}", source_text(error)),
        JsonRejection::JsonSyntaxError(error) => format!("the body is not valid JSON: {}", source_text(error)),
        JsonRejection::MissingJsonContentType(_) => "the body must be JSON (Content-Type: application/json)".into(),
        JsonRejection::BytesRejection(error) => bytes_message(error),
        other => other.body_text(),
    };
    ApiError::new(rejection.status(), message)
}

fn source_text(error: &dyn std::error::Error) -> String {
    let mut source: &dyn std::error::Error = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}

fn bytes_message(rejection: &BytesRejection) -> String {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        "the body is larger than the limit (api.max_body)".into()
    } else {
        rejection.body_text()
    }
}

/// The raw body; a body over the limit is 413.
#[derive(Debug)]
pub(crate) struct RawBody(pub(crate) axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        axum::body::Bytes::from_request(request, state)
            .await
            .map(Self)
            .map_err(|rejection| ApiError::new(rejection.status(), bytes_message(&rejection)))
    }
}

/// Query parameters; a parameter that does not parse is 400 with serde's words.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    let message = match rejection {
        QueryRejection::FailedToDeserializeQueryString(error) => {
            format!("invalid query parameters: {}", source_text(error))
        }
        other => other.body_text(),
    };
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

/// Path parameters; one that does not parse (an id that is not a number) is 400.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(path_rejection(&rejection)),
        }
    }
}

fn path_rejection(rejection: &PathRejection) -> ApiError {
    let message = match rejection {
        PathRejection::FailedToDeserializePathParams(error) => format!("invalid path: {}", error.body_text()),
        other => other.body_text(),
    };
    ApiError::new(StatusCode::BAD_REQUEST, message)
}
