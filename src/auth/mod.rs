//! Users, credentials and the per-destination permission map (`[auth]`),
//! shared by the admin server and the messaging protocols. Verification is
//! synchronous and, for passwords, deliberately slow (argon2): async
//! callers run it on a blocking thread.

pub mod login;
mod pattern;
mod secret;
pub mod settings;

pub use login::{check, Forbidden, LoginError, Logins};
pub use pattern::{Pattern, PatternError};
pub use secret::{check_hash, equal_ct, hash_password, random_hex, sha256_hex, verify_password};
pub use settings::{Access, AuthConfig};

use crate::message::Destination;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

/// A hash to verify against for unknown users.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| hash_password(&random_hex(16)).ok());

/// The name of the user generated when no users are configured.
pub const GENERATED_USER: &str = "admin";

struct User {
    hash: String,
    roles: Vec<String>,
}

#[derive(Debug, Clone)]
struct Rule {
    role: Option<String>,
    user: Option<String>,
    pattern: Pattern,
    allow: Vec<Access>,
}

/// The name of an anonymous STOMP connection, and the role whose
/// permission entries apply to it.
pub const ANONYMOUS: &str = "anonymous";

/// An authenticated user and what it may do.
#[derive(Debug, Clone)]
pub struct Principal {
    pub name: String,
    grants: Arc<Vec<(Pattern, Vec<Access>)>>,
}

impl Principal {
    /// `admin` implies `read` and `write`.
    pub fn allows(&self, access: Access, dest: &Destination) -> bool {
        self.grants.iter().any(|(p, allow)| {
            p.covers(dest) && (allow.contains(&access) || allow.contains(&Access::Admin))
        })
    }

    /// Admin on every destination: may manage connections and the node.
    pub fn is_admin(&self) -> bool {
        self.grants
            .iter()
            .any(|(p, allow)| p.is_everything() && allow.contains(&Access::Admin))
    }
}

/// The user database of one node.
pub struct Auth {
    users: HashMap<String, User>,
    /// Token SHA-256 (hex) → user name.
    tokens: HashMap<String, String>,
    rules: Vec<Rule>,
    /// User → SHA-256 of the last password verified, so argon2 runs once
    /// per user and password rather than on every request.
    verified: Mutex<HashMap<String, String>>,
}

impl Auth {
    /// From a validated `[auth]` section. With no permission entries at all,
    /// every user may do everything (as ActiveMQ with authentication but no
    /// authorization map).
    pub fn from_config(config: &AuthConfig) -> Auth {
        let users = config
            .users
            .iter()
            .map(|u| {
                (
                    u.name.clone(),
                    User {
                        hash: u.password_hash.clone(),
                        roles: u.roles.clone(),
                    },
                )
            })
            .collect();
        let tokens = config
            .tokens
            .iter()
            .map(|t| (t.sha256.to_ascii_lowercase(), t.user.clone()))
            .collect();
        let mut rules: Vec<Rule> = config
            .permissions
            .iter()
            .filter_map(|p| {
                Some(Rule {
                    role: p.role.clone(),
                    user: p.user.clone(),
                    pattern: Pattern::parse(&p.destinations).ok()?,
                    allow: p.allow.clone(),
                })
            })
            .collect();
        if config.permissions.is_empty() {
            rules.push(everything());
        }
        Auth {
            users,
            tokens,
            rules,
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// One user `admin` with a fresh random password and every permission;
    /// returns the password to show once.
    pub fn generated() -> Result<(Auth, String), String> {
        let password = random_hex(12);
        let hash = hash_password(&password)?;
        let mut users = HashMap::new();
        users.insert(
            GENERATED_USER.to_string(),
            User {
                hash,
                roles: Vec::new(),
            },
        );
        let auth = Auth {
            users,
            tokens: HashMap::new(),
            rules: vec![everything()],
            verified: Mutex::new(HashMap::new()),
        };
        Ok((auth, password))
    }

    /// HTTP Basic / STOMP login check. Slow on a cache miss (argon2).
    pub fn verify_password(&self, name: &str, password: &str) -> Option<Principal> {
        let Some(user) = self.users.get(name) else {
            // As slow as a wrong password, so answers do not reveal names.
            if let Some(dummy) = DUMMY_HASH.as_deref() {
                verify_password(password, dummy);
            }
            return None;
        };
        let digest = sha256_hex(password);
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(name).cloned())
            .is_some_and(|d| equal_ct(&d, &digest));
        if !cached {
            if !verify_password(password, &user.hash) {
                return None;
            }
            if let Ok(mut m) = self.verified.lock() {
                m.insert(name.to_string(), digest);
            }
        }
        Some(self.principal(name))
    }

    /// Bearer token check.
    pub fn verify_token(&self, token: &str) -> Option<Principal> {
        let digest = sha256_hex(token);
        let name = self
            .tokens
            .iter()
            .find(|(h, _)| equal_ct(h, &digest))
            .map(|(_, u)| u.clone())?;
        Some(self.principal(&name))
    }

    /// An anonymous STOMP connection: the entries for role `anonymous`;
    /// with no permission entries at all, everything.
    pub fn anonymous(&self) -> Principal {
        let grants = self
            .rules
            .iter()
            .filter(|r| match (&r.user, &r.role) {
                (None, Some(role)) => role == ANONYMOUS,
                (None, None) => true,
                (Some(_), _) => false,
            })
            .map(|r| (r.pattern.clone(), r.allow.clone()))
            .collect();
        Principal {
            name: ANONYMOUS.to_string(),
            grants: Arc::new(grants),
        }
    }

    fn principal(&self, name: &str) -> Principal {
        let roles: &[String] = self
            .users
            .get(name)
            .map(|u| u.roles.as_slice())
            .unwrap_or(&[]);
        let grants = self
            .rules
            .iter()
            .filter(|r| match (&r.user, &r.role) {
                (Some(u), _) => u == name,
                (None, Some(role)) => roles.contains(role),
                (None, None) => true,
            })
            .map(|r| (r.pattern.clone(), r.allow.clone()))
            .collect();
        Principal {
            name: name.to_string(),
            grants: Arc::new(grants),
        }
    }
}

/// Every permission on every destination.
fn everything() -> Rule {
    Rule {
        role: None,
        user: None,
        pattern: Pattern::everything(),
        allow: vec![Access::Admin],
    }
}

#[cfg(test)]
mod tests;
