//! One task per connection: selects over the socket, the broker's outbox,
//! commits waiting for receipts, the heart-beat timers and shutdown.

use super::error::SessionError;
use super::frame::{Command, Frame, Parsed};
use super::handler::{Handler, SessionConfig};
use super::limits::{is_non_persistent_send, FlowPause};
use super::transport::Transport;
use crate::broker::{AckMode, Broker, Outbox};
use crate::stop::Stop;
use futures::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};

/// Most deliveries written between two checks of the other event sources.
const WRITE_BATCH: usize = 256;
/// A client that does not take our bytes for this long is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one client connection until it ends.
pub async fn run<T: Transport>(
    mut framed: T,
    peer: String,
    broker: Broker,
    config: Arc<SessionConfig>,
    signals: Stop,
) {
    framed.codec_mut().limits = config.limits;
    let mut handler = Handler::new(broker.clone(), config.clone());
    handler.peer = peer.clone();
    let outcome = serve(&mut framed, &mut handler, &config, &signals, &peer).await;
    match &outcome {
        Ok(()) => tracing::debug!(%peer, "client disconnected"),
        Err((SessionError::Io(e), _)) => tracing::debug!(%peer, error = %e, "connection lost"),
        Err((e, _)) => tracing::info!(%peer, error = %e, "closing connection with ERROR"),
    }
    if let Err((SessionError::Frame(e), _)) = &outcome {
        super::limits::count_frame_limit(e);
    }
    if let Err((e, receipt)) = outcome {
        if !matches!(e, SessionError::Io(_)) {
            let frame = e.to_frame(receipt.as_deref());
            let _ = tokio::time::timeout(Duration::from_secs(1), framed.send(frame)).await;
        }
    }
    handler.close().await;
    // Ends the connection in order (TLS close_notify and TCP FIN, or a
    // WebSocket Close) after whatever is still buffered. A client that stops
    // reading gets a second to take the bytes; the socket is closed when
    // dropped either way.
    let _ =
        tokio::time::timeout(Duration::from_secs(1), SinkExt::<Frame>::close(&mut framed)).await;
}

type Failure = (SessionError, Option<String>);

fn fail(e: impl Into<SessionError>) -> Failure {
    (e.into(), None)
}

