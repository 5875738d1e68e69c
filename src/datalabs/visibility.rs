//! Who may see and who may change a datalab: the one rule every part of labforge applies.
//!
//! | caller | published (or deprecated) and public | published (or deprecated) for the ESA Member States | any other datalab |
//! |---|---|---|---|
//! | anyone, even anonymous | view | hidden | hidden |
//! | a signed-in user whose affiliation country is an ESA Member State | view | view | hidden |
//! | a user it is shared with (`datalab_members`) | view | view | view |
//! | moderator | view | view | view |
//! | owner | edit | edit | edit |
//! | administrator | edit | edit | edit |
//!
//! "Hidden" is answered exactly like a datalab that does not exist (404, never 403), so private
//! and draft datalabs, and their names, are not revealed. A caller who may view but not edit gets
//! 403 when they try to change something: they already know the datalab exists.
//!
//! Which countries are ESA Member States is dated configuration (`licences::MemberStates`); a user
//! without a country is not in one.
//!
//! The marketplace's search applies the same rule in SQL; a datalab `d` is visible to the user
//! `:user` (with role `:role`, or to an anonymous caller with both NULL) when
//!
//! ```sql
//! (d.state IN ('published', 'deprecated') AND d.visibility = 'public')
//! OR (d.state IN ('published', 'deprecated') AND d.visibility = 'member_states'
//!     AND :user_in_member_state)
//! OR :role IN ('moderator', 'admin')
//! OR d.owner_id = :user
//! OR EXISTS (SELECT 1 FROM datalab_members m WHERE m.datalab_id = d.id AND m.user_id = :user)
//! ```

use super::states::{DatalabState, Visibility};
use crate::accounts::{Caller, Role};
use crate::licences::MemberStates;

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
    /// A public datalab is shown to everyone while published, and while deprecated (still
    /// launchable by those who use it, though no longer listed); never as a draft or archived.
    pub state: DatalabState,
    pub visibility: Visibility,
    /// Whether the caller is one of the users the datalab is shared with.
    pub caller_is_member: bool,
    /// Whether the caller is signed in with an affiliation in an ESA Member State.
    pub caller_in_member_state: bool,
}

impl Exposure<'_> {
    /// True when everyone, signed in or not, may see the datalab.
    pub fn is_public(&self) -> bool {
        self.is_released() && self.visibility == Visibility::Public
    }

    /// Published or deprecated: shown to its audience.
    fn is_released(&self) -> bool {
        matches!(
            self.state,
            DatalabState::Published | DatalabState::Deprecated
        )
    }

    /// True when the caller is in the datalab's audience beyond its owner, members and
    /// moderators.
    fn reaches_caller(&self) -> bool {
        match self.visibility {
            Visibility::Public => self.is_released(),
            Visibility::MemberStates => self.is_released() && self.caller_in_member_state,
            Visibility::Private => false,
        }
    }
}

/// Whether `caller` is signed in with an affiliation country among `member_states`.
pub fn in_member_state(caller: &Caller, member_states: &MemberStates) -> bool {
    caller
        .user()
        .and_then(|user| user.affiliation_country.as_deref())
        .is_some_and(|country| member_states.includes(country))
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
    } else if datalab.reaches_caller()
        || datalab.caller_is_member
        || user.is_at_least(Role::Moderator)
    {
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
            caller_in_member_state: false,
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
        let deprecated = datalab(DatalabState::Deprecated, Visibility::Public, false);
        let archived = datalab(DatalabState::Archived, Visibility::Public, false);
        assert_eq!(access(&Caller::Anonymous, &deprecated), Access::View);
        assert_eq!(access(&Caller::Anonymous, &archived), Access::Hidden);

        let stranger = user("stranger", Role::Author);
        assert_eq!(access(&stranger, &public), Access::View);
        assert_eq!(access(&stranger, &draft_public), Access::Hidden);
        assert_eq!(access(&stranger, &private), Access::Hidden);
        assert_eq!(access(&stranger, &shared), Access::View);

        let moderator = user("mona", Role::Moderator);
        assert_eq!(access(&moderator, &private), Access::View);
        assert_eq!(access(&moderator, &draft_public), Access::View);

        assert_eq!(access(&user("owner", Role::Author), &private), Access::Edit);

        let for_member_states = datalab(DatalabState::Published, Visibility::MemberStates, false);
        let from_member_state = Exposure {
            caller_in_member_state: true,
            ..for_member_states
        };
        assert_eq!(
            access(&Caller::Anonymous, &from_member_state),
            Access::Hidden
        );
        assert_eq!(access(&stranger, &for_member_states), Access::Hidden);
        assert_eq!(access(&stranger, &from_member_state), Access::View);
        let draft_for_member_states = Exposure {
            state: DatalabState::Draft,
            ..from_member_state
        };
        assert_eq!(access(&stranger, &draft_for_member_states), Access::Hidden);
        assert_eq!(access(&user("root", Role::Admin), &private), Access::Edit);
    }
}
