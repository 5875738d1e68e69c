//! The states of datalabs, versions and builds, and a datalab's visibility: closed sets of values
//! that the API shows, the database stores (as text, see `storage`) and the metrics count, typed
//! end to end so that a misspelt state cannot compile. The publishing workflow adds its states
//! here.

/// A stored or requested value that is none of a state's known values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a known {what}")]
pub struct UnknownState {
    pub what: &'static str,
    pub value: String,
}

/// Declares an enum whose values are written as `snake_case` text in the API and the database,
/// with `ALL`, `as_str`, `Display` and `FromStr`.
macro_rules! text_states {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(UnknownState {
                        what: $what,
                        value: other.to_owned(),
                    }),
                }
            }
        }
    };
}
pub(crate) use text_states;

text_states! {
    /// Who may see a datalab beyond its owner, its members and the moderators, once published.
    pub enum Visibility ("datalab visibility") {
        Public = "public",
        /// Signed-in users whose affiliation country is an ESA Member State (the ESA Community
        /// Licence's audience).
        MemberStates = "member_states",
        Private = "private",
    }
}

text_states! {
    /// Where a datalab stands: a draft until one of its versions is published; a published
    /// datalab can be deprecated (still listed to those who use it, no longer in the marketplace)
    /// and then archived.
    pub enum DatalabState ("datalab state") {
        Draft = "draft",
        Published = "published",
        Deprecated = "deprecated",
        Archived = "archived",
    }
}

text_states! {
    /// Where a version stands: a draft until it is published.
    pub enum VersionState ("version state") {
        Draft = "draft",
        Published = "published",
    }
}

text_states! {
    /// A build's progress through the queue, in the order a build goes through them.
    pub enum BuildStatus ("build status") {
        Queued = "queued",
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
    }
}

impl BuildStatus {
    /// True once the build can no longer change.
    pub const fn has_ended(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agree<T>(all: &[T])
    where
        T: Copy + std::fmt::Debug + PartialEq + serde::Serialize + std::str::FromStr + ToString,
        <T as std::str::FromStr>::Err: std::fmt::Debug,
    {
        for value in all {
            let text = value.to_string();
            assert_eq!(
                serde_json::to_value(value).unwrap(),
                serde_json::Value::String(text.clone()),
                "the API and the database write {value:?} alike"
            );
            assert_eq!(text.parse::<T>().unwrap(), *value);
        }
    }

    #[test]
    fn api_text_and_stored_text_agree_and_read_back() {
        agree(Visibility::ALL);
        agree(DatalabState::ALL);
        agree(VersionState::ALL);
        agree(BuildStatus::ALL);
    }

    #[test]
    fn an_unknown_value_names_what_it_is_not() {
        let error = "shipped".parse::<BuildStatus>().unwrap_err();
        assert_eq!(error.to_string(), "\"shipped\" is not a known build status");
    }
}
