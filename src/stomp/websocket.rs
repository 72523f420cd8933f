//! STOMP over WebSocket (`websocket.listen`), as browsers speak it with
//! `@stomp/stompjs`: the HTTP upgrade (any path; the `v10.stomp`,
//! `v11.stomp` and `v12.stomp` subprotocols; the page's `Origin` checked),
//! then [`WsTransport`], which feeds the payload of each text or binary
//! message to the same [`StompCodec`] the TCP listener uses and sends each
//! frame, and each heart-beat EOL, as one message. The session on top is
//! the one of every STOMP connection.

use super::codec::{CodecError, StompCodec};
use super::frame::{Limits, Parsed};
use super::transport::Transport;
use super::SessionConfig;
use crate::admission::{Permit, Refusal};
use crate::broker::Broker;
use crate::listener::{Io, Serve};
use crate::stop::Stop;
use bytes::BytesMut;
use futures::{ready, Sink, SinkExt, Stream, StreamExt};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{header, HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;
use tokio_util::codec::{Decoder, Encoder};

/// The subprotocols offered by STOMP clients, in our order of preference.
/// Which one is chosen does not limit the version CONNECT negotiates.
pub const SUBPROTOCOLS: [&str; 3] = ["v12.stomp", "v11.stomp", "v10.stomp"];

/// How long a client gets for the HTTP upgrade (after TLS).
const UPGRADE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Serves the WebSocket port's connections (for [`crate::listener::run`]):
/// the upgrade, then the STOMP session every STOMP connection runs.
#[derive(Clone)]
pub struct Upgrade {
    pub broker: Broker,
    /// The STOMP sessions' settings.
    pub session: Arc<SessionConfig>,
    /// `websocket.allowed_origins`.
    pub allowed_origins: Arc<Vec<String>>,
    pub signals: Stop,
}

impl Serve for Upgrade {
    async fn serve(self, stream: Box<dyn Io>, peer: String, admitted: Result<Permit, Refusal>) {
        let upgraded = tokio::select! {
            _ = self.signals.stop.cancelled() => return,
            _ = self.signals.abort.cancelled() => return,
            r = tokio::time::timeout(UPGRADE_TIMEOUT, accept(stream, &self.allowed_origins, &self.session.limits, &peer)) => r,
        };
        match upgraded {
            Ok(Ok(transport)) => {
                super::server::serve_transport(
                    transport,
                    peer,
                    admitted,
                    self.broker,
                    self.session,
                    self.signals,
                )
                .await
            }
            Ok(Err(e)) => tracing::info!(%peer, error = %e, "WebSocket handshake failed"),
            Err(_) => tracing::info!(%peer, "WebSocket handshake timed out"),
        }
    }
}

/// The subprotocol to answer a client's `Sec-WebSocket-Protocol` offers
/// with, if it offered one of ours.
pub fn choose_subprotocol<'a>(offers: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let offered: Vec<&str> = offers
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    SUBPROTOCOLS
        .into_iter()
        .find(|ours| offered.iter().any(|o| o.eq_ignore_ascii_case(ours)))
}

/// Whether a page from `origin` may open a connection that arrived with
/// this `Host` header. No `Origin` (not a browser) is allowed: only a
/// browser sends a user's ambient credentials for a page of another site.
/// Allowed are pages from the host the client connected to (any scheme and
/// port), and the origins of `websocket.allowed_origins` (`*`: any).
pub fn origin_allowed(origin: Option<&str>, host: Option<&str>, allowed: &[String]) -> bool {
    let Some(origin) = origin else {
        return true;
    };
    let origin = origin.trim().trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let origin_host = url::Url::parse(origin)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    let host = host
        .and_then(|h| url::Url::parse(&format!("ws://{h}")).ok())
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    matches!((origin_host, host), (Some(o), Some(h)) if o == h)
}

/// The largest WebSocket message a frame within `limits` fits in.
fn max_message_bytes(limits: &Limits) -> usize {
    let line = limits.max_header_bytes.saturating_add(2);
    limits
        .max_body_bytes
        .saturating_add(limits.max_headers.saturating_add(1).saturating_mul(line))
        .saturating_add(16)
}

/// Completes the HTTP upgrade of an accepted connection: refuses a page
/// from an origin not allowed (403), answers a STOMP subprotocol if one
/// was offered.
pub async fn accept<S>(
    stream: S,
    allowed_origins: &[String],
    limits: &Limits,
    peer: &str,
) -> Result<WsTransport<S>, WsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // The callback's types are tungstenite's (`ErrorResponse` is large).
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, mut response: Response| {
        let text = |name| request.headers().get(name).and_then(|v| v.to_str().ok());
        let origin = text(header::ORIGIN);
        if !origin_allowed(origin, text(header::HOST), allowed_origins) {
            let origin = origin.unwrap_or_default();
            tracing::info!(%peer, origin, "WebSocket connection refused: origin not allowed (websocket.allowed_origins)");
            let mut refused = ErrorResponse::new(Some(format!(
                "Origin {origin} is not allowed to connect (websocket.allowed_origins)\n"
            )));
            *refused.status_mut() = StatusCode::FORBIDDEN;
            return Err(refused);
        }
        let offers = request
            .headers()
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok());
        if let Some(chosen) = choose_subprotocol(offers) {
            response.headers_mut().insert(
                header::SEC_WEBSOCKET_PROTOCOL,
                HeaderValue::from_static(chosen),
            );
        }
        Ok(response)
    };
    let max = max_message_bytes(limits);
    let config = WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max));
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(config)).await?;
    Ok(WsTransport::new(ws))
}

