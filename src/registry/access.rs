//! Who may pull and push what, and the Docker token protocol that carries it.
//!
//! The grants file (TOML) lists users and repositories:
//!
//! ```toml
//! [[users]]
//! name = "builder"
//! password_hash = "$argon2id$v=19$..."   # labforge::registry::hash_password
//! role = "builder"                       # admin | moderator | author | builder
//!
//! [[repositories]]
//! name = "datalabs/jl-euclid"
//! visibility = "private"                 # public | private
//! owner = "alice"
//! users = ["bob"]
//! published = true
//! ```
//!
//! Pull: anyone, anonymous included, for a published public repository; otherwise the owner, the
//! listed users, moderators, admins and builders. A repository absent from the file is private
//! with no owner, except those added by [`Grants::add_public_repositories`] (the base images).
//! Push (and delete): builders and admins only.
//!
//! Tokens are HMAC-SHA256 signed claims (`base64url(json).base64url(mac)`). The key is kept with
//! the content store ([`super::storage::Storage::token_signing_key`]), so tokens stay valid across
//! a restart and between processes serving one store, until they expire.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::PasswordHash;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

use super::error::{DirectoryUnavailable, GrantsError, RegistryError};
use super::name::RepositoryName;
use crate::images::Credentials;

type HmacSha256 = Hmac<sha2::Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Moderator,
    Author,
    Builder,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Private,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct UserGrant {
    pub name: String,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RepositoryGrant {
    pub name: String,
    pub visibility: Visibility,
    pub owner: Option<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub published: bool,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    #[serde(default)]
    pub users: Vec<UserGrant>,
    #[serde(default)]
    pub repositories: Vec<RepositoryGrant>,
}

impl Grants {
    pub fn load(path: &Path) -> Result<Self, GrantsError> {
        let text = std::fs::read_to_string(path).map_err(|source| GrantsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let grants: Self = toml::from_str(&text).map_err(|error| GrantsError::Parse {
            path: path.to_owned(),
            message: error.to_string(),
        })?;
        for user in &grants.users {
            PasswordHash::new(&user.password_hash).map_err(|error| GrantsError::PasswordHash {
                path: path.to_owned(),
                user: user.name.clone(),
                message: error.to_string(),
            })?;
        }
        for repository in &grants.repositories {
            if let Err(RegistryError::NameInvalid { reason, .. }) =
                repository.name.parse::<RepositoryName>()
            {
                return Err(GrantsError::RepositoryName {
                    path: path.to_owned(),
                    name: repository.name.clone(),
                    reason,
                });
            }
        }
        Ok(grants)
    }

    /// Adds the build service's account as a builder, hashed now so the password is kept only as
    /// its hash. A user the file already names keeps the file's entry: the file is the operator's
    /// last word, as everywhere in the configuration.
    pub fn add_builder(&mut self, credentials: &Credentials) {
        if self
            .users
            .iter()
            .any(|user| user.name == credentials.username)
        {
            tracing::warn!(
                user = %credentials.username,
                "the grants file names the build account; its entry there (password, role) applies"
            );
            return;
        }
        self.users.push(UserGrant {
            name: credentials.username.clone(),
            password_hash: hash_password(&credentials.password),
            role: Role::Builder,
        });
    }

    /// Makes `repositories` public and published, except those the file lists: the base images
    /// every datalab builds from, which BuildKit and anyone running a datalab pull without an
    /// account.
    pub fn add_public_repositories(&mut self, repositories: impl IntoIterator<Item = String>) {
        for name in repositories {
            if self
                .repositories
                .iter()
                .all(|repository| repository.name != name)
            {
                self.repositories.push(RepositoryGrant {
                    name,
                    visibility: Visibility::Public,
                    owner: None,
                    users: Vec::new(),
                    published: true,
                });
            }
        }
    }
}

/// An argon2id hash of `password` in PHC format, for the grants file.
pub use crate::passwords::hash as hash_password;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Self::Pull => "pull",
            Self::Push => "push",
            Self::Delete => "delete",
        }
    }
}

