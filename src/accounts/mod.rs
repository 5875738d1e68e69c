//! Users, roles and the ways they prove who they are: password sign-in with a session cookie for
//! browsers, API tokens for the CLI and scripts.
//!
//! The rest of labforge sees only a [`Caller`]; how it was established stays here and in the HTTP
//! extractor, so another sign-in method (OIDC) adds a way to reach a [`User`] without touching the
//! domains that check permissions.

pub mod routes;
mod secrets;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::http::openapi::FieldRule;
use crate::rules::{SAYS_SOMETHING, TextRule, text_rule};
use crate::storage::accounts::{ApiTokenRow, UserChanges, UserRow};
use crate::storage::{Database, StorageError, new_id};

pub use secrets::{SESSION_COOKIE, TOKEN_PREFIX};

/// What a signed-in user may do beyond browsing and launching, which everyone signed in may do.
/// Each role includes the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Browses and launches.
    Researcher,
    /// Creates datalabs and submits them.
    Author,
    /// Reviews submissions and sees every datalab.
    Moderator,
    /// Manages users and the launcher's catalogues.
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Researcher => "researcher",
            Self::Author => "author",
            Self::Moderator => "moderator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = AccountError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "researcher" => Ok(Self::Researcher),
            "author" => Ok(Self::Author),
            "moderator" => Ok(Self::Moderator),
            "admin" => Ok(Self::Admin),
            other => Err(AccountError::UnknownRole(other.to_owned())),
        }
    }
}

/// A labforge account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    pub role: Role,
    /// ISO 3166-1 alpha-2 country of the user's affiliation.
    pub affiliation_country: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn is_at_least(&self, role: Role) -> bool {
        self.role >= role
    }
}

impl TryFrom<UserRow> for User {
    type Error = StorageError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        let role = row.role.parse().map_err(|_| StorageError::Corrupt {
            what: "user role",
            detail: row.role.clone(),
        })?;
        Ok(Self {
            id: row.id,
            name: row.name,
            email: row.email,
            role,
            affiliation_country: row.affiliation_country,
            disabled: row.disabled,
            created_at: row.created_at,
        })
    }
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    Anonymous,
    User(User),
}

impl Caller {
    pub fn user(&self) -> Option<&User> {
        match self {
            Self::Anonymous => None,
            Self::User(user) => Some(user),
        }
    }

    /// True for a signed-in user whose role is `role` or above.
    pub fn is_at_least(&self, role: Role) -> bool {
        self.user().is_some_and(|user| user.is_at_least(role))
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// How long a browser session lasts.
    pub session_lifetime_hours: u32,
    /// Mark the session cookie `Secure` (browsers then send it only over HTTPS, and to loopback).
    pub secure_cookies: bool,
    /// Name of the administrator created at first start.
    pub first_admin_name: String,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            session_lifetime_hours: 12,
            secure_cookies: true,
            first_admin_name: "admin".to_owned(),
        }
    }
}

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARACTERS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("the user name or password is wrong")]
    InvalidCredentials,
    #[error("the API token is unknown, revoked or expired; create one with POST /api/tokens")]
    InvalidToken,
    #[error("user name {name:?} is not valid: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error(
        "the password must have {MIN_PASSWORD_CHARACTERS} to {MAX_PASSWORD_CHARACTERS} characters"
    )]
    WeakPassword,
    #[error(
        "a token lives 1 to {MAX_TOKEN_LIFETIME_DAYS} days; leave lifetime_days out for one that does not expire"
    )]
    InvalidTokenLifetime,
    #[error("unknown role {0:?}: expected researcher, author, moderator or admin")]
    UnknownRole(String),
    #[error("country {0:?} is not an ISO 3166-1 alpha-2 code like \"DE\"")]
    InvalidCountry(String),
    #[error("there is no user {0:?}")]
    UnknownUser(String),
    #[error("there is no API token {0:?}")]
    UnknownToken(String),
    #[error("an administrator cannot remove their own admin role or disable themselves")]
    SelfDemotion,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Longest password accepted: hashing is deliberately slow, so it is bounded.