/// A STOMP connection over WebSocket messages. The payloads are parsed as
/// one byte stream, so a frame may also span messages (stompjs's
/// `splitLargeFrames`) and one message may hold several.
pub struct WsTransport<S> {
    ws: WebSocketStream<S>,
    codec: StompCodec,
    read: BytesMut,
    /// Whether the peer closed (or the connection ended): nothing more to
    /// read.
    closed: bool,
    /// A heart-beat EOL to send before the next flush.
    heartbeat: bool,
}

impl<S> WsTransport<S> {
    pub fn new(ws: WebSocketStream<S>) -> WsTransport<S> {
        WsTransport {
            ws,
            codec: StompCodec::default(),
            read: BytesMut::new(),
            closed: false,
            heartbeat: false,
        }
    }
}

/// A WebSocket failure as the session sees it: the connection is gone, or
/// the peer broke the protocol (ERROR, then close).
fn ws_error(e: WsError) -> CodecError {
    match e {
        WsError::Io(io) => CodecError::Io(io),
        WsError::ConnectionClosed | WsError::AlreadyClosed => CodecError::Io(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "WebSocket closed",
        )),
        other => CodecError::WebSocket(other.to_string()),
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsTransport<S> {
    type Item = Result<Parsed, CodecError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.closed {
                return Poll::Ready(None);
            }
            match this.codec.decode(&mut this.read) {
                Ok(Some(parsed)) => return Poll::Ready(Some(Ok(parsed))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            match ready!(this.ws.poll_next_unpin(cx)) {
                Some(Ok(Message::Text(text))) => this.read.extend_from_slice(text.as_bytes()),
                Some(Ok(Message::Binary(data))) => this.read.extend_from_slice(&data),
                // tungstenite answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => {}
                Some(Ok(Message::Close(_)))
                | Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed))
                | None => {
                    this.closed = true;
                    // An error if the peer stopped in the middle of a frame.
                    if let Err(e) = this.codec.decode_eof(&mut this.read) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(ws_error(e)))),
            }
        }
    }
}