async fn serve<T: Transport>(
    framed: &mut T,
    handler: &mut Handler,
    config: &SessionConfig,
    signals: &Stop,
    peer: &str,
) -> Result<(), Failure> {
    // Until CONNECT negotiates heart-beats, a client gets this long to speak.
    let connect_timeout = Duration::from_secs(30);
    let mut read_deadline = Instant::now() + connect_timeout;
    let mut last_write = Instant::now();
    let mut flow = FlowPause::default();
    let memory = handler.broker().memory().clone();
    // Made once: a cancellation future made in every turn of the loop
    // registers with its token and unregisters again each time.
    let aborted = signals.abort.cancelled();
    let stopping = signals.stop.cancelled();
    tokio::pin!(aborted, stopping);
    loop {
        let (send_every, expect_every) = match &handler.connected {
            Some(c) => (c.send_every_ms, c.expect_every_ms),
            None => (0, 0),
        };
        let heartbeat_at = last_write + Duration::from_millis(send_every.max(1));
        let reading = !handler.disconnecting
            && handler.pending.len() < config.max_pending_commits
            && !flow.is_paused();
        let outbox = handler.connected.as_ref().map(|c| c.core.outbox().clone());
        tokio::select! {
            biased;
            _ = &mut aborted => return Err(fail(SessionError::Demoted)),
            _ = &mut stopping => {
                finish_pending(framed, handler).await?;
                return Err(fail(SessionError::ShuttingDown));
            }
            Some((receipt, result)) = handler.pending.next(), if !handler.pending.is_empty() => {
                if let Err(e) = result {
                    return Err((e.into(), receipt));
                }
                if let Some(r) = receipt {
                    write(framed, Frame::new(Command::Receipt).with_header("receipt-id", r)).await?;
                    last_write = Instant::now();
                }
            }
            _ = outbox_ready(outbox.as_deref()), if outbox.is_some() => {
                if let Some(o) = &outbox {
                    if write_deliveries(framed, handler, o).await? {
                        last_write = Instant::now();
                    }
                }
            }
            item = framed.next(), if reading => {
                let parsed = match item {
                    None => return Ok(()),
                    Some(r) => r.map_err(|e| fail(SessionError::from(e)))?,
                };
                if expect_every > 0 {
                    read_deadline = Instant::now() + Duration::from_millis(expect_every * 2);
                } else if handler.connected.is_some() {
                    read_deadline = far_future();
                }
                if let Parsed::Frame(frame, _) = parsed {
                    let receipt = frame.header("receipt").map(str::to_string);
                    let was_connected = handler.connected.is_some();
                    let charged = is_non_persistent_send(&frame);
                    let reply = handler.on_frame(frame).await.map_err(|e| (e, receipt))?;
                    flow.after_frame(charged, memory.exhausted());
                    if let Some(reply) = reply {
                        write(framed, reply).await?;
                        last_write = Instant::now();
                    }
                    if !was_connected {
                        if let Some(c) = &handler.connected {
                            framed.codec_mut().version = c.version;
                            c.core.outbox().describe(crate::broker::ConnMeta {
                                peer: peer.to_string(),
                                protocol: framed.protocol(),
                                version: c.version.as_str().to_string(),
                                client_id: c.client_id.clone(),
                                connected_at: crate::message::now_ms(),
                            });
                            read_deadline = if c.expect_every_ms > 0 {
                                Instant::now() + Duration::from_millis(c.expect_every_ms * 2)
                            } else {
                                far_future()
                            };
                        }
                    }
                }
            }
            _ = memory.room(), if flow.is_paused() => {
                flow.resume();
                // The client's heart-beats waited in the socket meanwhile.
                if expect_every > 0 {
                    read_deadline = Instant::now() + Duration::from_millis(expect_every * 2);
                }
            }
            _ = sleep_until(heartbeat_at), if send_every > 0 => {
                framed.queue_heartbeat();
                flush(framed).await?;
                last_write = Instant::now();
            }
            _ = sleep_until(read_deadline), if !flow.is_paused() => {
                return Err(fail(if handler.connected.is_some() {
                    SessionError::HeartbeatTimeout(expect_every * 2)
                } else {
                    SessionError::Protocol(format!("no CONNECT frame within {} s", connect_timeout.as_secs()))
                }));
            }
        }
        if handler.disconnecting && handler.pending.is_empty() {
            return Ok(());
        }
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Sends the receipts of everything already committed or committing.
async fn finish_pending<T: Transport>(
    framed: &mut T,
    handler: &mut Handler,
) -> Result<(), Failure> {
    while let Some((receipt, result)) = handler.pending.next().await {
        if let Err(e) = result {
            return Err((e.into(), receipt));
        }
        if let Some(r) = receipt {
            write(
                framed,
                Frame::new(Command::Receipt).with_header("receipt-id", r),
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes waiting deliveries; auto-acknowledged ones are reported to the
/// broker as consumed once flushed. Returns whether anything was written.
async fn write_deliveries<T: Transport>(
    framed: &mut T,
    handler: &mut Handler,
    outbox: &Outbox,
) -> Result<bool, Failure> {
    // Deliveries are written in the version CONNECT negotiated, which the
    // codec holds from then on.
    if handler.connected.is_none() {
        return Ok(false);
    }
    let mut wrote = false;
    loop {
        let (deliveries, close) = outbox.take(WRITE_BATCH);
        if let Some(reason) = close {
            return Err(fail(SessionError::SlowConsumer(reason)));
        }
        if deliveries.is_empty() {
            return Ok(wrote);
        }
        let mut auto = Vec::new();
        for d in deliveries {
            if d.ack == AckMode::Auto {
                auto.push((d.subscription.clone(), d.message.id));
            }
            framed
                .feed(d)
                .await
                .map_err(|e| fail(SessionError::from(e)))?;
        }
        flush(framed).await?;
        wrote = true;
        if !auto.is_empty() {
            if let Some(c) = &handler.connected {
                c.core.written(&auto);
            }
        }
    }
}

async fn outbox_ready(outbox: Option<&Outbox>) {
    match outbox {
        Some(o) => o.ready().await,
        None => std::future::pending().await,
    }
}

async fn write<T: Transport>(framed: &mut T, frame: Frame) -> Result<(), Failure> {
    framed
        .feed(frame)
        .await
        .map_err(|e| fail(SessionError::from(e)))?;
    flush(framed).await
}

async fn flush<T: Transport>(framed: &mut T) -> Result<(), Failure> {
    match tokio::time::timeout(WRITE_TIMEOUT, SinkExt::<Frame>::flush(framed)).await {
        Ok(r) => r.map_err(|e| fail(SessionError::from(e))),
        Err(_) => Err(fail(SessionError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "client stopped reading",
        )))),
    }
}
