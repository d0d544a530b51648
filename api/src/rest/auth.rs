//! Bearer tokens and roles.
//!
//! The configuration holds each token's SHA-256 digest, never the token. A request's token is
//! hashed and compared with every configured digest without an early exit. Handlers take a
//! [`Caller`] of the role they need: `Caller<Viewer>`, `Caller<Operator>`, `Caller<Admin>`.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::{ApiError, AppState};
use crate::config::{AccessRole, Config, ConfigError};

/// A configured token.
#[derive(Debug, Clone)]
pub(super) struct Token {
    digest: [u8; 32],
    pub(super) role: AccessRole,
    pub(super) name: String,
}

/// The configured tokens, decoded.
pub(super) fn tokens(config: &Config) -> Result<Vec<Token>, ConfigError> {
    config
        .api
        .tokens
        .iter()
        .map(|token| {
            let mut digest = [0_u8; 32];
            for (index, byte) in digest.iter_mut().enumerate() {
                let pair = token.sha256.get(index * 2..index * 2 + 2).unwrap_or("");
                *byte = u8::from_str_radix(pair, 16).map_err(|_| {
                    ConfigError::Invalid(format!("api.tokens `{}`: sha256 must be 64 hex digits", token.name))
                })?;
            }
            Ok(Token { digest, role: token.role, name: token.name.clone() })
        })
        .collect()
}

/// The SHA-256 digest of a token, as the configuration holds it (lowercase hex).
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

/// A new random token (128 bits from the operating system), `dqc_` and 32 hex digits.
pub fn new_token() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(format!("dqc_{}", bytes.iter().map(|byte| format!("{byte:02x}")).collect::<String>()))
}

/// A role a route needs.
pub(crate) trait Needs {
    /// The least role.
    const ROLE: AccessRole;
}

/// Routes that read.
#[derive(Debug)]
pub(crate) struct Viewer;
/// Routes that start work or change the registry.
#[derive(Debug)]
pub(crate) struct Operator;
/// Routes that delete.
#[derive(Debug)]
pub(crate) struct Admin;

impl Needs for Viewer {
    const ROLE: AccessRole = AccessRole::Viewer;
}
impl Needs for Operator {
    const ROLE: AccessRole = AccessRole::Operator;
}
impl Needs for Admin {
    const ROLE: AccessRole = AccessRole::Admin;
}

/// An authenticated caller allowed at least `R`'s role.
#[derive(Debug)]
pub(crate) struct Caller<R> {
    /// The token's name (`anonymous` without one).
    pub(crate) name: String,
    /// The token's role (at least `R`'s).
    pub(crate) granted: AccessRole,
    role: PhantomData<R>,
}

impl<R: Needs> FromRequestParts<AppState> for Caller<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(axum::http::header::AUTHORIZATION);
        let (name, role) = match header {
            None => match state.config().api.anonymous_role {
                Some(role) => ("anonymous".to_owned(), role),
                None => return Err(unauthorized("this route needs `Authorization: Bearer <token>`")),
            },
            Some(value) => {
                let token = value
                    .to_str()
                    .ok()
                    .and_then(|text| text.strip_prefix("Bearer "))
                    .map(str::trim)
                    .filter(|token| !token.is_empty())
                    .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
                let token = find(&state.inner.tokens, token).ok_or_else(|| unauthorized("the token is not valid"))?;
                (token.name.clone(), token.role)
            }
        };
        if role < R::ROLE {
            return Err(ApiError::forbidden(format!(
                "`{name}` has the role {}; this route needs {}",
                role.as_str(),
                R::ROLE.as_str()
            )));
        }
        Ok(Self { name, granted: role, role: PhantomData })
    }
}

pub(super) fn find<'a>(tokens: &'a [Token], token: &str) -> Option<&'a Token> {
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut found = None;
    for candidate in tokens {
        let difference = candidate.digest.iter().zip(digest).fold(0_u8, |acc, (a, b)| acc | (a ^ b));
        if difference == 0 && found.is_none() {
            found = Some(candidate);
        }
    }
    found
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, message)
}

/// Adds the bearer scheme to the OpenAPI document.
#[derive(Debug)]
pub(super) struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
