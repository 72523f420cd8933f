//! OpenWire framing (OPENWIRE.md §1.1, §6.2): pure and synchronous.
//!
//! ```text
//! +----------------+-----------+-----------------------------+
//! | size: i32 BE   | type: u8  | body (loose encoding)       |
//! +----------------+-----------+-----------------------------+
//!   size = 1 + len(body)
//! ```
//!
//! [`parse`] says whether a buffer starts with a complete frame
//! (`Ok(Some)`), needs more bytes (`Ok(None)`), or can never be valid
//! (`Err`). A frame is decoded only once all its bytes are there, and its
//! body must be consumed exactly. Limits:
//!
//! * a frame larger than [`Limits::max_frame_size`] but not larger than
//!   [`Limits::hard_limit`] is reported as [`Parsed::Oversized`] as soon as
//!   its first 10 bytes are there (type, commandId, responseRequired), so
//!   the caller can answer it, and the rest is skipped without being
//!   buffered; above the hard limit the frame is invalid;
//! * before the handshake the caller uses [`Limits::handshake`] (64 KiB, no
//!   skipping);
//! * inside a frame every length and count is checked against the bytes
//!   left before anything is allocated; nesting depth, Throwable cause
//!   chains and WireFormatInfo properties are capped ([`super::wire`]).
//!
//! [`encode`] writes a frame, size prefix computed exactly.

use bytes::{BufMut, Bytes, BytesMut};

use super::command::{type_name, Command, Role};
use super::error::{EncodeError, FrameError};
use super::message::MessageKind;
use super::types::ProducerId;
use super::wire::{Reader, Wire};
use super::wireformat::DEFAULT_MAX_FRAME_SIZE;

/// Bytes of the size prefix.
pub const PREFIX: usize = 4;
/// Bytes an oversized frame must have arrived before it is reported: size,
/// type, commandId, responseRequired.
pub const OVERSIZED_HEADER: usize = PREFIX + 6;
/// The frame-size limit before the connection is accepted.
pub const HANDSHAKE_MAX_FRAME_SIZE: usize = 64 * 1024;

/// Frame-size limits (the `size` field, which counts the type byte but not
/// the prefix).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Frames up to this size are decoded.
    pub max_frame_size: usize,
    /// Frames above `max_frame_size` and up to this size are reported as
    /// [`Parsed::Oversized`] and skipped; larger ones are invalid.
    pub hard_limit: usize,
}

impl Limits {
    /// `max_frame_size`, with oversized frames skipped up to twice that.
    pub fn new(max_frame_size: usize) -> Self {
        Limits {
            max_frame_size,
            hard_limit: max_frame_size.saturating_mul(2),
        }
    }

    /// Before the connection is accepted: 64 KiB, nothing skipped.
    pub fn handshake() -> Self {
        Limits {
            max_frame_size: HANDSHAKE_MAX_FRAME_SIZE,
            hard_limit: HANDSHAKE_MAX_FRAME_SIZE,
        }
    }
}

impl Default for Limits {
    /// 100 MiB, skipping up to 200 MiB.
    fn default() -> Self {
        Limits::new(DEFAULT_MAX_FRAME_SIZE)
    }
}

/// How frames are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Which commands may arrive.
    pub role: Role,
    pub limits: Limits,
    /// The negotiated `StackTraceEnabled` (always false against Baton's
    /// WireFormatInfo).
    pub stack_trace_enabled: bool,
}

impl Options {
    /// A broker's options before the handshake: 64 KiB frames, nothing
    /// skipped. The connection task accepts only a WireFormatInfo (and then
    /// the ConnectionInfo) at this stage, and switches to
    /// `Limits::new(max_frame_size)` once a ConnectionInfo is accepted.
    pub fn broker_handshake() -> Self {
        Options {
            role: Role::Broker,
            limits: Limits::handshake(),
            stack_trace_enabled: false,
        }
    }
}

/// A frame above the frame-size limit. Its first `header_len` bytes were
/// consumed; the caller must discard `remaining` more bytes (the codec
/// does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Oversized {
    pub type_code: u8,
    /// 0 for a WireFormatInfo.
    pub command_id: i32,
    pub response_required: bool,
    /// The frame's size field.
    pub size: usize,
    /// For an asynchronous message (no response required): its producer,
    /// read from the bytes after the header when they parse, so that a
    /// producer with a window gets its ProducerAck.
    pub producer_id: Option<ProducerId>,
    /// Bytes consumed: the prefix, type, commandId, responseRequired and,
    /// with `producer_id`, the producer id.
    pub header_len: usize,
    /// Bytes of the frame not consumed yet.
    pub remaining: usize,
}

/// Most bytes waited for to read an oversized message's producer id (its
/// connection id is a short string in practice).
const MAX_PRODUCER_HEADER: usize = 1024;

/// The producer id at the start of `rest` (an oversized asynchronous
/// message's bytes after its header; `frame_rest` of them belong to the
/// frame): `Ok(Some((id, bytes)))`, `Ok(None)` if it does not parse,
/// `Err(())` if more bytes are needed.
fn oversized_producer(rest: &[u8], frame_rest: usize) -> Result<Option<(ProducerId, usize)>, ()> {
    let limit = frame_rest.min(MAX_PRODUCER_HEADER);
    let window = Bytes::copy_from_slice(rest.get(..limit).unwrap_or(rest));
    let mut r = Reader::new(&window, false);
    match Option::<ProducerId>::read(&mut r, "producerId") {
        Ok(Some(id)) => Ok(Some((id, r.position()))),
        Err(FrameError::Truncated { .. }) if window.len() < limit => Err(()),
        Ok(None) | Err(_) => Ok(None),
    }
}

