//! Connection admission shared by every messaging listener (STOMP,
//! OpenWire): `limits.max_connections` in all and
//! `limits.max_connections_per_address`. Each admitted connection holds a
//! [`Permit`] until it ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Why a connection was not admitted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Refusal {
    #[error("too many connections: the broker already has {0} open (limits.max_connections); try again later")]
    Total(usize),
    #[error("too many connections from {ip}: {limit} are open (limits.max_connections_per_address); close some or try again later")]
    PerAddress { ip: IpAddr, limit: usize },
}

impl Refusal {
    /// The configuration key of the limit, as the metric labels it.
    pub fn key(&self) -> &'static str {
        match self {
            Refusal::Total(_) => "limits.max_connections",
            Refusal::PerAddress { .. } => "limits.max_connections_per_address",
        }
    }
}

#[derive(Debug, Default)]
struct Open {
    total: usize,
    by_ip: HashMap<IpAddr, usize>,
}

/// Counts open connections against `limits.max_connections` and
/// `limits.max_connections_per_address`; clones share the count.
#[derive(Debug, Clone)]
pub struct Admission {
    max_total: usize,
    max_per_address: usize,
    open: Arc<Mutex<Open>>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Permit {
    ip: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Admission {
    pub fn new(max_total: usize, max_per_address: usize) -> Admission {
        Admission {
            max_total,
            max_per_address,
            open: Arc::default(),
        }
    }

    /// Admits a connection from `ip`, or says which limit refuses it (and
    /// counts the hit).
    pub fn admit(&self, ip: IpAddr) -> Result<Permit, Refusal> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let from_ip = open.by_ip.get(&ip).copied().unwrap_or(0);
        let refusal = if open.total >= self.max_total {
            Some(Refusal::Total(self.max_total))
        } else if from_ip >= self.max_per_address {
            Some(Refusal::PerAddress {
                ip,
                limit: self.max_per_address,
            })
        } else {
            None
        };
        if let Some(r) = refusal {
            crate::metrics::limit_hit(r.key());
            return Err(r);
        }
        open.total += 1;
        open.by_ip.insert(ip, from_ip + 1);
        Ok(Permit {
            ip,
            open: self.open.clone(),
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.by_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_counts_per_address_and_in_total() {
        let a = Admission::new(3, 2);
        let shared = a.clone();
        let one: IpAddr = [10, 0, 0, 1].into();
        let two: IpAddr = [10, 0, 0, 2].into();
        let p1 = a.admit(one).unwrap();
        let _p2 = a.admit(one).unwrap();
        let e = a.admit(one).unwrap_err();
        assert_eq!(e.key(), "limits.max_connections_per_address");
        let _p3 = a.admit(two).unwrap();
        let e = a.admit(two).unwrap_err();
        assert_eq!(e.key(), "limits.max_connections");
        assert!(shared.admit(two).is_err(), "clones share the count");
        drop(p1);
        assert!(shared.admit(one).is_ok());
    }
}
