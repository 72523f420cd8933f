//! `tokio_util` codec for STOMP frames, built on [`super::frame`].
//!
//! The decoder yields [`Parsed::Heartbeat`] items as well as frames, so the
//! session can count inbound activity for heart-beating. The protocol version
//! starts at STOMP 1.0 and is changed by the session once negotiated, e.g.
//! `framed.decoder_mut().version = Version::V1_2` (`codec_mut()` on a
//! `Framed`).

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::delivery::encode_delivery;
use super::frame::{encode, Frame, FrameError, Limits, Parsed, Parser, Version};
use crate::broker::Delivery;

/// Never pre-allocate more than this for a frame whose `content-length` is
/// known but whose bytes have not arrived: a peer announcing a large body
/// must actually send it before we hold that much memory for it.
const MAX_RESERVE: usize = 1 << 20;

/// STOMP frame codec: decodes [`Parsed`] items, encodes [`Frame`]s and
/// the core's [`Delivery`]s (as MESSAGE frames).
#[derive(Debug, Clone)]
pub struct StompCodec {
    /// Version used for header escaping in both directions.
    pub version: Version,
    /// Limits applied to inbound frames.
    pub limits: Limits,
    /// Progress through a partially received frame, so that bytes are not
    /// re-scanned on every read.
    parser: Parser,
}

impl StompCodec {
    /// A codec speaking STOMP 1.0 until the version is negotiated.
    pub fn new(limits: Limits) -> Self {
        StompCodec {
            version: Version::V1_0,
            limits,
            parser: Parser::new(),
        }
    }
}

impl Default for StompCodec {
    fn default() -> Self {
        StompCodec::new(Limits::default())
    }
}

/// Errors from [`StompCodec`].
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer broke the WebSocket protocol (a message over the size
    /// limit, bad framing): see [`super::websocket`].
    #[error("{0}")]
    WebSocket(String),
}

impl Decoder for StompCodec {
    type Item = Parsed;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Parsed>, CodecError> {
        match self.parser.parse(src, self.version, &self.limits)? {
            Some(parsed) => {
                let consumed = match &parsed {
                    Parsed::Frame(_, n) | Parsed::Heartbeat(n) => *n,
                };
                src.advance(consumed.min(src.len()));
                crate::metrics::get().bytes_in.inc_by(consumed as u64);
                Ok(Some(parsed))
            }
            None => {
                if let Some(total) = self.parser.expected_len() {
                    let missing = total.saturating_sub(src.len());
                    src.reserve(missing.min(MAX_RESERVE));
                }
                Ok(None)
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Parsed>, CodecError> {
        match self.decode(src)? {
            Some(parsed) => Ok(Some(parsed)),
            None if src.is_empty() => Ok(None),
            None => {
                let buffered = src.len();
                src.clear();
                self.parser.reset();
                Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed in the middle of a frame ({buffered} bytes buffered)"
                    ),
                )
                .into())
            }
        }
    }
}

impl Encoder<Delivery> for StompCodec {
    type Error = CodecError;

    fn encode(&mut self, delivery: Delivery, dst: &mut BytesMut) -> Result<(), CodecError> {
        counted(dst, |dst| encode_delivery(&delivery, self.version, dst));
        Ok(())
    }
}

impl Encoder<Frame> for StompCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Frame, dst: &mut BytesMut) -> Result<(), CodecError> {
        counted(dst, |dst| encode(&frame, self.version, dst));
        Ok(())
    }
}

/// Runs `write` on `dst` and counts the bytes it added as sent.
fn counted(dst: &mut BytesMut, write: impl FnOnce(&mut BytesMut)) {
    let before = dst.len();
    write(dst);
    crate::metrics::get()
        .bytes_out
        .inc_by((dst.len() - before) as u64);
}

#[cfg(test)]
mod tests {
    use super::super::frame::Command;
    use super::*;
    use futures::{SinkExt, StreamExt};
    use tokio_util::codec::{FramedRead, FramedWrite};

