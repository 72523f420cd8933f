//! Books of what consumers received, and the two duplicate checks shared by
//! the failover tests (tests/clients/failover_client.rs, tests/chaos.rs).

use std::collections::{BTreeMap, BTreeSet};

/// Every delivery of one body: (message-id, redelivered).
pub type Deliveries = BTreeMap<String, Vec<(String, bool)>>;

/// Bodies delivered under more than one message-id, i.e. stored twice,
/// each with its deliveries.
pub fn stored_twice(seen: &Deliveries) -> Vec<String> {
    seen.iter()
        .filter(|(_, d)| d.iter().map(|(id, _)| id).collect::<BTreeSet<_>>().len() > 1)
        .map(|(body, d)| format!("{body}: {d:?}"))
        .collect()
}

/// Bodies delivered without `redelivered:true` more than once (at most one
/// delivery may claim to be the first; counted, not ordered, since two
/// consumers record concurrently), each with its deliveries.
pub fn unflagged_twice(seen: &Deliveries) -> Vec<String> {
    seen.iter()
        .filter(|(_, d)| d.iter().filter(|(_, again)| !again).count() > 1)
        .map(|(body, d)| format!("{body}: {d:?}"))
        .collect()
}

/// Bodies delivered more than once (flagged or not).
pub fn repeated(seen: &Deliveries) -> usize {
    seen.values().filter(|d| d.len() > 1).count()
}
