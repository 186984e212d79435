//! The names of the journeys, shared vocabulary: the config's `[chains.weights]`, metrics,
//! reports and the chains all speak of a [`ChainKind`], so it lives in a leaf module that
//! depends on nothing but the directory's shape.

use crate::acme::wire::Directory;

/// Declares [`ChainKind`] and its names from the table below: one line per chain.
macro_rules! chain_names {
    ($($kind:ident $name:literal;)+) => {
        /// The journeys an attacker can take; the name is `{chain}` in metrics, reports and the
        /// config's `[chains.weights]`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ChainKind {
            $($kind,)+
        }

        impl ChainKind {
            /// Every chain, in the table's order.
            pub const ALL: &'static [ChainKind] = &[$(ChainKind::$kind,)+];

            /// The chain's name, as metrics and the config spell it.
            pub fn name(self) -> &'static str {
                match self {
                    $(ChainKind::$kind => $name,)+
                }
            }
        }
    };
}

// Adding a chain is adding its name here and its journey in `chains::run`.
chain_names! {
    NewAccount "new-account";
    Issue "issue";
    Renew "renew";
    Ari "ari";
    Revoke "revoke";
    KeyRollover "key-rollover";
    AccountUpdate "account-update";
    DeactivateAccount "deactivate-account";
    DeactivateAuthz "deactivate-authz";
    FailedValidation "failed-validation";
    Poll "poll";
    DbGetCert "db-get-cert";
    DbGetAuthz "db-get-authz";
    DbGetOrder "db-get-order";
    DbAri "db-ari";
    DbRevokeForeign "db-revoke-foreign";
}

impl ChainKind {
    /// The chain named `name`; `_` may stand for `-` (environment variables cannot hold `-`).
    pub fn from_name(name: &str) -> Option<ChainKind> {
        let name = name.replace('_', "-");
        ChainKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// What this chain cannot do without and this run lacks: a directory resource, or
    /// Boulder's database (`database` tells whether one is configured).
    pub fn missing_in(self, directory: &Directory, database: bool) -> Option<&'static str> {
        let needs_database = matches!(
            self,
            ChainKind::DbGetCert
                | ChainKind::DbGetAuthz
                | ChainKind::DbGetOrder
                | ChainKind::DbAri
                | ChainKind::DbRevokeForeign
        );
        match self {
            _ if needs_database && !database => Some("Boulder's database (--mysql or db.url)"),
            ChainKind::Ari | ChainKind::DbAri if directory.renewal_info.is_none() => {
                Some("the directory's renewalInfo (RFC 9773 ARI)")
            }
            ChainKind::Revoke | ChainKind::DbRevokeForeign if directory.revoke_cert.is_none() => {
                Some("the directory's revokeCert")
            }
            ChainKind::KeyRollover if directory.key_change.is_none() => {
                Some("the directory's keyChange")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found_back_with_either_separator() {
        for &kind in ChainKind::ALL {
            assert_eq!(ChainKind::from_name(kind.name()), Some(kind));
            let underscored = kind.name().replace('-', "_");
            assert_eq!(ChainKind::from_name(&underscored), Some(kind));
        }
        assert_eq!(ChainKind::from_name("revok"), None);
    }

    #[test]
    fn chains_missing_their_resource_are_named() {
        let pebble: Directory = serde_json::from_str(
            r#"{"newNonce":"n","newAccount":"a","newOrder":"o","revokeCert":"r","keyChange":"k"}"#,
        )
        .unwrap();
        let missing: Vec<_> = ChainKind::ALL
            .iter()
            .copied()
            .filter_map(|k| Some((k, k.missing_in(&pebble, true)?)))
            .collect();
        assert_eq!(
            missing,
            [
                (ChainKind::Ari, "the directory's renewalInfo (RFC 9773 ARI)"),
                (
                    ChainKind::DbAri,
                    "the directory's renewalInfo (RFC 9773 ARI)"
                )
            ]
        );
        let without_db = ChainKind::DbGetCert.missing_in(&pebble, false);
        assert_eq!(without_db, Some("Boulder's database (--mysql or db.url)"));
        let bare: Directory =
            serde_json::from_str(r#"{"newNonce":"n","newAccount":"a","newOrder":"o"}"#).unwrap();
        assert!(ChainKind::Revoke.missing_in(&bare, true).is_some());
        assert!(ChainKind::KeyRollover.missing_in(&bare, true).is_some());
        assert!(ChainKind::Issue.missing_in(&bare, false).is_none());
    }
}
