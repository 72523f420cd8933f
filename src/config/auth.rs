//! The `[auth]` section: users, bearer tokens and the permission map, one
//! model for the messaging port and the admin server. Arrays of tables, so
//! they are set in the TOML file only; `auth.anonymous` is a plain key.

use super::{invalid, ConfigError};
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

impl AuthConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let mut names = std::collections::HashSet::new();
        for (i, u) in self.users.iter().enumerate() {
            let key = format!("auth.users[{i}]");
            if u.name.is_empty() || u.name.contains(':') {
                return Err(invalid(
                    &format!("{key}.name"),
                    "must be non-empty and contain no ':'",
                ));
            }
            if !names.insert(u.name.as_str()) {
                return Err(invalid(
                    &format!("{key}.name"),
                    format!("user '{}' is defined twice", u.name),
                ));
            }
            crate::auth::check_hash(&u.password_hash).map_err(|e| {
                invalid(
                    &format!("{key}.password_hash"),
                    format!("not an argon2 hash ({e}); create one with `baton hash-password`"),
                )
            })?;
        }
        for (i, t) in self.tokens.iter().enumerate() {
            let key = format!("auth.tokens[{i}]");
            if !names.contains(t.user.as_str()) {
                return Err(invalid(
                    &format!("{key}.user"),
                    format!("no user '{}' in auth.users", t.user),
                ));
            }
            if t.sha256.len() != 64 || !t.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(invalid(
                    &format!("{key}.sha256"),
                    "must be 64 hex digits (printed by `baton new-token`)",
                ));
            }
        }
        for (i, p) in self.permissions.iter().enumerate() {
            let key = format!("auth.permissions[{i}]");
            if p.role.is_some() == p.user.is_some() {
                return Err(invalid(&key, "needs exactly one of role or user"));
            }
            crate::auth::Pattern::parse(&p.destinations)
                .map_err(|e| invalid(&format!("{key}.destinations"), e.to_string()))?;
            if p.allow.is_empty() {
                return Err(invalid(
                    &format!("{key}.allow"),
                    "must list at least one of read, write, admin",
                ));
            }
        }
        Ok(())
    }
}