pub const MAX_PASSWORD_CHARACTERS: usize = 1024;
/// Longest lifetime of an API token, in days.
pub const MAX_TOKEN_LIFETIME_DAYS: u32 = 3650;

/// 2 to 64 characters: lowercase letters, digits, `-`, `_` and `.`, starting with a letter.
pub static USER_NAME: TextRule = text_rule!("^[a-z][a-z0-9._-]*$", 2, 64);
/// A password being set; any characters, at least [`MIN_PASSWORD_CHARACTERS`].
pub static NEW_PASSWORD: TextRule =
    text_rule!("", MIN_PASSWORD_CHARACTERS, MAX_PASSWORD_CHARACTERS);
/// An ISO 3166-1 alpha-2 country code, in either case.
pub static COUNTRY: TextRule = text_rule!("^[A-Za-z]{2}$", 2, 2);
/// A country code, or empty to clear it.
pub static COUNTRY_OR_NONE: TextRule = text_rule!("^([A-Za-z]{2})?$", 0, 2);
/// A token's name: 1 to 100 characters, not only blanks.
pub static TOKEN_NAME: TextRule = text_rule!(SAYS_SOMETHING, 1, 100);

/// The rules of the accounts' request bodies, for the OpenAPI document.
pub static BODY_RULES: [FieldRule; 6] = [
    FieldRule::new("NewUser", "name", &USER_NAME),
    FieldRule::new("NewUser", "password", &NEW_PASSWORD),
    FieldRule::new("NewUser", "affiliation_country", &COUNTRY),
    FieldRule::new("UserUpdate", "affiliation_country", &COUNTRY_OR_NONE),
    FieldRule::new("PasswordChange", "new_password", &NEW_PASSWORD),
    FieldRule::new("TokenRequest", "name", &TOKEN_NAME),
];

/// A new account as an administrator describes it.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    pub role: Role,
    #[serde(default)]
    pub affiliation_country: Option<String>,
    /// When absent a one-time password is generated and returned once.
    #[serde(default)]
    pub password: Option<String>,
}

/// Changes to an account; absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub affiliation_country: Option<String>,
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// An API token as listed; the secret itself is shown only when created.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ApiTokenRow> for ApiToken {
    fn from(row: ApiTokenRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            expires_at: row.expires_at,
        }
    }
}

/// A session just opened: the cookie value and when it ends.
#[derive(Debug)]
pub struct Session {
    pub user: User,
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct AccountService {
    database: Database,
    config: AccountsConfig,
}

impl AccountService {
    pub fn new(database: Database, config: AccountsConfig) -> Self {
        Self { database, config }
    }

    pub fn config(&self) -> &AccountsConfig {
        &self.config
    }

    /// On a database without users, creates the first administrator and returns its name and
    /// one-time password, which the caller prints once. `None` when users exist.
    pub async fn ensure_first_admin(&self) -> Result<Option<(String, String)>, AccountError> {
        if self.database.count_users().await? > 0 {
            return Ok(None);
        }
        let (user, password) = self
            .create_user(NewUser {
                name: self.config.first_admin_name.clone(),
                email: None,
                role: Role::Admin,
                affiliation_country: None,
                password: None,
            })
            .await?;
        Ok(Some((
            user.name,
            password.expect("a generated password is returned"),
        )))
    }

    /// Creates an account; returns the generated password when none was given.
    pub async fn create_user(
        &self,
        new_user: NewUser,
    ) -> Result<(User, Option<String>), AccountError> {
        validate_name(&new_user.name)?;
        let country = new_user
            .affiliation_country
            .map(|country| normalise_country(&country))
            .transpose()?;
        let generated = new_user.password.is_none().then(secrets::generate_password);
        let password = new_user
            .password
            .or_else(|| generated.clone())
            .unwrap_or_default();
        check_password_strength(&password)?;
        let row = UserRow {
            id: new_id(),
            name: new_user.name,
            email: new_user.email,
            role: new_user.role.as_str().to_owned(),
            affiliation_country: country,
            password_hash: Some(secrets::hash_password(password).await),
            disabled: false,
            created_at: Utc::now(),
        };
        self.database.insert_user(&row).await?;
        Ok((User::try_from(row)?, generated))
    }

