//! The STOMP listener: accepts connections and runs one session task each;
//! on shutdown stops accepting and waits for the sessions to drain.

use super::codec::StompCodec;
use super::handler::SessionConfig;
use super::limits::{self, Permit, Refusal};
use super::session;
use super::transport::Transport;
use crate::broker::Broker;
use crate::listener::{Io, Serve};
use crate::stop::Stop;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The STOMP side of the shared accept loop (`listener::run`): plain
/// STOMP frames on the (TCP or TLS) stream.
#[derive(Clone)]
struct Sessions {
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
}

impl Serve for Sessions {
    async fn serve(self, stream: Box<dyn Io>, peer: String, admitted: Result<Permit, Refusal>) {
        let framed = tokio_util::codec::Framed::new(stream, StompCodec::default());
        serve_transport(
            framed,
            peer,
            admitted,
            self.broker,
            self.config,
            self.signals,
        )
        .await
    }
}

/// Accepts clients until told to stop, then waits for every session.
/// With `tls`, every connection must complete a TLS handshake first.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    let admission = config.admission.clone();
    let sessions = Sessions {
        broker,
        config,
        signals: signals.clone(),
    };
    crate::listener::run(listener, tls, admission, sessions, signals).await
}

/// The session of an admitted connection (which frees its place when it
/// ends), or the ERROR that refuses it, over any transport (TCP or TLS
/// here, also the WebSocket port's).
pub(super) async fn serve_transport<T: Transport>(
    transport: T,
    peer: String,
    admitted: Result<Permit, Refusal>,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    match admitted {
        Ok(_permit) => session::run(transport, peer, broker, config, signals).await,
        Err(refusal) => limits::refuse(transport, &peer, refusal).await,
    }
}
