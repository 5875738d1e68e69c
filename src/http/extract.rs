//! Request extractors whose failures speak the API's error envelope: JSON bodies that name the
//! field at fault, and the caller behind a session cookie or an API token.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::Deserialize as _;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::accounts::{AccountService, Caller, Role, SESSION_COOKIE, TOKEN_PREFIX, User};

/// A JSON request body. Malformed JSON is a 400 with its line and column; a wrong type, a missing
/// or unknown field is a 422 naming the field by its dotted path.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = media_type(request.headers()).is_some_and(|media_type| {
            media_type == "application/json" || media_type.ends_with("+json")
        });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as JSON with `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| body_rejection(&rejection))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The request body's media type (`Content-Type` without its parameters), if it says one.
pub fn media_type(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
}

/// For an optional whole-number field: JSON Schema's `integer` includes `158.0`, which serde reads
/// only as a float, so a whole float is taken as the number it is (`#[serde(deserialize_with)]`).
pub fn optional_whole_number<'de, D>(deserializer: D) -> Result<Option<u32>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.fract() == 0.0 && *value >= 0.0 && *value <= f64::from(u32::MAX))
            .map(|value| {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "a whole number from 0 to u32::MAX, checked just above"
                )]
                let whole = value as u64;
                whole
            })
    });
    whole
        .and_then(|value| u32::try_from(value).ok())
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{number} is not a whole number from 0 to {}",
                u32::MAX
            ))
        })
}

/// Parses `bytes` as `T`, naming the field at fault on failure.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from a JSON array too (`[null, null]`); every body of this API is an
    // object, and a client sending anything else has misread the document.
    let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
    if first.is_some_and(|byte| *byte != b'{')
        && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok()
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
            "the body must be a JSON object",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| json_error(error, bytes))?;
    deserializer.end().map_err(|error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {error}"),
        )
    })?;
    Ok(value)
}

fn json_error(error: serde_path_to_error::Error<serde_json::Error>, bytes: &[u8]) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    // serde_json reports some wrong types (a number for an enum) as syntax errors; a body that
    // parses as JSON has a shape problem, not a syntax one.
    let well_formed = serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok();
    match inner.classify() {
        serde_json::error::Category::Data | serde_json::error::Category::Syntax if well_formed => {
            let message = if inner.is_data() {
                inner.to_string()
            } else {
                "this value has the wrong type".to_owned()
            };
            // The path includes an unknown field's own name; "." is the body itself.
            let field = if path == "." { String::new() } else { path };
            let mut api_error = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_field",
                if field.is_empty() {
                    format!("the body does not have the expected shape: {message}")
                } else {
                    format!("field `{field}`: {message}")
                },
            );
            if !field.is_empty() {
                api_error = api_error.with_field(field);
            }
            api_error
        }
        serde_json::error::Category::Data
        | serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("the body is not valid JSON: {inner}"),
        ),
    }
}

fn body_rejection(rejection: &BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is too large: {}", rejection.body_text()),
        )
    } else {
        ApiError::bad_request(format!("cannot read the body: {}", rejection.body_text()))
    }
}

impl<S> FromRequestParts<S> for Caller
where
    AccountService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    /// An API token in `Authorization: Bearer` must be valid (a script should learn at once that
    /// its token stopped working); a stale session cookie just means anonymous.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(cached) = parts.extensions.get::<Self>() {
            return Ok(cached.clone());
        }
        let caller = resolve_caller(parts, &AccountService::from_ref(state)).await?;
        parts.extensions.insert(caller.clone());
        Ok(caller)
    }
}

async fn resolve_caller(parts: &Parts, accounts: &AccountService) -> Result<Caller, ApiError> {
    if let Some(authorization) = parts.headers.get(header::AUTHORIZATION) {
        let token = authorization
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|token| token.starts_with(TOKEN_PREFIX))
            .ok_or_else(|| {
                ApiError::unauthenticated(format!(
                    "the Authorization header must be `Bearer {TOKEN_PREFIX}...` with an API token"
                ))
            })?;
        let user = accounts.user_for_token(token).await?;
        return Ok(Caller::User(user));
    }
    let Some(secret) = session_cookie(&parts.headers) else {
        return Ok(Caller::Anonymous);
    };
    Ok(accounts
        .user_for_session(secret)
        .await?
        .map_or(Caller::Anonymous, Caller::User))
}

/// The value of the session cookie, if the request carries one.
pub fn session_cookie(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// A signed-in user; anonymous requests are refused with 401 and how to sign in.
#[derive(Debug, Clone)]
pub struct SignedIn(pub User);

impl<S> FromRequestParts<S> for SignedIn
where
    AccountService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, state).await? {
            Caller::User(user) => Ok(Self(user)),
            Caller::Anonymous => Err(ApiError::sign_in_required()),
        }
    }
}

/// An administrator; others are refused with 403 (401 when anonymous).
#[derive(Debug, Clone)]
pub struct Admin(pub User);

impl<S> FromRequestParts<S> for Admin
where
    AccountService: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let SignedIn(user) = SignedIn::from_request_parts(parts, state).await?;
        if user.is_at_least(Role::Admin) {
            Ok(Self(user))
        } else {
            Err(ApiError::forbidden("only administrators may do this"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised to exercise the error paths")]
    struct Body {
        name: String,
        inner: Inner,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only deserialised to exercise the error paths")]
    struct Inner {
        count: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    struct Lifetime {
        #[serde(default, deserialize_with = "optional_whole_number")]
        days: Option<u32>,
    }

    #[test]
    fn errors_name_the_field() {
        let wrong_type =
            parse_json::<Body>(br#"{"name": "x", "inner": {"count": "3"}}"#).unwrap_err();
        assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong_type.field.as_deref(), Some("inner.count"));

        let unknown =
            parse_json::<Body>(br#"{"name": "x", "inner": {"count": 3, "extra": 1}}"#).unwrap_err();
        assert_eq!(unknown.field.as_deref(), Some("inner.extra"));

        let top_unknown = parse_json::<Body>(br#"{"nme": "x"}"#).unwrap_err();
        assert_eq!(top_unknown.field.as_deref(), Some("nme"));

        let missing = parse_json::<Body>(br#"{"inner": {"count": 3}}"#).unwrap_err();
        assert!(missing.message.contains("name"), "{}", missing.message);

        let malformed = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
        assert_eq!(malformed.code, "invalid_json");

        let trailing =
            parse_json::<Body>(br#"{"name": "x", "inner": {"count": 3}} []"#).unwrap_err();
        assert_eq!(trailing.code, "invalid_json");

        let whole = |body: &[u8]| parse_json::<Lifetime>(body).map(|lifetime| lifetime.days);
        assert_eq!(whole(br#"{"days": 158.0}"#).unwrap(), Some(158));
        assert_eq!(whole(br#"{"days": 7}"#).unwrap(), Some(7));
        assert_eq!(whole(br#"{"days": null}"#).unwrap(), None);
        assert_eq!(whole(b"{}").unwrap(), None);
        assert_eq!(
            whole(br#"{"days": 1.5}"#).unwrap_err().field.as_deref(),
            Some("days")
        );
        assert!(whole(br#"{"days": -1}"#).is_err());

        let array = parse_json::<Body>(br#"["x", {"count": 3}]"#).unwrap_err();
        assert_eq!(array.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(array.message.contains("JSON object"), "{}", array.message);
    }
}
