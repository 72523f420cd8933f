//! One task per OpenWire connection: the WireFormatInfo handshake, then a
//! `select!` over the socket, the answers waiting for their commits, the
//! broker's outbox, the keep-alive and inactivity timers, pull timeouts and
//! the shutdown signals.

use super::codec::{CodecError, OpenWireCodec};
use super::command::{BrokerInfo, ConnectionError, ExceptionResponse, KeepAliveInfo};
use super::frame::{Limits, Options, Oversized, Parsed};
use super::handler::{ConnectionSettings, Handler};
use super::types::{BrokerId, ExceptionClass};
use super::wireformat::{negotiate, WireFormatInfo};
use super::Command;
use crate::admission::{Permit, Refusal};
use crate::broker::{AckMode, Broker, Outbox};
use crate::listener::{Io, Serve};
use crate::stop::Stop;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::{sleep_until, Instant};
use tokio_util::codec::Framed;

/// How long a client gets to send its WireFormatInfo (ActiveMQ's
/// `connectAttemptTimeout`).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a refused connection is kept to tell its client why.
const REFUSAL_GRACE: Duration = Duration::from_secs(2);

/// Deliveries written per wake-up.
const WRITE_BATCH: usize = 256;

/// Why a connection ends.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("no WireFormatInfo within {} s", HANDSHAKE_TIMEOUT.as_secs())]
    NoHandshake,
    #[error("the first command must be a WireFormatInfo, got {0}")]
    NotHandshake(&'static str),
    #[error("{0}")]
    Negotiation(#[from] super::wireformat::NegotiationError),
    #[error("nothing received for {0} ms")]
    Inactive(i64),
    #[error("{0}")]
    SlowConsumer(String),
}

/// The OpenWire side of the shared accept loop.
#[derive(Clone)]
pub struct Sessions {
    pub broker: Broker,
    pub config: Arc<ConnectionSettings>,
    pub signals: Stop,
}

impl Serve for Sessions {
    async fn serve(self, stream: Box<dyn Io>, peer: String, admitted: Result<Permit, Refusal>) {
        match admitted {
            Ok(_permit) => run(stream, peer, self.broker, self.config, self.signals).await,
            Err(refusal) => refuse(stream, &peer, refusal).await,
        }
    }
}

/// A refused client still gets a WireFormatInfo and then, for its first
/// command (the ConnectionInfo, which it sends synchronously), an
/// ExceptionResponse saying why, so `Connection.start()` fails with the
/// reason rather than a broken pipe. Bounded by [`REFUSAL_GRACE`].
async fn refuse(stream: Box<dyn Io>, peer: &str, refusal: Refusal) {
    tracing::info!(%peer, reason = %refusal, "OpenWire connection refused");
    let mut framed = Framed::new(stream, OpenWireCodec::new(Options::broker_handshake()));
    let text = refusal.to_string();
    let answer = async {
        let ours = WireFormatInfo::baton(Limits::handshake().max_frame_size);
        framed.send(Command::from(ours)).await?;
        while let Some(parsed) = framed.next().await {
            let reply: Command = match parsed? {
                Parsed::Command(Command::WireFormatInfo(_)) => continue,
                Parsed::Command(c) if c.response_required() => ExceptionResponse::new(
                    c.command_id(),
                    ExceptionClass::ResourceAllocation,
                    text.clone(),
                )
                .into(),
                _ => ConnectionError::new(ExceptionClass::ResourceAllocation, text.clone(), None)
                    .into(),
            };
            framed.send(reply).await?;
            break;
        }
        Ok::<(), CodecError>(())
    };
    let _ = tokio::time::timeout(REFUSAL_GRACE, answer).await;
    close(framed.get_mut()).await;
}

/// Serves one connection until it ends; then everything it held in the
/// broker is released.
pub async fn run(
    stream: Box<dyn Io>,
    peer: String,
    broker: Broker,
    config: Arc<ConnectionSettings>,
    signals: Stop,
) {
    let mut framed = Framed::new(stream, OpenWireCodec::new(Options::broker_handshake()));
    let mut handler = Handler::new(broker, config.clone(), peer.clone());
    match serve(&mut framed, &mut handler, &config, &signals).await {
        Ok(()) => tracing::debug!(%peer, "OpenWire client disconnected"),
        Err(End::Codec(CodecError::Io(e))) => {
            tracing::debug!(%peer, error = %e, "OpenWire connection lost")
        }
        Err(e) => {
            tracing::info!(%peer, error = %e, "closing OpenWire connection");
            let error = ConnectionError::new(ExceptionClass::Io, e.to_string(), None);
            let _ = tokio::time::timeout(Duration::from_secs(1), framed.send(error.into())).await;
        }
    }
    handler.close().await;
    close(framed.get_mut()).await;
}

/// Ends the connection in order (TLS close_notify, TCP FIN), bounded.
async fn close(stream: &mut Box<dyn Io>) {
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

type Wire = Framed<Box<dyn Io>, OpenWireCodec>;

async fn serve(
    framed: &mut Wire,
    handler: &mut Handler,
    config: &ConnectionSettings,
    signals: &Stop,
) -> Result<(), End> {
    // Ours goes out at once: the client blocks its first send until it
    // has it (OPENWIRE.md §1.4).
    let ours = WireFormatInfo::baton(config.max_frame_bytes);
    framed.send(Command::from(ours.clone())).await?;
    let theirs = tokio::select! {
        _ = signals.abort.cancelled() => return Ok(()),
        _ = signals.stop.cancelled() => return Ok(()),
        first = tokio::time::timeout(HANDSHAKE_TIMEOUT, framed.next()) => match first {
            Err(_) => return Err(End::NoHandshake),
            Ok(None) => return Ok(()),
            Ok(Some(parsed)) => match parsed? {
                Parsed::Command(Command::WireFormatInfo(w)) => w,
                Parsed::Command(other) => return Err(End::NotHandshake(other.name())),
                Parsed::Oversized(_) => return Err(End::NotHandshake("an oversized frame")),
            },
        },
    };
    let negotiated = negotiate(&ours, &theirs)?;
    handler.version = negotiated.version;
    // Until a ConnectionInfo is accepted, the handshake's 64 KiB limit
    // stays: an unauthenticated peer cannot make the broker buffer a
    // frame of the full limit (OPENWIRE.md §6.2).
    let mut accepted = false;
    framed
        .send(
            BrokerInfo {
                broker_id: BrokerId {
                    value: config.node_id.clone(),
                },
                broker_name: Some("baton".to_string()),
                ..BrokerInfo::default()
            }
            .into(),
        )
        .await?;
    let keep_alive = negotiated
        .keep_alive_interval_ms()
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms as u64));
    let inactivity = (negotiated.max_inactivity_duration > 0)
        .then(|| Duration::from_millis(negotiated.max_inactivity_duration as u64));
    // ActiveMQ's read check: after the initial delay, then every period,
    // the peer must have sent something since the last check (so silence
    // ends the connection after one to two periods). The client starts its
    // keep-alives after the same initial delay.
    let initial = Duration::from_millis(negotiated.initial_delay.max(0) as u64);
    let mut read_check = inactivity.map(|d| Instant::now() + initial.max(d));
    let mut read_since_check = false;
    let mut last_write = Instant::now();
    let aborted = signals.abort.cancelled();
    let stopping = signals.stop.cancelled();
    tokio::pin!(aborted, stopping);
    loop {
        let reading = !handler.closing && handler.pending.len() < config.max_pending_commits;
        let outbox: Option<Arc<Outbox>> = handler.core().map(|c| c.outbox().clone());
        let pull_due = handler.next_pull_due();
        let keep_alive_at = keep_alive.map(|d| last_write + d);
        tokio::select! {
            biased;
            _ = &mut aborted => return Ok(()),
            _ = &mut stopping => {
                while let Some(answer) = handler.pending.next().await {
                    for reply in handler.reply(answer).into_iter().flatten() {
                        framed.feed(reply).await?;
                    }
                }
                framed.flush().await?;
                return Ok(());
            }
            Some(answer) = handler.pending.next(), if !handler.pending.is_empty() => {
                let mut wrote = false;
                for reply in handler.reply(answer).into_iter().flatten() {
                    framed.feed(reply).await?;
                    wrote = true;
                }
                if wrote {
                    framed.flush().await?;
                    last_write = Instant::now();
                }
            }
            _ = ready(outbox.as_deref()), if outbox.is_some() => {
                if let Some(o) = &outbox {
                    if write_deliveries(framed, handler, o).await? {
                        last_write = Instant::now();
                    }
                }
            }
            item = framed.next(), if reading => {
                let Some(parsed) = item else { return Ok(()) };
                read_since_check = true;
                match parsed? {
                    Parsed::Command(command) => handler.on_command(command).await,
                    Parsed::Oversized(o) => {
                        framed.feed(too_large(&o, config.max_frame_bytes)).await?;
                        if let Some(ack) = handler.oversized_ack(&o) {
                            framed.feed(ack.into()).await?;
                        }
                        framed.flush().await?;
                        last_write = Instant::now();
                    }
                }
            }
            _ = sleep_until(until_ms(pull_due.unwrap_or(0))), if pull_due.is_some() => {
                for null in handler.expired_pulls(crate::message::now_ms()) {
                    framed.feed(null).await?;
                }
                framed.flush().await?;
                last_write = Instant::now();
            }
            _ = sleep_until(keep_alive_at.unwrap_or_else(Instant::now)), if keep_alive_at.is_some() => {
                framed.send(KeepAliveInfo::default().into()).await?;
                last_write = Instant::now();
            }
            _ = sleep_until(read_check.unwrap_or_else(Instant::now)), if read_check.is_some() => {
                if !read_since_check && reading {
                    return Err(End::Inactive(negotiated.max_inactivity_duration));
                }
                read_since_check = false;
                read_check = inactivity.map(|d| Instant::now() + d);
            }
        }
        if handler.closing && handler.pending.is_empty() {
            framed.flush().await?;
            return Ok(());
        }
        if !accepted && handler.core().is_some() {
            framed.codec_mut().options.limits = Limits::new(config.max_frame_bytes);
            accepted = true;
        }
    }
}