/// One entry of a token's `access` claim, as in Docker's token format.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct AccessEntry {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub actions: Vec<String>,
    /// Actions the holder asked for and was refused (labforge's own claim): a request needing one
    /// of them is answered 403, not with a challenge that would only bring the same token again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
struct Claims {
    iss: String,
    aud: String,
    /// The user name; absent for anonymous tokens.
    sub: Option<String>,
    exp: u64,
    iat: u64,
    access: Vec<AccessEntry>,
}

/// The holder of a valid token.
#[derive(Debug, Clone)]
pub struct Subject {
    pub user: Option<String>,
    access: Vec<AccessEntry>,
}

impl Subject {
    pub fn may(&self, repository: &RepositoryName, action: Action) -> bool {
        self.access.iter().any(|entry| {
            entry.kind == "repository"
                && entry.name == repository.as_str()
                && entry
                    .actions
                    .iter()
                    .any(|granted| granted == action.name() || granted == "*")
        })
    }

    /// Whether the holder asked for `action` on `repository` and was refused it.
    pub fn was_refused(&self, repository: &RepositoryName, action: Action) -> bool {
        self.access.iter().any(|entry| {
            entry.name == repository.as_str()
                && entry.refused.iter().any(|refused| refused == action.name())
        })
    }
}

/// What the token endpoint answers.
#[derive(Debug, Serialize)]
pub struct IssuedToken {
    pub token: String,
    pub access_token: String,
    pub expires_in: u64,
    pub issued_at: String,
}

/// Users and repositories known outside the grants file: in `labforge serve`, the service's
/// accounts and each datalab's visibility, so that the registry and the app store agree on who
/// may see what. Its answers add to the grants file's, never remove from them. When it cannot
/// answer it says so with [`DirectoryUnavailable`] rather than "no": an outage must not look like a
/// wrong password or a hidden repository.
pub trait Directory: Send + Sync {
    /// Whether `password` (a password or an API token) proves `user`.
    fn authenticate<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<bool, DirectoryUnavailable>>;

    /// What `user` (None: anonymous) may do with `repository`.
    fn allowed_actions<'a>(
        &'a self,
        user: Option<&'a str>,
        repository: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Action>, DirectoryUnavailable>>;
}

pub struct AccessControl {
    users: HashMap<String, UserGrant>,
    repositories: HashMap<String, RepositoryGrant>,
    key: [u8; 32],
    service: String,
    realm: Option<String>,
    lifetime: Duration,
}

impl AccessControl {
    pub fn new(grants: Grants, service: String, realm: Option<String>, lifetime: Duration) -> Self {
        let mut key = [0; 32];
        getrandom::fill(&mut key).expect("the operating system provides random bytes");
        let users = grants
            .users
            .into_iter()
            .map(|user| (user.name.clone(), user))
            .collect();
        let repositories = grants
            .repositories
            .into_iter()
            .map(|repository| (repository.name.clone(), repository))
            .collect();
        Self {
            users,
            repositories,
            key,
            service,
            realm,
            lifetime,
        }
    }

    /// Signs with `key` instead of the random key drawn by [`Self::new`].
    #[must_use]
    pub fn with_signing_key(mut self, key: [u8; 32]) -> Self {
        self.key = key;
        self
    }

    /// Whether the grants file (or the build account added to it) names `user`.
    fn has_user(&self, user: &str) -> bool {
        self.users.contains_key(user)
    }

    /// The user named by Basic credentials, if the password matches; checked off the async
    /// threads, as every token request with credentials does it.
    pub async fn authenticate(&self, user: &str, password: &str) -> Option<&UserGrant> {
        let grant = self.users.get(user)?;
        crate::passwords::verify_off_thread(password.to_owned(), grant.password_hash.clone())
            .await
            .then_some(grant)
    }

