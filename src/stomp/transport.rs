//! How a session reaches its client: STOMP frames over a byte stream (TCP
//! or TLS: a `Framed` with [`StompCodec`]) or over WebSocket messages
//! ([`super::websocket::WsTransport`]). The session and the refusal of a
//! connection over a limit are written once against [`Transport`].

use super::codec::{CodecError, StompCodec};
use super::frame::{Frame, Parsed};
use crate::broker::{Delivery, Protocol};
use futures::{Sink, Stream};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::Framed;

/// A connection that yields parsed client frames and heart-beats, and takes
/// frames and deliveries (written as MESSAGE frames) to send. Closing the sink ends the connection in order (TLS
/// close_notify and TCP FIN, or a WebSocket Close).
pub trait Transport:
    Stream<Item = Result<Parsed, CodecError>>
    + Sink<Frame, Error = CodecError>
    + Sink<Delivery, Error = CodecError>
    + Unpin
{
    /// The codec that parses and encodes the frames: the session sets its
    /// limits and, once CONNECT negotiated it, its version.
    fn codec_mut(&mut self) -> &mut StompCodec;

    /// Queues a heart-beat (an EOL) to go out with the next flush.
    fn queue_heartbeat(&mut self);

    /// What the admin views call the connection's protocol.
    fn protocol(&self) -> Protocol;
}

impl<S: AsyncRead + AsyncWrite + Unpin> Transport for Framed<S, StompCodec> {
    fn codec_mut(&mut self) -> &mut StompCodec {
        Framed::codec_mut(self)
    }

    fn queue_heartbeat(&mut self) {
        self.write_buffer_mut().extend_from_slice(b"\n");
    }

    fn protocol(&self) -> Protocol {
        Protocol::Stomp
    }
}