    pub async fn users(&self) -> Result<Vec<User>, AccountError> {
        Ok(self
            .database
            .list_users()
            .await?
            .into_iter()
            .map(User::try_from)
            .collect::<Result<_, _>>()?)
    }

    pub async fn user_named(&self, name: &str) -> Result<User, AccountError> {
        let row = self
            .database
            .user_by_name(name)
            .await?
            .ok_or_else(|| AccountError::UnknownUser(name.to_owned()))?;
        Ok(User::try_from(row)?)
    }

    /// Applies an administrator's changes to the account `name`.
    pub async fn update_user(
        &self,
        acting: &User,
        name: &str,
        update: UserUpdate,
    ) -> Result<User, AccountError> {
        let target = self.user_named(name).await?;
        let demotes_self = target.id == acting.id
            && (update.role.is_some_and(|role| role < Role::Admin)
                || update.disabled == Some(true));
        if demotes_self {
            return Err(AccountError::SelfDemotion);
        }
        let changes = UserChanges {
            email: update
                .email
                .map(|email| Some(email).filter(|email| !email.is_empty())),
            role: update.role.map(|role| role.as_str().to_owned()),
            affiliation_country: update
                .affiliation_country
                .map(|country| {
                    if country.is_empty() {
                        Ok(None)
                    } else {
                        normalise_country(&country).map(Some)
                    }
                })
                .transpose()?,
            disabled: update.disabled,
            password_hash: None,
        };
        let row = self
            .database
            .update_user(&target.id, &changes)
            .await?
            .ok_or_else(|| AccountError::UnknownUser(name.to_owned()))?;
        if changes.disabled == Some(true) {
            self.database.delete_sessions_of(&target.id).await?;
        }
        Ok(User::try_from(row)?)
    }

    /// Changes `user`'s password after checking the current one; ends their other sessions.
    pub async fn change_password(
        &self,
        user: &User,
        current: String,
        new: String,
    ) -> Result<(), AccountError> {
        check_password_strength(&new)?;
        self.verified_user(&user.name, current).await?;
        let changes = UserChanges {
            password_hash: Some(secrets::hash_password(new).await),
            ..UserChanges::default()
        };
        self.database.update_user(&user.id, &changes).await?;
        self.database.delete_sessions_of(&user.id).await?;
        Ok(())
    }

    /// Checks a password and opens a browser session.
    pub async fn sign_in(&self, name: &str, password: String) -> Result<Session, AccountError> {
        let user = self.verified_user(name, password).await?;
        let secret = secrets::generate_secret(SESSION_COOKIE);
        let now = Utc::now();
        let expires_at = now + Duration::hours(i64::from(self.config.session_lifetime_hours));
        self.database
            .insert_session(&secrets::digest(&secret), &user.id, now, expires_at)
            .await?;
        Ok(Session {
            user,
            secret,
            expires_at,
        })
    }

    pub async fn sign_out(&self, session_secret: &str) -> Result<(), AccountError> {
        self.database
            .delete_session(&secrets::digest(session_secret))
            .await?;
        Ok(())
    }

    /// Deletes the sessions past their expiry, which no longer sign anyone in; returns how many.
    /// Run hourly by `labforge serve`.
    pub async fn purge_expired_sessions(&self) -> Result<u64, AccountError> {
        Ok(self.database.delete_expired_sessions(Utc::now()).await?)
    }

    /// The user of a session cookie, if it is current.
    pub async fn user_for_session(&self, secret: &str) -> Result<Option<User>, AccountError> {
        let row = self
            .database
            .user_for_session(&secrets::digest(secret), Utc::now())
            .await?;
        Ok(row.map(User::try_from).transpose()?)
    }

    /// The user of an API token; an unknown, revoked or expired token is an error, not anonymity,
    /// so a script learns at once that its token no longer works.
    pub async fn user_for_token(&self, secret: &str) -> Result<User, AccountError> {
        let row = self
            .database
            .user_for_api_token(&secrets::digest(secret), Utc::now())
            .await?
            .ok_or(AccountError::InvalidToken)?;
        Ok(User::try_from(row)?)
    }