/// Each item the codec encodes (a frame, a delivery) goes out as one
/// WebSocket message.
impl<S, I> Sink<I> for WsTransport<S>
where
    S: AsyncRead + AsyncWrite + Unpin,
    StompCodec: Encoder<I, Error = CodecError>,
{
    type Error = CodecError;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), CodecError>> {
        self.ws.poll_ready_unpin(cx).map_err(ws_error)
    }

    fn start_send(mut self: Pin<&mut Self>, item: I) -> Result<(), CodecError> {
        let mut encoded = BytesMut::new();
        self.codec.encode(item, &mut encoded)?;
        let bytes = encoded.freeze();
        // Text where the frame is UTF-8 (what browsers' clients expect
        // most), binary for a body that is not.
        let message =
            Utf8Bytes::try_from(bytes.clone()).map_or(Message::Binary(bytes), Message::Text);
        self.ws.start_send_unpin(message).map_err(ws_error)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), CodecError>> {
        if self.heartbeat {
            ready!(self.ws.poll_ready_unpin(cx)).map_err(ws_error)?;
            self.ws
                .start_send_unpin(Message::Text(Utf8Bytes::from_static("\n")))
                .map_err(ws_error)?;
            self.heartbeat = false;
        }
        self.ws.poll_flush_unpin(cx).map_err(ws_error)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), CodecError>> {
        self.ws.poll_close_unpin(cx).map_err(ws_error)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for WsTransport<S> {
    fn codec_mut(&mut self) -> &mut StompCodec {
        &mut self.codec
    }

    fn queue_heartbeat(&mut self) {
        self.heartbeat = true;
    }

    fn protocol(&self) -> crate::broker::Protocol {
        crate::broker::Protocol::WebSocket
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::Frame;
    use super::*;

    #[test]
    fn subprotocol_prefers_the_newest_offered() {
        assert_eq!(
            choose_subprotocol(["v10.stomp, v11.stomp, v12.stomp"]),
            Some("v12.stomp")
        );
        assert_eq!(
            choose_subprotocol(["v10.stomp", "v11.stomp"]),
            Some("v11.stomp")
        );
        assert_eq!(choose_subprotocol(["V10.STOMP"]), Some("v10.stomp"));
        assert_eq!(choose_subprotocol(["mqtt", "wamp"]), None);
        assert_eq!(choose_subprotocol(Vec::<&str>::new()), None);
    }

    #[test]
    fn origins_same_host_listed_or_any() {
        let none: Vec<String> = Vec::new();
        // Not a browser.
        assert!(origin_allowed(None, Some("broker:61614"), &none));
        // The page's host is the broker's (scheme and port may differ).
        assert!(origin_allowed(
            Some("https://Broker.example:8443"),
            Some("broker.example:61614"),
            &none
        ));
        assert!(origin_allowed(
            Some("http://[::1]:8080"),
            Some("[::1]:61614"),
            &none
        ));
        assert!(!origin_allowed(
            Some("https://evil.example"),
            Some("broker.example:61614"),
            &none
        ));
        assert!(!origin_allowed(Some("null"), Some("broker:61614"), &none));
        assert!(!origin_allowed(Some("https://broker.example"), None, &none));
        let listed = vec!["https://app.example/".to_string()];
        assert!(origin_allowed(
            Some("https://APP.example"),
            Some("broker:61614"),
            &listed
        ));
        assert!(!origin_allowed(
            Some("http://app.example"),
            Some("broker:61614"),
            &listed
        ));
        let any = vec!["*".to_string()];
        assert!(origin_allowed(Some("https://x.example"), Some("b"), &any));
    }

    /// A server transport and a tungstenite client over an in-memory pipe.
    async fn pair() -> (
        WsTransport<tokio::io::DuplexStream>,
        WebSocketStream<tokio::io::DuplexStream>,
    ) {
        let (a, b) = tokio::io::duplex(1 << 16);
        let client = tokio::spawn(async move {
            tokio_tungstenite::client_async("ws://broker/any/path", b)
                .await
                .expect("client handshake")
                .0
        });
        let server = tokio_tungstenite::accept_async(a).await.expect("accept");
        (WsTransport::new(server), client.await.expect("client"))
    }

    fn frame(item: Option<Result<Parsed, CodecError>>) -> Frame {
        match item {
            Some(Ok(Parsed::Frame(f, _))) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn messages_carry_frames_and_heartbeats_both_ways() {
        let (mut server, mut client) = pair().await;
        // One frame per message, text or binary; an EOL message is a
        // heart-beat; a frame split over two messages, two in one.
        for m in [
            Message::text("CONNECT\naccept-version:1.2\n\n\0"),
            Message::text("\n"),
            Message::binary(&b"SEND\ndestination:/queue/a\ncontent-length:2\n\n\xff\0\0"[..]),
            Message::text("SEND\ndestination:/queue/b\n\nfir"),
            Message::text("st\0SEND\ndestination:/queue/c\n\nsecond\0"),
        ] {
            client.send(m).await.unwrap();
        }
        assert_eq!(
            frame(server.next().await).command,
            super::super::frame::Command::Connect
        );
        assert!(matches!(
            server.next().await,
            Some(Ok(Parsed::Heartbeat(1)))
        ));
        assert_eq!(&frame(server.next().await).body[..], b"\xff\0");
        assert_eq!(&frame(server.next().await).body[..], b"first");
        assert_eq!(&frame(server.next().await).body[..], b"second");

        // Out: a UTF-8 frame as text, another as binary, a heart-beat.
        let text = Frame::new(super::super::frame::Command::Message).with_body("hi");
        let binary = Frame::new(super::super::frame::Command::Message).with_body(&b"\xfe"[..]);
        server.feed(text).await.unwrap();
        server.feed(binary).await.unwrap();
        server.queue_heartbeat();
        SinkExt::<Frame>::flush(&mut server).await.unwrap();
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::text("MESSAGE\n\nhi\0")
        );
        assert_eq!(
            client.next().await.unwrap().unwrap(),
            Message::binary(&b"MESSAGE\n\n\xfe\0"[..])
        );
        assert_eq!(client.next().await.unwrap().unwrap(), Message::text("\n"));

        // A Close in the middle of a frame is an error, then the end.
        client
            .send(Message::text("SEND\ndestination:/queue/d\n"))
            .await
            .unwrap();
        client.close(None).await.unwrap();
        assert!(matches!(server.next().await, Some(Err(CodecError::Io(_)))));
        assert!(server.next().await.is_none());
    }

    #[tokio::test]
    async fn a_malformed_frame_is_a_frame_error() {
        let (mut server, mut client) = pair().await;
        client.send(Message::text("BOGUS\n\n\0")).await.unwrap();
        assert!(matches!(
            server.next().await,
            Some(Err(CodecError::Frame(
                super::super::frame::FrameError::UnknownCommand(_)
            )))
        ));
    }

    #[test]
    fn a_frame_within_the_limits_fits_in_a_message() {
        let limits = Limits {
            max_body_bytes: 100,
            max_headers: 2,
            max_header_bytes: 10,
        };
        // Command line and two headers of 10 bytes with CRLF, the blank
        // line, the body and the NUL.
        let largest = 3 * 12 + 2 + 100 + 1;
        assert!(max_message_bytes(&limits) >= largest);
    }
}
