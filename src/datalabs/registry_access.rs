//! The registry's view of labforge's users and datalabs: `labforge serve` hands this to its
//! registry so that a datalab's image can be pulled by exactly the people who can see the datalab
//! in the app store (the rule of [`super::visibility`]). Pushing stays with the build account and
//! administrators.

use futures_util::future::BoxFuture;

use super::DatalabService;
use crate::accounts::{AccountService, Caller, Role};
use crate::registry::access::{Action, Directory};

/// Registry repositories of datalabs live under this namespace (`datalabs/<name>`).
const NAMESPACE: &str = "datalabs/";

pub struct DatalabDirectory {
    accounts: AccountService,
    datalabs: DatalabService,
}

impl DatalabDirectory {
    pub fn new(accounts: AccountService, datalabs: DatalabService) -> Self {
        Self { accounts, datalabs }
    }

    async fn caller(&self, user: Option<&str>) -> Caller {
        match user {
            None => Caller::Anonymous,
            Some(name) => self
                .accounts
                .user_named(name)
                .await
                .ok()
                .filter(|user| !user.disabled)
                .map_or(Caller::Anonymous, Caller::User),
        }
    }
}

impl Directory for DatalabDirectory {
    fn authenticate<'a>(&'a self, user: &'a str, password: &'a str) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            self.accounts
                .authenticate(user, password.to_owned())
                .await
                .is_ok()
        })
    }

    fn allowed_actions<'a>(
        &'a self,
        user: Option<&'a str>,
        repository: &'a str,
    ) -> BoxFuture<'a, Vec<Action>> {
        Box::pin(async move {
            let Some(name) = repository.strip_prefix(NAMESPACE) else {
                return Vec::new();
            };
            let caller = self.caller(user).await;
            if caller.is_at_least(Role::Admin) {
                return vec![Action::Pull, Action::Push, Action::Delete];
            }
            match self.datalabs.get(&caller, name).await {
                Ok(_) => vec![Action::Pull],
                Err(_) => Vec::new(),
            }
        })
    }
}