    /// Creates an API token for `user`; the secret is returned once and stored only hashed.
    pub async fn create_token(
        &self,
        user: &User,
        name: String,
        lifetime_days: Option<u32>,
    ) -> Result<(ApiToken, String), AccountError> {
        if !TOKEN_NAME.allows(&name) {
            return Err(AccountError::InvalidName {
                name,
                reason: "a token name has 1 to 100 characters, not only blanks",
            });
        }
        if lifetime_days.is_some_and(|days| !(1..=MAX_TOKEN_LIFETIME_DAYS).contains(&days)) {
            return Err(AccountError::InvalidTokenLifetime);
        }
        let secret = secrets::generate_secret(TOKEN_PREFIX);
        let now = Utc::now();
        let row = ApiTokenRow {
            id: new_id(),
            name,
            created_at: now,
            last_used_at: None,
            expires_at: lifetime_days.map(|days| now + Duration::days(i64::from(days))),
        };
        self.database
            .insert_api_token(&user.id, &row, &secrets::digest(&secret))
            .await?;
        Ok((ApiToken::from(row), secret))
    }

    pub async fn tokens(&self, user: &User) -> Result<Vec<ApiToken>, AccountError> {
        Ok(self
            .database
            .api_tokens_of(&user.id)
            .await?
            .into_iter()
            .map(ApiToken::from)
            .collect())
    }

    pub async fn revoke_token(&self, user: &User, id: &str) -> Result<(), AccountError> {
        if self.database.delete_api_token(&user.id, id).await? {
            Ok(())
        } else {
            Err(AccountError::UnknownToken(id.to_owned()))
        }
    }

    /// The enabled user `name`, proven by their password or one of their API tokens (what
    /// `docker login` sends as its password).
    pub async fn authenticate(&self, name: &str, secret: String) -> Result<User, AccountError> {
        if secret.starts_with(TOKEN_PREFIX) {
            let user = self.user_for_token(&secret).await?;
            return if user.name == name {
                Ok(user)
            } else {
                Err(AccountError::InvalidCredentials)
            };
        }
        self.verified_user(name, secret).await
    }

