//! The registry's view of labforge's users and datalabs: `labforge serve` hands this to its
//! registry so that a datalab's image can be pulled by exactly the people who can see the datalab
//! in the app store (the rule of [`super::visibility`]). Pushing stays with the build account and
//! administrators.

use futures_util::future::BoxFuture;

use super::{DatalabError, DatalabService};
use crate::accounts::{AccountError, AccountService, Caller, Role};
use crate::registry::DirectoryUnavailable;
use crate::registry::access::{Action, Directory};

/// Registry repositories of datalabs live under this namespace (`datalabs/<name>`).
const NAMESPACE: &str = "datalabs/";

/// The registry's [`Directory`] in `labforge serve`. Unknown users, wrong passwords and datalabs
/// the caller may not see are ordinary "no"s; a database failure is logged here and reported as
/// [`DirectoryUnavailable`], so that an outage never reads as a denial.
pub struct DatalabDirectory {
    accounts: AccountService,
    datalabs: DatalabService,
}

impl DatalabDirectory {
    pub fn new(accounts: AccountService, datalabs: DatalabService) -> Self {
        Self { accounts, datalabs }
    }

    /// Who `user` is to the datalabs domain: unknown and disabled accounts are anonymous.
    async fn caller(&self, user: Option<&str>) -> Result<Caller, DirectoryUnavailable> {
        let Some(name) = user else {
            return Ok(Caller::Anonymous);
        };
        match self.accounts.user_named(name).await {
            Ok(user) if !user.disabled => Ok(Caller::User(user)),
            Err(AccountError::Storage(error)) => Err(unavailable(&error)),
            Ok(_) | Err(_) => Ok(Caller::Anonymous),
        }
    }
}

/// Logs why the directory cannot answer; the registry answers 503 with a generic message.
fn unavailable(error: &dyn std::error::Error) -> DirectoryUnavailable {
    tracing::error!(%error, "the registry's account directory cannot reach the database");
    DirectoryUnavailable
}

impl Directory for DatalabDirectory {
    fn authenticate<'a>(
        &'a self,
        user: &'a str,
        password: &'a str,
    ) -> BoxFuture<'a, Result<bool, DirectoryUnavailable>> {
        Box::pin(async move {
            match self.accounts.authenticate(user, password.to_owned()).await {
                Ok(_) => Ok(true),
                Err(AccountError::Storage(error)) => Err(unavailable(&error)),
                Err(_) => Ok(false),
            }
        })
    }

    fn allowed_actions<'a>(
        &'a self,
        user: Option<&'a str>,
        repository: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Action>, DirectoryUnavailable>> {
        Box::pin(async move {
            let Some(name) = repository.strip_prefix(NAMESPACE) else {
                return Ok(Vec::new());
            };
            let caller = self.caller(user).await?;
            if caller.is_at_least(Role::Admin) {
                return Ok(vec![Action::Pull, Action::Push, Action::Delete]);
            }
            match self.datalabs.get(&caller, name).await {
                Ok(_) => Ok(vec![Action::Pull]),
                Err(DatalabError::Storage(error)) => Err(unavailable(&error)),
                Err(_) => Ok(Vec::new()),
            }
        })
    }
}