    /// Actions `user` (None: anonymous) may take on `repository`.
    pub fn allowed_actions(&self, user: Option<&str>, repository: &str) -> Vec<Action> {
        let role = user
            .and_then(|name| self.users.get(name))
            .map(|grant| grant.role);
        let grant = self.repositories.get(repository);
        let public =
            grant.is_some_and(|grant| grant.published && grant.visibility == Visibility::Public);
        let listed = grant.zip(user).is_some_and(|(grant, user)| {
            grant.owner.as_deref() == Some(user) || grant.users.iter().any(|listed| listed == user)
        });
        match role {
            Some(Role::Admin | Role::Builder) => vec![Action::Pull, Action::Push, Action::Delete],
            Some(Role::Moderator) => vec![Action::Pull],
            Some(Role::Author) if listed || public => vec![Action::Pull],
            None if public => vec![Action::Pull],
            Some(Role::Author) | None => Vec::new(),
        }
    }

    /// Issues a token for the requested `scopes` (`repository:<name>:pull,push`), granting the
    /// intersection of what was asked and what `user` may do.
    pub fn issue(&self, user: Option<&str>, scopes: &[String]) -> IssuedToken {
        self.issue_with(user, scopes, |_| Vec::new())
    }

    /// Answers a token request. `authorization` is the request's `Authorization` header: Basic
    /// credentials name the token's user; without them the token is anonymous. A name in the grants
    /// file is that file's user alone: a directory account of the same name neither signs in as it
    /// nor inherits its grants (the build account may push everywhere), and the directory is not
    /// asked about what that user may do. A directory that cannot answer fails the request
    /// ([`RegistryError::DirectoryUnavailable`]) rather than narrowing the token.
    pub async fn issue_token(
        &self,
        directory: Option<&dyn Directory>,
        authorization: Option<&str>,
        scopes: &[String],
    ) -> Result<IssuedToken, RegistryError> {
        let user = match authorization.and_then(|value| value.strip_prefix("Basic ")) {
            None => None,
            Some(encoded) => Some(self.basic_user(directory, encoded).await?),
        };
        let directory =
            directory.filter(|_| user.as_deref().is_none_or(|user| !self.has_user(user)));
        let mut directory_allows = HashMap::new();
        if let Some(directory) = directory {
            for scope in scopes {
                let Some((name, _)) = scope
                    .strip_prefix("repository:")
                    .and_then(|rest| rest.rsplit_once(':'))
                else {
                    continue;
                };
                let actions = directory.allowed_actions(user.as_deref(), name).await?;
                directory_allows.insert(name.to_owned(), actions);
            }
        }
        Ok(self.issue_with(user.as_deref(), scopes, |name| {
            directory_allows.get(name).cloned().unwrap_or_default()
        }))
    }

    /// The user that Basic credentials (`base64(user:password)`) prove: a grants-file user by the
    /// file's password, any other name by the directory's word.
    async fn basic_user(
        &self,
        directory: Option<&dyn Directory>,
        encoded: &str,
    ) -> Result<String, RegistryError> {
        let refused = || RegistryError::Unauthorized {
            challenge: format!("Basic realm=\"{}\"", self.service),
        };
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(refused)?;
        let (user, password) = decoded.split_once(':').ok_or_else(refused)?;
        let known = if self.has_user(user) {
            self.authenticate(user, password).await.is_some()
        } else {
            match directory {
                Some(directory) => directory.authenticate(user, password).await?,
                None => false,
            }
        };
        if known {
            Ok(user.to_owned())
        } else {
            Err(refused())
        }
    }

