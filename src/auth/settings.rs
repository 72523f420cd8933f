//! The `[auth]` section as deserialized: users, bearer tokens, the
//! permission map and `auth.anonymous`. Plain data; `config/auth.rs`
//! validates it and `Auth::from_config` builds the user database from it.

use serde::{Deserialize, Serialize};

/// Whether STOMP clients may connect without credentials. Besides
/// `auto`, `allow` and `deny`, `true`/`false` (TOML booleans or text) force
/// it on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Anonymous {
    /// Allowed only while `stomp.listen` is a loopback address.
    #[default]
    Auto,
    Allow,
    Deny,
}

impl<'de> Deserialize<'de> for Anonymous {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Anonymous::Allow),
            Raw::Bool(false) => Ok(Anonymous::Deny),
            Raw::Text(t) => match t.as_str() {
                "auto" => Ok(Anonymous::Auto),
                "allow" | "true" => Ok(Anonymous::Allow),
                "deny" | "false" => Ok(Anonymous::Deny),
                other => Err(serde::de::Error::custom(format!(
                    "must be auto, allow (true) or deny (false), got '{other}'"
                ))),
            },
        }
    }
}

/// What a permission entry grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Receive and browse.
    Read,
    /// Send.
    Write,
    /// Manage (purge, delete, move, close connections); implies read and write.
    Admin,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    pub anonymous: Anonymous,
    pub users: Vec<UserConfig>,
    pub tokens: Vec<TokenConfig>,
    pub permissions: Vec<PermissionConfig>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    /// argon2 PHC string from `baton hash-password`.
    pub password_hash: String,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// A bearer token for scripts, acting as `user`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    pub user: String,
    /// SHA-256 of the token, lowercase hex (printed by `baton new-token`).
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionConfig {
    pub role: Option<String>,
    pub user: Option<String>,
    /// Destination pattern, e.g. `/queue/orders.>` or `>`.
    pub destinations: String,
    pub allow: Vec<Access>,
}