    /// The enabled user `name` if `password` is theirs. Unknown users cost the same hash check as
    /// known ones, so timing does not reveal which names exist.
    async fn verified_user(&self, name: &str, password: String) -> Result<User, AccountError> {
        let row = self.database.user_by_name(name).await?;
        let stored_hash = row.as_ref().and_then(|row| row.password_hash.clone());
        let matches = secrets::verify_password(password, stored_hash).await;
        match row {
            Some(row) if matches && !row.disabled => Ok(User::try_from(row)?),
            _ => Err(AccountError::InvalidCredentials),
        }
    }
}

fn validate_name(name: &str) -> Result<(), AccountError> {
    if USER_NAME.allows(name) {
        return Ok(());
    }
    let invalid = |reason| AccountError::InvalidName {
        name: name.to_owned(),
        reason,
    };
    if !(2..=64).contains(&name.len()) {
        return Err(invalid("use 2 to 64 characters"));
    }
    if !name.starts_with(|character: char| character.is_ascii_lowercase()) {
        return Err(invalid("start with a lowercase letter"));
    }
    if !name.chars().all(|character| {
        character.is_ascii_lowercase() || character.is_ascii_digit() || "-_.".contains(character)
    }) {
        return Err(invalid(
            "use lowercase letters, digits, '-', '_' and '.' only",
        ));
    }
    Ok(())
}

fn check_password_strength(password: &str) -> Result<(), AccountError> {
    if NEW_PASSWORD.allows(password) {
        Ok(())
    } else {
        Err(AccountError::WeakPassword)
    }
}

fn normalise_country(country: &str) -> Result<String, AccountError> {
    if COUNTRY.allows(country) {
        Ok(country.to_ascii_uppercase())
    } else {
        Err(AccountError::InvalidCountry(country.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_ones_before_them() {
        assert!(Role::Admin > Role::Moderator);
        assert!(Role::Moderator > Role::Author);
        assert!(Role::Author > Role::Researcher);
        assert!(!Caller::Anonymous.is_at_least(Role::Researcher));
    }

    #[test]
    fn names_are_checked_with_the_rule_broken() {
        assert!(validate_name("alice.smith-2").is_ok());
        for (name, expected) in [
            ("a", "2 to 64"),
            ("Alice", "lowercase letter"),
            ("1alice", "lowercase letter"),
            ("al ice", "'-', '_' and '.'"),
        ] {
            let error = validate_name(name).unwrap_err().to_string();
            assert!(error.contains(expected), "{name}: {error}");
        }
    }

    #[test]
    fn countries_are_normalised_or_refused() {
        assert_eq!(normalise_country("de").unwrap(), "DE");
        assert!(normalise_country("Germany").is_err());
    }

    async fn service() -> (tempfile::TempDir, AccountService) {
        let folder = tempfile::tempdir().unwrap();
        let database = Database::open(&crate::storage::DatabaseConfig::default(), folder.path())
            .await
            .unwrap();
        (
            folder,
            AccountService::new(database, AccountsConfig::default()),
        )
    }

    #[tokio::test]
    async fn the_first_admin_is_created_once_and_can_sign_in() {
        let (_folder, accounts) = service().await;
        let (name, password) = accounts.ensure_first_admin().await.unwrap().unwrap();
        assert!(accounts.ensure_first_admin().await.unwrap().is_none());
        let session = accounts.sign_in(&name, password.clone()).await.unwrap();
        assert_eq!(session.user.role, Role::Admin);
        let user = accounts.user_for_session(&session.secret).await.unwrap();
        assert_eq!(user.unwrap().name, name);
        accounts.sign_out(&session.secret).await.unwrap();
        assert!(
            accounts
                .user_for_session(&session.secret)
                .await
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            accounts.sign_in(&name, format!("{password}x")).await,
            Err(AccountError::InvalidCredentials)
        ));
    }

    #[tokio::test]
    async fn tokens_work_until_revoked_and_disabled_users_lose_access() {
        let (_folder, accounts) = service().await;
        let (alice, _) = accounts
            .create_user(NewUser {
                name: "alice".to_owned(),
                email: None,
                role: Role::Author,
                affiliation_country: Some("it".to_owned()),
                password: Some("correct horse battery".to_owned()),
            })
            .await
            .unwrap();
        assert_eq!(alice.affiliation_country.as_deref(), Some("IT"));
        let (token, secret) = accounts
            .create_token(&alice, "cli".to_owned(), None)
            .await
            .unwrap();
        assert!(secret.starts_with(TOKEN_PREFIX));
        assert_eq!(accounts.user_for_token(&secret).await.unwrap().id, alice.id);
        let listed = accounts.tokens(&alice).await.unwrap();
        assert!(listed[0].last_used_at.is_some(), "use is recorded");
        accounts.revoke_token(&alice, &token.id).await.unwrap();
        assert!(matches!(
            accounts.user_for_token(&secret).await,
            Err(AccountError::InvalidToken)
        ));

        let (_, secret) = accounts
            .create_token(&alice, "ci".to_owned(), Some(1))
            .await
            .unwrap();
        let (admin, _) = accounts
            .create_user(NewUser {
                name: "root".to_owned(),
                email: None,
                role: Role::Admin,
                affiliation_country: None,
                password: None,
            })
            .await
            .unwrap();
        accounts
            .update_user(
                &admin,
                "alice",
                UserUpdate {
                    disabled: Some(true),
                    ..UserUpdate::default()
                },
            )
            .await
            .unwrap();
        assert!(accounts.user_for_token(&secret).await.is_err());
        assert!(matches!(
            accounts
                .update_user(
                    &admin,
                    "root",
                    UserUpdate {
                        role: Some(Role::Author),
                        ..UserUpdate::default()
                    }
                )
                .await,
            Err(AccountError::SelfDemotion)
        ));
    }
}