    /// [`Self::issue`], where `also_allowed` adds what a [`Directory`] allows on a repository.
    fn issue_with(
        &self,
        user: Option<&str>,
        scopes: &[String],
        also_allowed: impl Fn(&str) -> Vec<Action>,
    ) -> IssuedToken {
        let mut access: Vec<AccessEntry> = Vec::new();
        for scope in scopes {
            let Some((kind, rest)) = scope.split_once(':') else {
                continue;
            };
            let Some((name, actions)) = rest.rsplit_once(':') else {
                continue;
            };
            if kind != "repository" || name.parse::<RepositoryName>().is_err() {
                continue;
            }
            let mut allowed = self.allowed_actions(user, name);
            allowed.extend(also_allowed(name));
            let (granted, refused): (Vec<String>, Vec<String>) =
                actions.split(',').map(str::to_owned).partition(|action| {
                    allowed.iter().any(|allowed| allowed.name() == *action)
                        || (action == "*" && allowed.contains(&Action::Delete))
                });
            if let Some(entry) = access.iter_mut().find(|entry| entry.name == name) {
                entry.actions.extend(granted);
                entry.actions.sort();
                entry.actions.dedup();
                entry.refused.extend(refused);
                let actions = entry.actions.clone();
                entry.refused.retain(|action| !actions.contains(action));
                entry.refused.sort();
                entry.refused.dedup();
            } else {
                access.push(AccessEntry {
                    kind: kind.to_owned(),
                    name: name.to_owned(),
                    actions: granted,
                    refused,
                });
            }
        }
        let issued_at = SystemTime::now();
        let iat = issued_at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = Claims {
            iss: self.service.clone(),
            aud: self.service.clone(),
            sub: user.map(str::to_owned),
            exp: iat + self.lifetime.as_secs(),
            iat,
            access,
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signature =
            URL_SAFE_NO_PAD.encode(self.mac(payload.as_bytes()).finalize().into_bytes());
        let token = format!("{payload}.{signature}");
        IssuedToken {
            access_token: token.clone(),
            token,
            expires_in: self.lifetime.as_secs(),
            issued_at: chrono::DateTime::<chrono::Utc>::from(issued_at).to_rfc3339(),
        }
    }

    fn mac(&self, payload: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(payload);
        mac
    }

    /// The subject of a valid, unexpired token.
    pub fn verify(&self, token: &str) -> Option<Subject> {
        let (payload, signature) = token.split_once('.')?;
        let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
        self.mac(payload.as_bytes()).verify_slice(&signature).ok()?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        if claims.exp < now || claims.aud != self.service {
            return None;
        }
        Some(Subject {
            user: claims.sub,
            access: claims.access,
        })
    }

    /// Checks the `Authorization: Bearer` header; without the needed access, answers 401 with the
    /// challenge a client follows to get a token for `scope` (or 403 when the token holder has
    /// already authenticated and still lacks it).
    pub fn authorize(
        &self,
        authorization: Option<&str>,
        host: Option<&str>,
        required: Option<(&RepositoryName, Action)>,
    ) -> Result<Subject, RegistryError> {
        let subject = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|token| self.verify(token.trim()));
        let scope = required.map(|(repository, action)| {
            let actions = match action {
                Action::Pull => "pull",
                Action::Push => "pull,push",
                Action::Delete => "delete",
            };
            format!("repository:{repository}:{actions}")
        });
        let challenge = || RegistryError::Unauthorized {
            challenge: self.challenge(host, scope.as_deref()),
        };
        let subject = subject.ok_or_else(challenge)?;
        match required {
            None => Ok(subject),
            Some((repository, action)) if subject.may(repository, action) => Ok(subject),
            Some((repository, action)) => {
                // A named user who asked for this very action on this repository and was refused
                // by the grants: asking again would not help. A token that never asked for it
                // (one of pull scope, used for a push) is answered with the challenge for it.
                if subject.user.is_some() && subject.was_refused(repository, action) {
                    Err(RegistryError::Denied)
                } else {
                    Err(challenge())
                }
            }
        }
    }

