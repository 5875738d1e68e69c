//! Who may see and who may change a datalab: the one rule every part of labforge applies.
//!
//! | caller | published and public | any other datalab |
//! |---|---|---|
//! | anyone, even anonymous | view | hidden |
//! | a user it is shared with (`datalab_members`) | view | view |
//! | moderator | view | view |
//! | owner | edit | edit |
//! | administrator | edit | edit |
//!
//! "Hidden" is answered exactly like a datalab that does not exist (404, never 403), so private
//! and draft datalabs, and their names, are not revealed. A caller who may view but not edit gets
//! 403 when they try to change something: they already know the datalab exists.
//!
//! The marketplace's search applies the same rule in SQL; a datalab `d` is visible to the user
//! `:user` (with role `:role`, or to an anonymous caller with both NULL) when
//!
//! ```sql
//! (d.state = 'published' AND d.visibility = 'public')
//! OR :role IN ('moderator', 'admin')
//! OR d.owner_id = :user
//! OR EXISTS (SELECT 1 FROM datalab_members m WHERE m.datalab_id = d.id AND m.user_id = :user)
//! ```

use super::states::{DatalabState, Visibility};
use crate::accounts::{Caller, Role};

/// What a caller may do with one datalab. Ordered: each level includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// The caller must not learn that the datalab exists.
    Hidden,
    /// Read the datalab, its versions, builds and build logs.
    View,
    /// Also change it: add versions, queue and cancel builds, share it, delete a draft.
    Edit,
}

/// The facts about a datalab the rule looks at.
#[derive(Debug, Clone, Copy)]
pub struct Exposure<'a> {
    pub owner_id: &'a str,
    /// Published is the only state in which a public datalab is shown to everyone.
    pub state: DatalabState,
    pub visibility: Visibility,
    /// Whether the caller is one of the users the datalab is shared with.
    pub caller_is_member: bool,
}

impl Exposure<'_> {
    /// True when everyone, signed in or not, may see the datalab.
    pub fn is_public(&self) -> bool {
        self.state == DatalabState::Published && self.visibility == Visibility::Public
    }
}

/// The rule of the module documentation.
pub fn access(caller: &Caller, datalab: &Exposure<'_>) -> Access {
    let Some(user) = caller.user() else {
        return if datalab.is_public() {
            Access::View
        } else {
            Access::Hidden
        };
    };
    if user.id == datalab.owner_id || user.is_at_least(Role::Admin) {
        Access::Edit
    } else if datalab.is_public() || datalab.caller_is_member || user.is_at_least(Role::Moderator) {
        Access::View
    } else {
        Access::Hidden
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::accounts::User;

    fn user(id: &str, role: Role) -> Caller {
        Caller::User(User {
            id: id.to_owned(),
            name: id.to_owned(),
            email: None,
            role,
            affiliation_country: None,
            disabled: false,
            created_at: Utc::now(),
        })
    }

    fn datalab(state: DatalabState, visibility: Visibility, member: bool) -> Exposure<'static> {
        Exposure {
            owner_id: "owner",
            state,
            visibility,
            caller_is_member: member,
        }
    }

    #[test]
    fn the_table_of_the_module_documentation_holds() {
        let public = datalab(DatalabState::Published, Visibility::Public, false);
        let draft_public = datalab(DatalabState::Draft, Visibility::Public, false);
        let private = datalab(DatalabState::Published, Visibility::Private, false);
        let shared = datalab(DatalabState::Draft, Visibility::Private, true);

        assert_eq!(access(&Caller::Anonymous, &public), Access::View);
        assert_eq!(access(&Caller::Anonymous, &draft_public), Access::Hidden);
        assert_eq!(access(&Caller::Anonymous, &private), Access::Hidden);

        let stranger = user("stranger", Role::Author);
        assert_eq!(access(&stranger, &public), Access::View);
        assert_eq!(access(&stranger, &draft_public), Access::Hidden);
        assert_eq!(access(&stranger, &private), Access::Hidden);
        assert_eq!(access(&stranger, &shared), Access::View);

        let moderator = user("mona", Role::Moderator);
        assert_eq!(access(&moderator, &private), Access::View);
        assert_eq!(access(&moderator, &draft_public), Access::View);

        assert_eq!(access(&user("owner", Role::Author), &private), Access::Edit);
        assert_eq!(access(&user("root", Role::Admin), &private), Access::Edit);
    }
}