    fn frame(parsed: Parsed) -> Frame {
        match parsed {
            Parsed::Frame(f, _) => f,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn framed_read_over_bytes() {
        let input: &[u8] = b"\nCONNECT\naccept-version:1.2\n\n\0\r\n\
            SEND\ndestination:/q\ncontent-length:3\n\na\0b\0\n\
            DISCONNECT\nreceipt:9\n\n\0";
        let mut reader = FramedRead::new(input, StompCodec::default());
        let mut items = Vec::new();
        while let Some(item) = reader.next().await {
            items.push(item.unwrap());
        }
        assert_eq!(items.len(), 6);
        assert_eq!(items[0], Parsed::Heartbeat(1));
        let connect = frame(items[1].clone());
        assert_eq!(connect.command, Command::Connect);
        assert_eq!(connect.header("accept-version"), Some("1.2"));
        assert_eq!(items[2], Parsed::Heartbeat(2));
        assert_eq!(&frame(items[3].clone()).body[..], b"a\0b");
        assert_eq!(items[4], Parsed::Heartbeat(1));
        assert_eq!(frame(items[5].clone()).header("receipt"), Some("9"));
    }

    #[test]
    fn decode_byte_by_byte() {
        let input = b"SEND\ndestination:/q\n\nhello\0\nMESSAGE\ncontent-length:2\n\n\0\0\0";
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::new();
        let mut items = Vec::new();
        for &b in input.iter() {
            buf.extend_from_slice(&[b]);
            while let Some(item) = codec.decode(&mut buf).unwrap() {
                items.push(item);
            }
        }
        assert!(buf.is_empty());
        assert_eq!(
            items,
            vec![
                Parsed::Frame(
                    Frame::new(Command::Send)
                        .with_header("destination", "/q")
                        .with_body("hello"),
                    27
                ),
                Parsed::Heartbeat(1),
                Parsed::Frame(
                    Frame::new(Command::Message)
                        .with_header("content-length", "2")
                        .with_body(&b"\0\0"[..]),
                    29
                ),
            ]
        );
    }

    #[test]
    fn version_switch_changes_escaping() {
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::from(&b"SEND\nh:a\\cb\n\n\0SEND\nh:a\\cb\n\n\0"[..]);
        let first = frame(codec.decode(&mut buf).unwrap().unwrap());
        assert_eq!(first.header("h"), Some("a\\cb"));
        codec.version = Version::V1_2;
        let second = frame(codec.decode(&mut buf).unwrap().unwrap());
        assert_eq!(second.header("h"), Some("a:b"));

        let mut out = BytesMut::new();
        codec
            .encode(
                Frame::new(Command::Message).with_header("h", "a:b"),
                &mut out,
            )
            .unwrap();
        assert_eq!(&out[..], b"MESSAGE\nh:a\\cb\n\n\0");
    }

    #[test]
    fn errors_are_frame_errors() {
        let mut codec = StompCodec::new(Limits {
            max_headers: 1,
            ..Limits::default()
        });
        let mut buf = BytesMut::from(&b"SEND\na:1\nb:2\n\n\0"[..]);
        match codec.decode(&mut buf) {
            Err(CodecError::Frame(FrameError::TooManyHeaders { limit: 1 })) => {}
            other => panic!("{other:?}"),
        }
        let err = CodecError::from(FrameError::TooManyHeaders { limit: 1 });
        assert_eq!(
            err.to_string(),
            FrameError::TooManyHeaders { limit: 1 }.to_string()
        );
        let mut buf = BytesMut::from(&b"BOGUS\n"[..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(CodecError::Frame(FrameError::UnknownCommand(_)))
        ));
    }

    #[test]
    fn eof_mid_frame_is_an_error() {
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::from(&b"SEND\ndestination:/q\n\nhal"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        match codec.decode_eof(&mut buf) {
            Err(CodecError::Io(e)) => {
                assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
                assert!(e.to_string().contains("middle of a frame"));
            }
            other => panic!("{other:?}"),
        }
        // A clean EOF after complete frames is fine.
        let mut buf = BytesMut::from(&b"ACK\nid:1\n\n\0"[..]);
        assert!(codec.decode_eof(&mut buf).unwrap().is_some());
        assert!(codec.decode_eof(&mut buf).unwrap().is_none());
    }

    #[test]
    fn reserves_for_known_content_length() {
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::from(&b"SEND\ncontent-length:100000\n\nabc"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        // 28 header bytes + 100000 body bytes + NUL.
        assert!(buf.capacity() >= 100_029);
        // Large announced bodies are not pre-allocated in full.
        let mut codec = StompCodec::default();
        let mut buf = BytesMut::from(&b"SEND\ncontent-length:100000000\n\n"[..]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() < 4 * MAX_RESERVE);
    }

    #[tokio::test]
    async fn round_trip_over_duplex() {
        let (client, server) = tokio::io::duplex(64);
        let codec = StompCodec {
            version: Version::V1_1,
            ..StompCodec::default()
        };
        let mut writer = FramedWrite::new(client, codec.clone());
        let mut reader = FramedRead::new(server, codec);

        let frames: Vec<Frame> = (0..50)
            .map(|i| {
                let body = vec![b'x'; i * 37];
                Frame::new(Command::Send)
                    .with_header("destination", format!("/queue/{i}:weird\\name"))
                    .with_header("content-length", body.len().to_string())
                    .with_body(body)
            })
            .collect();
        let expected = frames.clone();
        let send = tokio::spawn(async move {
            for f in &frames {
                writer.send(f.clone()).await.unwrap();
            }
            SinkExt::<Frame>::close(&mut writer).await.unwrap();
        });
        let mut received = Vec::new();
        while let Some(item) = reader.next().await {
            received.push(frame(item.unwrap()));
        }
        send.await.unwrap();
        assert_eq!(received, expected);
    }
}