/// What [`parse`] found at the start of the buffer.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Command(Command),
    Oversized(Oversized),
}

/// What the first bytes of a buffer say about the frame there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Head {
    /// Fewer bytes than needed to decide; `Some(total)` when the frame's
    /// total length (prefix included) is known.
    Incomplete(Option<usize>),
    /// A complete frame of `len` bytes, prefix included.
    Complete(usize),
    Oversized(Oversized),
}

pub(crate) fn head(buf: &[u8], opts: &Options) -> Result<Head, FrameError> {
    let Some(prefix) = buf.first_chunk::<PREFIX>() else {
        return Ok(Head::Incomplete(None));
    };
    let size = i32::from_be_bytes(*prefix);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if size == 0 {
        return Err(FrameError::EmptyFrame);
    }
    let limits = &opts.limits;
    let hard = limits.hard_limit.max(limits.max_frame_size);
    if size > hard {
        return Err(FrameError::FrameTooLarge { size, limit: hard });
    }
    let total = PREFIX + size;
    let Some(&code) = buf.get(PREFIX) else {
        return Ok(Head::Incomplete(Some(total)));
    };
    if !opts.role.accepts(code) {
        return Err(FrameError::UnexpectedType {
            code,
            field: "frame type",
        });
    }
    if size <= limits.max_frame_size {
        return Ok(if buf.len() >= total {
            Head::Complete(total)
        } else {
            Head::Incomplete(Some(total))
        });
    }
    if size < OVERSIZED_HEADER - PREFIX {
        // Only with a configured limit below 6 bytes.
        return Err(FrameError::FrameTooLarge {
            size,
            limit: limits.max_frame_size,
        });
    }
    let Some(header) = buf.get(PREFIX + 1..OVERSIZED_HEADER) else {
        return Ok(Head::Incomplete(Some(total)));
    };
    let (command_id, response_required) = if code == 1 {
        (0, false)
    } else {
        let mut id = [0u8; 4];
        id.copy_from_slice(header.get(..4).unwrap_or(&[0; 4]));
        (
            i32::from_be_bytes(id),
            header.get(4).is_some_and(|&b| b != 0),
        )
    };
    let mut header_len = OVERSIZED_HEADER;
    let mut producer_id = None;
    if !response_required && MessageKind::from_type_code(code).is_some() {
        let rest = buf.get(OVERSIZED_HEADER..).unwrap_or_default();
        match oversized_producer(rest, total - OVERSIZED_HEADER) {
            Err(()) => return Ok(Head::Incomplete(Some(total))),
            Ok(Some((id, len))) => {
                producer_id = Some(id);
                header_len += len;
            }
            Ok(None) => {}
        }
    }
    Ok(Head::Oversized(Oversized {
        type_code: code,
        command_id,
        response_required,
        size,
        producer_id,
        header_len,
        remaining: total - header_len,
    }))
}

/// Decodes one complete frame (prefix included, exactly its bytes).
pub(crate) fn decode_frame(frame: Bytes, opts: &Options) -> Result<Command, FrameError> {
    let body = frame.slice(PREFIX..);
    let mut r = Reader::new(&body, opts.stack_trace_enabled);
    let code = r.u8("frame type")?;
    let command = Command::read_body(code, &mut r)?;
    if r.remaining() > 0 {
        return Err(FrameError::TrailingBytes {
            code,
            consumed: r.position(),
            size: body.len(),
        });
    }
    Ok(command)
}

/// Parses the frame at the start of `buf`.
///
/// * `Ok(None)`: incomplete, more bytes are needed.
/// * `Ok(Some((Parsed::Command(c), n)))`: `buf[..n]` was the frame.
/// * `Ok(Some((Parsed::Oversized(o), n)))`: `buf[..n]` were the frame's
///   first bytes; `o.remaining` more bytes belong to it and must be skipped.
/// * `Err(_)`: `buf` does not start with a valid frame, and never will.
///
/// Content and properties of messages are copied out of `buf` once; the
/// codec ([`super::codec::OpenWireCodec`]) avoids that copy.
pub fn parse(buf: &[u8], opts: &Options) -> Result<Option<(Parsed, usize)>, FrameError> {
    match head(buf, opts)? {
        Head::Incomplete(_) => Ok(None),
        Head::Oversized(o) => {
            let n = o.header_len;
            Ok(Some((Parsed::Oversized(o), n)))
        }
        Head::Complete(len) => {
            let frame = Bytes::copy_from_slice(buf.get(..len).unwrap_or_default());
            Ok(Some((Parsed::Command(decode_frame(frame, opts)?), len)))
        }
    }
}

/// Appends `command` as one frame to `dst` and returns the frame's length
/// (prefix included). On error `dst` is left as it was.
pub fn encode(command: &Command, dst: &mut BytesMut) -> Result<usize, EncodeError> {
    let start = dst.len();
    dst.put_u32(0);
    if let Err(e) = command.write_body(dst) {
        dst.truncate(start);
        return Err(e);
    }
    let size = dst.len() - start - PREFIX;
    let Ok(size32) = i32::try_from(size) else {
        dst.truncate(start);
        return Err(EncodeError::TooLong {
            field: type_name(command.type_code()).unwrap_or("frame"),
            len: size,
        });
    };
    if let Some(prefix) = dst.get_mut(start..start + PREFIX) {
        prefix.copy_from_slice(&size32.to_be_bytes());
    }
    Ok(size + PREFIX)
}

/// `command` as one frame.
pub fn to_bytes(command: &Command) -> Result<Bytes, EncodeError> {
    let mut buf = BytesMut::new();
    encode(command, &mut buf)?;
    Ok(buf.freeze())
}
