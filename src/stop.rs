//! The signals that end a term's tasks: listeners, connection sessions and
//! the node's background tasks (expiry, scheduler, pager, vacuum).

use tokio_util::sync::CancellationToken;

/// What ends the sessions: `stop` (graceful shutdown: sessions first send
/// the receipts of their pending commits) or `abort` (this node lost
/// mastership: sessions close at once).
#[derive(Clone, Default)]
pub struct Stop {
    pub stop: CancellationToken,
    pub abort: CancellationToken,
}