/// The answer to a frame above the size limit: an ExceptionResponse for a
/// sync command (so a failover client does not resend it forever), else a
/// ConnectionError.
fn too_large(o: &Oversized, max: usize) -> Command {
    let text = format!(
        "frame of {} bytes is larger than the {max} bytes this broker accepts",
        o.size
    );
    if o.response_required {
        ExceptionResponse::new(o.command_id, ExceptionClass::ResourceAllocation, text).into()
    } else {
        ConnectionError::new(ExceptionClass::ResourceAllocation, text, None).into()
    }
}

/// The tokio instant of a Unix time in ms.
fn until_ms(at: i64) -> Instant {
    let wait = at.saturating_sub(crate::message::now_ms()).max(0) as u64;
    Instant::now() + Duration::from_millis(wait)
}

async fn ready(outbox: Option<&Outbox>) {
    match outbox {
        Some(o) => o.ready().await,
        None => std::future::pending().await,
    }
}

/// Writes waiting deliveries as MessageDispatches. Returns whether
/// anything was written.
async fn write_deliveries(
    framed: &mut Wire,
    handler: &mut Handler,
    outbox: &Outbox,
) -> Result<bool, End> {
    let mut wrote = false;
    loop {
        let (deliveries, close) = outbox.take(WRITE_BATCH);
        if let Some(reason) = close {
            return Err(End::SlowConsumer(reason));
        }
        if deliveries.is_empty() {
            if wrote {
                framed.flush().await?;
            }
            return Ok(wrote);
        }
        let mut auto = Vec::new();
        for d in &deliveries {
            if let Some(dispatch) = handler.dispatch(d) {
                framed.feed(dispatch).await?;
                wrote = true;
            }
            if d.ack == AckMode::Auto {
                auto.push((d.subscription.clone(), d.message.id));
            }
        }
        if !auto.is_empty() {
            framed.flush().await?;
            if let Some(core) = handler.core() {
                core.written(&auto);
            }
        }
    }
}
