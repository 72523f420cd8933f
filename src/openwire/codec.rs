//! `tokio_util` codec for OpenWire frames, built on [`super::frame`].
//!
//! Resumable: a frame is decoded once all its bytes are there (the size
//! prefix says how many), and an oversized frame is reported as soon as its
//! header arrived and then discarded as it streams in, never buffered. The
//! connection task changes `options` after the handshake, e.g.
//! `framed.codec_mut().options.limits = Limits::new(max)`.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use super::command::Command;
use super::error::{EncodeError, FrameError};
use super::frame::{decode_frame, encode, head, Head, Options, Parsed};

/// Never pre-allocate more than this for a frame whose bytes have not
/// arrived: a peer announcing a large frame must send it first.
const MAX_RESERVE: usize = 1 << 20;

/// OpenWire codec: decodes [`Parsed`] items, encodes [`Command`]s.
#[derive(Debug, Clone)]
pub struct OpenWireCodec {
    pub options: Options,
    /// Bytes of an oversized frame still to be discarded.
    skipping: usize,
}

impl OpenWireCodec {
    pub fn new(options: Options) -> Self {
        OpenWireCodec {
            options,
            skipping: 0,
        }
    }

    /// Whether the codec is in the middle of discarding an oversized frame.
    pub fn is_skipping(&self) -> bool {
        self.skipping > 0
    }
}

/// Errors from [`OpenWireCodec`].
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Frame(#[from] FrameError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Decoder for OpenWireCodec {
    type Item = Parsed;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Parsed>, CodecError> {
        if self.skipping > 0 {
            let n = self.skipping.min(src.len());
            src.advance(n);
            self.skipping -= n;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        match head(src, &self.options)? {
            Head::Incomplete(total) => {
                if let Some(total) = total {
                    let missing = total.saturating_sub(src.len());
                    src.reserve(missing.min(MAX_RESERVE));
                }
                Ok(None)
            }
            Head::Complete(len) => {
                let frame = src.split_to(len).freeze();
                Ok(Some(Parsed::Command(decode_frame(frame, &self.options)?)))
            }
            Head::Oversized(o) => {
                src.advance(o.header_len);
                self.skipping = o.remaining;
                Ok(Some(Parsed::Oversized(o)))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Parsed>, CodecError> {
        match self.decode(src)? {
            Some(parsed) => Ok(Some(parsed)),
            None if src.is_empty() && self.skipping == 0 => Ok(None),
            None => {
                let buffered = src.len();
                src.clear();
                self.skipping = 0;
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

/// One `Encoder` impl only: with a second one (say for `&Command`),
/// `flush()` and `close()` on a `Framed` would need type annotations.
impl Encoder<Command> for OpenWireCodec {
    type Error = CodecError;

    fn encode(&mut self, command: Command, dst: &mut BytesMut) -> Result<(), CodecError> {
        encode(&command, dst)?;
        Ok(())
    }
}
