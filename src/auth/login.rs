//! Who a messaging connection (STOMP, OpenWire) is and what it may do: a
//! user name and password checked against `[auth]` (argon2, on a blocking
//! thread), anonymous connections per `auth.anonymous`, per-destination
//! checks for sending and receiving, and a growing delay for addresses
//! whose logins keep failing.

use super::{Access, Auth, Principal};
use crate::message::Destination;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Delay before checking a login after the first consecutive failure
/// from an address; doubles with each further failure.
const BASE_DELAY: Duration = Duration::from_millis(100);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(5);
/// Failures older than this are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// Addresses tracked at most; beyond, the stalest entry is dropped.
const MAX_TRACKED: usize = 4096;

/// Consecutive failed logins from one address.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Wrong user name or password; which of the two is not said.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// No credentials, and `auth.anonymous` is off.
    #[error("authentication required: this broker does not accept anonymous connections")]
    LoginRequired,
}

/// What a connection may not do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("user '{user}' lacks {access} permission on {destination}")]
pub struct Forbidden {
    pub user: String,
    pub access: &'static str,
    pub destination: String,
}

/// The authentication state every messaging connection shares.
pub struct Logins {
    auth: Arc<Auth>,
    /// Whether CONNECT without `login` is accepted.
    anonymous: bool,
    /// False when `[auth]` has no users (only the generated `admin`).
    users_configured: bool,
    failures: Mutex<HashMap<IpAddr, Failures>>,
}

impl std::fmt::Debug for Logins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logins")
            .field("anonymous", &self.anonymous)
            .finish_non_exhaustive()
    }
}

impl Logins {
    pub fn new(auth: Arc<Auth>, anonymous: bool, users_configured: bool) -> Logins {
        Logins {
            auth,
            anonymous,
            users_configured,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The principal of user `login` with `password` connecting from
    /// `peer`, or why it is refused. An empty or missing `login` is
    /// anonymous; so is any login but `admin` while no users are
    /// configured and anonymous access is on (clients that always send
    /// `guest` keep working, as with ActiveMQ without an authentication
    /// plugin).
    pub async fn login(
        &self,
        login: Option<&str>,
        password: Option<&str>,
        peer: &str,
    ) -> Result<Principal, LoginError> {
        let ip = peer_ip(peer);
        let login = login.filter(|l| {
            !l.is_empty()
                && (self.users_configured || !self.anonymous || *l == crate::auth::GENERATED_USER)
        });
        let Some(login) = login else {
            if self.anonymous {
                return Ok(self.auth.anonymous());
            }
            crate::metrics::get().stomp_auth_failures.inc();
            tracing::warn!(%peer, "login refused: no credentials and anonymous access is off");
            return Err(LoginError::LoginRequired);
        };
        let delay = ip.map_or(Duration::ZERO, |ip| self.delay_for(ip));
        if !delay.is_zero() {
            crate::metrics::get().stomp_auth_delayed.inc();
            tracing::info!(%peer, delay_ms = delay.as_millis() as u64, "delaying a login after repeated failures from this address");
            tokio::time::sleep(delay).await;
        }
        let (auth, user, pass) = (
            self.auth.clone(),
            login.to_string(),
            password.unwrap_or("").to_string(),
        );
        let verified = tokio::task::spawn_blocking(move || auth.verify_password(&user, &pass))
            .await
            .ok()
            .flatten();
        match verified {
            Some(p) => {
                if let Some(ip) = ip {
                    self.forget(ip);
                }
                Ok(p)
            }
            None => {
                crate::metrics::get().stomp_auth_failures.inc();
                let count = ip.map_or(1, |ip| self.record_failure(ip));
                tracing::warn!(%peer, user = %login, consecutive_failures = count, "login failed");
                Err(LoginError::AuthenticationFailed)
            }
        }
    }

    /// How long to wait before checking a login from `ip`.
    fn delay_for(&self, ip: IpAddr) -> Duration {
        let Ok(map) = self.failures.lock() else {
            return Duration::ZERO;
        };
        match map.get(&ip) {
            Some(f) if f.last.elapsed() < FORGET_AFTER => delay_after(f.count),
            _ => Duration::ZERO,
        }
    }

    /// Counts one more failure from `ip`; returns the consecutive count.
    fn record_failure(&self, ip: IpAddr) -> u32 {
        let Ok(mut map) = self.failures.lock() else {
            return 1;
        };
        if !map.contains_key(&ip) && map.len() >= MAX_TRACKED {
            map.retain(|_, f| f.last.elapsed() < FORGET_AFTER);
            if map.len() >= MAX_TRACKED {
                if let Some(stalest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
                    map.remove(&stalest);
                }
            }
        }
        let now = Instant::now();
        let entry = map.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
        });
        if entry.last.elapsed() >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        entry.count
    }

