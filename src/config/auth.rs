//! The `[auth]` section: users, bearer tokens and the permission map, one
//! model for the messaging port and the admin server. Arrays of tables, so
//! they are set in the TOML file only; `auth.anonymous` is a plain key.

use super::{invalid, ConfigError};
pub use crate::auth::settings::{
    Access, Anonymous, AuthConfig, PermissionConfig, TokenConfig, UserConfig,
};

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
