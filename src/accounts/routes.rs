//! HTTP endpoints of accounts: sign-in and sign-out, the caller's own account and API tokens, and
//! user management for administrators.

use axum::Json;
use axum::extract::{FromRef, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{AccountService, ApiToken, NewUser, SESSION_COOKIE, User, UserUpdate};
use crate::http::error::ErrorEnvelope;
use crate::http::extract::session_cookie;
use crate::http::{Admin, ApiError, ApiJson, SignedIn};

pub fn routes<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AccountService: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(sign_in, sign_out))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignInRequest {
    pub name: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SignedInResponse {
    pub user: User,
    pub expires_at: DateTime<Utc>,
}

/// Signs in with a password and sets the session cookie.
#[utoipa::path(post, path = "/api/session", tag = "accounts", request_body = SignInRequest,
    responses((status = 200, body = SignedInResponse), (status = 401, body = ErrorEnvelope)))]
async fn sign_in(
    State(accounts): State<AccountService>,
    ApiJson(request): ApiJson<SignInRequest>,
) -> Result<Response, ApiError> {
    let session = accounts.sign_in(&request.name, request.password).await?;
    let config = accounts.config();
    let max_age = i64::from(config.session_lifetime_hours) * 3600;
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        session.secret,
        if config.secure_cookies {
            "; Secure"
        } else {
            ""
        }
    );
    let mut headers = HeaderMap::new();
    headers.insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("the cookie is printable ASCII"),
    );
    Ok((
        headers,
        Json(SignedInResponse {
            user: session.user,
            expires_at: session.expires_at,
        }),
    )
        .into_response())
}

/// Ends the browser session of the request's cookie.
#[utoipa::path(delete, path = "/api/session", tag = "accounts",
    responses((status = 204, description = "Signed out; the cookie is cleared")))]
async fn sign_out(
    State(accounts): State<AccountService>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = session_cookie(&request_headers) {
        accounts.sign_out(secret).await?;
    }
    let cleared = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cleared)]).into_response())
}

/// The signed-in caller's account.
#[utoipa::path(get, path = "/api/me", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorEnvelope)))]
async fn me(SignedIn(user): SignedIn) -> Json<User> {
    Json(user)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// Changes the caller's password; their sessions end.
#[utoipa::path(put, path = "/api/me/password", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])), request_body = PasswordChange,
    responses((status = 204), (status = 401, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn change_password(
    State(accounts): State<AccountService>,
    SignedIn(user): SignedIn,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    accounts
        .change_password(&user, change.current_password, change.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's API tokens (without their secrets).
#[utoipa::path(get, path = "/api/tokens", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<ApiToken>), (status = 401, body = ErrorEnvelope)))]
async fn list_tokens(
    State(accounts): State<AccountService>,
    SignedIn(user): SignedIn,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    Ok(Json(accounts.tokens(&user).await?))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub name: String,
    /// Days until the token expires, 1 to 3650; never when absent.
    #[serde(
        default,
        deserialize_with = "crate::http::extract::optional_whole_number"
    )]
    #[schema(minimum = 1, maximum = 3650)]
    pub lifetime_days: Option<u32>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    pub token: ApiToken,
    /// Shown once; send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

/// Creates an API token for the caller.
#[utoipa::path(post, path = "/api/tokens", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])), request_body = TokenRequest,
    responses((status = 201, body = CreatedToken), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
async fn create_token(
    State(accounts): State<AccountService>,
    SignedIn(user): SignedIn,
    ApiJson(request): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let (token, secret) = accounts
        .create_token(&user, request.name, request.lifetime_days)
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ErrorEnvelope)))]
async fn revoke_token(
    State(accounts): State<AccountService>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    accounts.revoke_token(&user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every account (administrators only).
#[utoipa::path(get, path = "/api/users", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])),
    responses((status = 200, body = Vec<User>), (status = 403, body = ErrorEnvelope)))]
async fn list_users(
    State(accounts): State<AccountService>,
    _admin: Admin,
) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(accounts.users().await?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreatedUser {
    pub user: User,
    /// The generated one-time password, when none was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Creates an account (administrators only).
#[utoipa::path(post, path = "/api/users", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])), request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)))]
async fn create_user(
    State(accounts): State<AccountService>,
    _admin: Admin,
    ApiJson(new_user): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<CreatedUser>), ApiError> {
    let (user, password) = accounts.create_user(new_user).await?;
    Ok((StatusCode::CREATED, Json(CreatedUser { user, password })))
}

/// One account (administrators only).
#[utoipa::path(get, path = "/api/users/{name}", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])),
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = User), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn get_user(
    State(accounts): State<AccountService>,
    _admin: Admin,
    Path(name): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(accounts.user_named(&name).await?))
}

/// Changes an account's role, e-mail, affiliation or disabled flag (administrators only).
#[utoipa::path(patch, path = "/api/users/{name}", tag = "accounts", security(("api_token" = []), ("session_cookie" = [])), request_body = UserUpdate,
    params(("name" = String, Path, description = "User name")),
    responses((status = 200, body = User), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
async fn update_user(
    State(accounts): State<AccountService>,
    Admin(admin): Admin,
    Path(name): Path<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(accounts.update_user(&admin, &name, update).await?))
}