    fn forget(&self, ip: IpAddr) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&ip);
        }
    }
}

/// The delay after `count` consecutive failures: none after none, then
/// 100 ms doubling up to 5 s.
fn delay_after(count: u32) -> Duration {
    if count == 0 {
        return Duration::ZERO;
    }
    let factor = 1u32 << count.saturating_sub(1).min(16);
    BASE_DELAY.saturating_mul(factor).min(MAX_DELAY)
}

fn peer_ip(peer: &str) -> Option<IpAddr> {
    peer.parse::<std::net::SocketAddr>().ok().map(|a| a.ip())
}

/// Refuses `access` to `dest` unless `who` has it; the connection's own
/// temporary destinations (`temp.<session>.…`, named `own_temp`) are
/// always allowed.
pub fn check(
    who: &Principal,
    access: Access,
    dest: &Destination,
    own_temp: &str,
) -> Result<(), Forbidden> {
    let own = !own_temp.is_empty() && dest.name().starts_with(own_temp);
    if own || who.allows(access, dest) {
        return Ok(());
    }
    Err(Forbidden {
        user: who.name.clone(),
        access: access_name(access),
        destination: dest.to_string(),
    })
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Read => "read",
        Access::Write => "write",
        Access::Admin => "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_is_bounded() {
        assert_eq!(delay_after(0), Duration::ZERO);
        assert_eq!(delay_after(1), Duration::from_millis(100));
        assert_eq!(delay_after(2), Duration::from_millis(200));
        assert_eq!(delay_after(100), MAX_DELAY);
    }

    #[test]
    fn failures_are_counted_per_address_and_bounded() {
        let (auth, _) = Auth::generated().unwrap();
        let s = Logins::new(Arc::new(auth), false, true);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(s.record_failure(a), 1);
        assert_eq!(s.record_failure(a), 2);
        assert_eq!(s.delay_for(a), Duration::from_millis(200));
        s.forget(a);
        assert_eq!(s.delay_for(a), Duration::ZERO);
        for i in 0..(MAX_TRACKED as u32 + 10) {
            s.record_failure(IpAddr::from(i.to_be_bytes()));
        }
        assert!(s.failures.lock().unwrap().len() <= MAX_TRACKED);
        assert_eq!(peer_ip("[::1]:5"), Some("::1".parse().unwrap()));
        assert_eq!(peer_ip("nonsense"), None);
    }

    #[test]
    fn own_temporary_destinations_are_allowed() {
        let (auth, _) = Auth::generated().unwrap();
        let nobody = Auth::from_config(&super::super::settings::AuthConfig {
            permissions: vec![super::super::settings::PermissionConfig {
                role: Some("x".into()),
                user: None,
                destinations: ">".into(),
                allow: vec![Access::Read],
            }],
            ..Default::default()
        })
        .anonymous();
        let own = "temp.n1-7.";
        let mine = Destination::Queue(format!("{own}replies"));
        let other = Destination::Queue("temp.n1-70.replies".into());
        assert!(check(&nobody, Access::Read, &mine, own).is_ok());
        let e = check(&nobody, Access::Write, &other, own).unwrap_err();
        assert!(e
            .to_string()
            .contains("lacks write permission on /queue/temp."));
        assert!(check(&auth.anonymous(), Access::Write, &other, own).is_ok());
    }
}