    pub fn challenge(&self, host: Option<&str>, scope: Option<&str>) -> String {
        let realm = self
            .realm
            .clone()
            .unwrap_or_else(|| format!("http://{}/auth/token", host.unwrap_or("127.0.0.1")));
        let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{}\"", self.service);
        if let Some(scope) = scope {
            let _ = write!(challenge, ",scope=\"{scope}\"");
        }
        challenge
    }

    pub fn service(&self) -> &str {
        &self.service
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn access() -> AccessControl {
        let grants: Grants = toml::from_str(&format!(
            r#"
            [[users]]
            name = "alice"
            password_hash = "{hash}"
            role = "author"
            [[users]]
            name = "bob"
            password_hash = "{hash}"
            role = "author"
            [[users]]
            name = "ci"
            password_hash = "{hash}"
            role = "builder"
            [[repositories]]
            name = "datalabs/open"
            visibility = "public"
            published = true
            [[repositories]]
            name = "datalabs/secret"
            visibility = "private"
            owner = "alice"
            published = true
            "#,
            hash = hash_password("pw")
        ))
        .unwrap();
        AccessControl::new(grants, "labforge".to_owned(), None, Duration::from_mins(1))
    }

    #[tokio::test]
    async fn visibility_decides_pull_and_role_decides_push() {
        let access = access();
        assert_eq!(
            access.allowed_actions(None, "datalabs/open"),
            vec![Action::Pull]
        );
        assert!(access.allowed_actions(None, "datalabs/secret").is_empty());
        assert!(
            access
                .allowed_actions(Some("bob"), "datalabs/secret")
                .is_empty()
        );
        assert_eq!(
            access.allowed_actions(Some("alice"), "datalabs/secret"),
            vec![Action::Pull]
        );
        assert!(
            access
                .allowed_actions(Some("ci"), "datalabs/new")
                .contains(&Action::Push)
        );
        assert!(access.authenticate("alice", "pw").await.is_some());
        assert!(access.authenticate("alice", "wrong").await.is_none());
    }

    #[test]
    fn a_refused_action_is_denied_and_one_never_asked_for_is_challenged() {
        let access = access();
        let secret: RepositoryName = "datalabs/secret".parse().unwrap();
        let bearer = |scope: &str| {
            format!(
                "Bearer {}",
                access.issue(Some("alice"), &[scope.to_owned()]).token
            )
        };
        // Asked for push and refused it: asking again would bring the same token.
        let refused = bearer("repository:datalabs/secret:pull,push");
        let answer = access.authorize(Some(&refused), None, Some((&secret, Action::Push)));
        assert!(matches!(answer, Err(RegistryError::Denied)), "{answer:?}");
        // A pull token used for a push: the challenge names the push scope.
        let pull_only = bearer("repository:datalabs/secret:pull");
        let answer = access.authorize(Some(&pull_only), None, Some((&secret, Action::Push)));
        let Err(RegistryError::Unauthorized { challenge }) = answer else {
            panic!("{answer:?}");
        };
        assert!(
            challenge.contains("scope=\"repository:datalabs/secret:pull,push\""),
            "{challenge}"
        );
    }

    #[test]
    fn tokens_grant_the_intersection_and_cannot_be_forged() {
        let access = access();
        let token = access.issue(
            Some("alice"),
            &["repository:datalabs/secret:pull,push".to_owned()],
        );
        let subject = access.verify(&token.token).unwrap();
        let secret: RepositoryName = "datalabs/secret".parse().unwrap();
        assert!(subject.may(&secret, Action::Pull));
        assert!(!subject.may(&secret, Action::Push));
        let (payload, signature) = token.token.split_once('.').unwrap();
        let mut forged = payload.to_owned();
        forged.replace_range(..1, if payload.starts_with('e') { "f" } else { "e" });
        assert!(access.verify(&format!("{forged}.{signature}")).is_none());
    }

    /// A directory that knows every name with the password `directory-pw` and lets everyone do
    /// everything, to show where its word is not taken.
    struct GenerousDirectory;

    impl Directory for GenerousDirectory {
        fn authenticate<'a>(
            &'a self,
            _user: &'a str,
            password: &'a str,
        ) -> BoxFuture<'a, Result<bool, DirectoryUnavailable>> {
            Box::pin(async move { Ok(password == "directory-pw") })
        }

        fn allowed_actions<'a>(
            &'a self,
            _user: Option<&'a str>,
            _repository: &'a str,
        ) -> BoxFuture<'a, Result<Vec<Action>, DirectoryUnavailable>> {
            Box::pin(async { Ok(vec![Action::Pull, Action::Push, Action::Delete]) })
        }
    }

    /// A directory whose database is down.
    pub(in crate::registry) struct UnavailableDirectory;

    impl Directory for UnavailableDirectory {
        fn authenticate<'a>(
            &'a self,
            _user: &'a str,
            _password: &'a str,
        ) -> BoxFuture<'a, Result<bool, DirectoryUnavailable>> {
            Box::pin(async { Err(DirectoryUnavailable) })
        }

        fn allowed_actions<'a>(
            &'a self,
            _user: Option<&'a str>,
            _repository: &'a str,
        ) -> BoxFuture<'a, Result<Vec<Action>, DirectoryUnavailable>> {
            Box::pin(async { Err(DirectoryUnavailable) })
        }
    }

    fn basic(credentials: &str) -> String {
        format!("Basic {}", STANDARD.encode(credentials))
    }

    #[tokio::test]
    async fn token_requests_with_unreadable_basic_credentials_are_refused() {
        let access = access();
        let no_colon = basic("no colon");
        for authorization in ["Basic %%% not base64", no_colon.as_str(), "Basic /w=="] {
            let refused = access
                .issue_token(Some(&GenerousDirectory), Some(authorization), &[])
                .await;
            assert!(
                matches!(refused, Err(RegistryError::Unauthorized { .. })),
                "{authorization}: {refused:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_grants_file_name_belongs_to_the_grants_file_alone() {
        let access = access();
        let scope = ["repository:datalabs/secret:pull,push".to_owned()];
        let secret: RepositoryName = "datalabs/secret".parse().unwrap();

        let borrowed = access
            .issue_token(
                Some(&GenerousDirectory),
                Some(&basic("alice:directory-pw")),
                &scope,
            )
            .await;
        assert!(
            matches!(borrowed, Err(RegistryError::Unauthorized { .. })),
            "a directory account cannot sign in as a grants-file user: {borrowed:?}"
        );

        let alice = access
            .issue_token(Some(&GenerousDirectory), Some(&basic("alice:pw")), &scope)
            .await
            .unwrap();
        let alice = access.verify(&alice.token).unwrap();
        assert!(alice.may(&secret, Action::Pull));
        assert!(
            !alice.may(&secret, Action::Push),
            "the directory is not asked about a grants-file user"
        );

        let carol = access
            .issue_token(
                Some(&GenerousDirectory),
                Some(&basic("carol:directory-pw")),
                &scope,
            )
            .await
            .unwrap();
        let carol = access.verify(&carol.token).unwrap();
        assert_eq!(carol.user.as_deref(), Some("carol"));
        assert!(carol.may(&secret, Action::Push));
    }

    #[tokio::test]
    async fn an_unavailable_directory_fails_the_token_request_instead_of_denying() {
        let access = access();
        let scope = ["repository:datalabs/lab:pull".to_owned()];
        let sign_in = access
            .issue_token(
                Some(&UnavailableDirectory),
                Some(&basic("carol:secret")),
                &scope,
            )
            .await;
        assert!(
            matches!(sign_in, Err(RegistryError::DirectoryUnavailable(_))),
            "{sign_in:?}"
        );
        let anonymous = access
            .issue_token(Some(&UnavailableDirectory), None, &scope)
            .await;
        assert!(
            matches!(anonymous, Err(RegistryError::DirectoryUnavailable(_))),
            "{anonymous:?}"
        );
        let grants_user = access
            .issue_token(
                Some(&UnavailableDirectory),
                Some(&basic("alice:pw")),
                &scope,
            )
            .await;
        assert!(
            grants_user.is_ok(),
            "grants-file users do not depend on the directory"
        );
    }
}
