//! STOMP 1.0 / 1.1 / 1.2 frame parsing and encoding.
//!
//! This module is pure and synchronous: it never performs I/O and never
//! panics, whatever bytes it is given. [`parse`] looks at the start of a
//! buffer and says whether it holds a complete frame, a run of heart-beat
//! EOLs, not enough bytes yet (`Ok(None)`), or something that can never become
//! a valid frame (`Err`). [`encode`] writes a frame in wire format.
//!
//! Wire format (STOMP 1.2 "Augmented BNF"):
//!
//! ```text
//! frame  = command EOL *( header EOL ) EOL *OCTET NULL *( EOL )
//! EOL    = [CR] LF
//! header = header-name ":" header-value
//! ```
//!
//! Rules implemented here, per the specifications:
//!
//! * Lines end in LF or CR LF, for every version.
//! * A header line is split at its first colon; repeated headers are all kept
//!   in order and the first occurrence is the one that counts
//!   ([`Frame::header`], `content-length`).
//! * Value encoding: none in STOMP 1.0; `\\`, `\n`, `\c` in 1.1; 1.2 adds
//!   `\r`. Any other escape sequence is a fatal error. CONNECT, STOMP and
//!   CONNECTED frames are never escaped, in any version.
//! * If a `content-length` header is present, exactly that many body octets
//!   are read (they may include NULs) and must be followed by a NUL.
//!   Otherwise the body ends at the first NUL.
//!
//! Size limits ([`Limits`]) are enforced on incomplete input as well, so a
//! peer cannot make the caller buffer without bound.
//!
//! Parsing is resumable: [`Parser`] remembers how far it got in a partially
//! received frame, so a caller that keeps appending to the same buffer (like
//! [`super::codec::StompCodec`]) does not re-scan headers or body on every
//! call. The free function [`parse`] is the stateless form.

use std::borrow::Cow;
use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

mod parser;

pub use parser::{parse, Parser};

/// A STOMP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V1_0,
    V1_1,
    V1_2,
}

impl Version {
    /// All versions, oldest first.
    pub const ALL: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

    /// The version as written in `accept-version` / `version` headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }

    /// Parses `"1.0"`, `"1.1"` or `"1.2"` (exact match).
    pub fn parse(s: &str) -> Option<Version> {
        match s {
            "1.0" => Some(Version::V1_0),
            "1.1" => Some(Version::V1_1),
            "1.2" => Some(Version::V1_2),
            _ => None,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STOMP frame command (client and server commands of all versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Connect,
    Stomp,
    Connected,
    Send,
    Subscribe,
    Unsubscribe,
    Ack,
    Nack,
    Begin,
    Commit,
    Abort,
    Disconnect,
    Message,
    Receipt,
    Error,
}

impl Command {
    /// Every command.
    pub const ALL: [Command; 15] = [
        Command::Connect,
        Command::Stomp,
        Command::Connected,
        Command::Send,
        Command::Subscribe,
        Command::Unsubscribe,
        Command::Ack,
        Command::Nack,
        Command::Begin,
        Command::Commit,
        Command::Abort,
        Command::Disconnect,
        Command::Message,
        Command::Receipt,
        Command::Error,
    ];

    /// The command as it appears on the wire (upper case).
    pub fn as_str(self) -> &'static str {
        match self {
            Command::Connect => "CONNECT",
            Command::Stomp => "STOMP",
            Command::Connected => "CONNECTED",
            Command::Send => "SEND",
            Command::Subscribe => "SUBSCRIBE",
            Command::Unsubscribe => "UNSUBSCRIBE",
            Command::Ack => "ACK",
            Command::Nack => "NACK",
            Command::Begin => "BEGIN",
            Command::Commit => "COMMIT",
            Command::Abort => "ABORT",
            Command::Disconnect => "DISCONNECT",
            Command::Message => "MESSAGE",
            Command::Receipt => "RECEIPT",
            Command::Error => "ERROR",
        }
    }

    /// Parses a command; commands are case-sensitive (upper case only).
    pub fn parse(s: &str) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// CONNECT, STOMP and CONNECTED frames never use header value encoding,
    /// whatever the version (STOMP 1.1/1.2 "Value Encoding").
    pub(super) fn escapes_headers(self, version: Version) -> bool {
        version != Version::V1_0
            && !matches!(self, Command::Connect | Command::Stomp | Command::Connected)
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A STOMP frame. Headers are kept in wire order, duplicates included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: Command,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl Frame {
    /// A frame with no headers and an empty body.
    pub fn new(command: Command) -> Frame {
        Frame {
            command,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// The value of the first header called `name` (STOMP 1.2: "only the
    /// first header entry SHOULD be used").
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Replaces the value of the first header called `name`, or appends it.
    pub fn set_header(&mut self, name: &str, value: impl Into<String>) {
        match self.headers.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => *v = value.into(),
            None => self.headers.push((name.to_string(), value.into())),
        }
    }

    /// Appends a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Frame {
        self.push_header(name, value);
        self
    }

    /// Appends a header.
    pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.headers.push((name.into(), value.into()));
    }

    /// Replaces the body (builder style). Does not touch `content-length`.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Frame {
        self.body = body.into();
        self
    }
}

/// Size limits applied while parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum body size in bytes.
    pub max_body_bytes: usize,
    /// Maximum number of header lines in one frame.
    pub max_headers: usize,
    /// Maximum length of one header line (and of the command line), in bytes,
    /// not counting the EOL.
    pub max_header_bytes: usize,
}

impl Default for Limits {
    /// ActiveMQ's STOMP defaults: 100 MiB body, 1000 headers, 10 KiB per
    /// header line.
    fn default() -> Self {
        Limits {
            max_body_bytes: 104_857_600,
            max_headers: 1000,
            max_header_bytes: 10_240,
        }
    }
}

/// The result of a successful [`parse`] that found something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A complete frame and the number of bytes it occupies at the start of
    /// the buffer (including the terminating NUL, excluding trailing EOLs).
    Frame(Frame, usize),
    /// The buffer starts with this many bytes (at least 1) of EOLs:
    /// heart-beats or padding between frames.
    Heartbeat(usize),
}

/// Why a buffer can never become a valid frame. All of these are fatal for
/// the connection.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    /// The command line is not a STOMP command.
    #[error("unknown STOMP command {0:?}")]
    UnknownCommand(String),
    /// A header line or the command line is longer than allowed.
    #[error("header line too long: the limit is {limit} bytes (stomp.max_header_bytes)")]
    HeaderTooLong { limit: usize },
    /// The frame has more header lines than allowed.
    #[error("too many headers: the limit is {limit} headers per frame (stomp.max_headers)")]
    TooManyHeaders { limit: usize },
    /// The body (or the declared `content-length`) is larger than allowed.
    #[error("frame body too large: the limit is {limit} bytes (stomp.max_body_bytes)")]
    BodyTooLarge { limit: usize },
    /// A header line has no `:` separator.
    #[error("malformed header line {0:?}: missing ':' between name and value")]
    MissingColon(String),
    /// A header line starts with `:`.
    #[error("malformed header line {0:?}: empty header name")]
    EmptyHeaderName(String),
    /// An escape sequence not defined for the negotiated version, or a
    /// trailing lone backslash.
    #[error("invalid escape sequence '{0}' in header (STOMP 1.1 defines \\\\, \\n and \\c; 1.2 adds \\r)")]
    InvalidEscape(String),
    /// A header name or value is not valid UTF-8.
    #[error("{context} is not valid UTF-8")]
    InvalidUtf8 { context: &'static str },
    /// The `content-length` header is not a non-negative decimal integer.
    #[error("invalid content-length {0:?}: expected a non-negative decimal integer")]
    BadContentLength(String),
    /// The `content-length` bytes of body are not followed by a NUL octet.
    #[error("frame body is not terminated by a NUL octet right after content-length bytes")]
    MissingNul,
}

/// Escapes a header name or value for `version` (STOMP 1.1/1.2 "Value
/// Encoding"): 1.0 escapes nothing; 1.1 escapes backslash, LF and colon;
/// 1.2 also CR. Borrows when nothing needs escaping.
pub fn escape(value: &str, version: Version) -> Cow<'_, str> {
    // A plain loop: header names and values are short, too short for a
    // vectorised search to pay for its set-up (callgrind: twice the
    // instructions with memchr3).
    let bytes = value.as_bytes();
    let special = match version {
        Version::V1_0 => false,
        Version::V1_1 => bytes.iter().any(|b| matches!(b, b'\\' | b'\n' | b':')),
        Version::V1_2 => bytes
            .iter()
            .any(|b| matches!(b, b'\\' | b'\n' | b':' | b'\r')),
    };
    if !special {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            ':' => out.push_str("\\c"),
            '\r' if version >= Version::V1_2 => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Writes `frame` in wire format for `version`: command, LF, one
/// `name:value` LF per header (escaped unless the version or command forbids
/// it), a blank line, the body and a NUL.
///
/// No `content-length` header is added; the caller adds one when wanted (it
/// is required if the body may contain NULs).
///
/// Where escaping is not available (STOMP 1.0, and CONNECT / STOMP /
/// CONNECTED frames) an LF inside a header name or value cannot be
/// represented; it is written as a space so that it cannot inject header
/// lines or end the header section early.
pub fn encode(frame: &Frame, version: Version, dst: &mut BytesMut) {
    let headers_len: usize = frame
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum();
    dst.reserve(frame.command.as_str().len() + headers_len + frame.body.len() + 3);
    let mut w = FrameWriter::start(frame.command, version, dst);
    for (name, value) in &frame.headers {
        w.header(name, value);
    }
    w.finish(&frame.body);
}

/// Writes one frame piece by piece, exactly as [`encode`] writes a
/// [`Frame`]: for a caller whose headers are not in a `Frame` (a MESSAGE
/// written straight from the core's message, without copying its headers
/// into owned strings first).
pub struct FrameWriter<'a> {
    dst: &'a mut BytesMut,
    version: Version,
    escaping: bool,
}

impl<'a> FrameWriter<'a> {
    /// Writes the command line.
    pub fn start(command: Command, version: Version, dst: &'a mut BytesMut) -> FrameWriter<'a> {
        dst.put_slice(command.as_str().as_bytes());
        dst.put_u8(b'\n');
        FrameWriter {
            dst,
            version,
            escaping: command.escapes_headers(version),
        }
    }

    /// Writes one header line (escaped unless the version or command
    /// forbids it).
    pub fn header(&mut self, name: &str, value: &str) {
        self.header_parts(name, &[value]);
    }

    /// Writes one header line whose value is the concatenation of `parts`.
    pub fn header_parts(&mut self, name: &str, parts: &[&str]) {
        self.text(name);
        self.dst.put_u8(b':');
        for part in parts {
            self.text(part);
        }
        self.dst.put_u8(b'\n');
    }

    /// Writes one header line with a decimal integer value.
    pub fn header_int(&mut self, name: &str, value: impl itoa::Integer) {
        self.text(name);
        self.dst.put_u8(b':');
        self.dst
            .put_slice(itoa::Buffer::new().format(value).as_bytes());
        self.dst.put_u8(b'\n');
    }

    /// Ends the headers and writes the body and the NUL.
    pub fn finish(self, body: &[u8]) {
        self.dst.put_u8(b'\n');
        self.dst.put_slice(body);
        self.dst.put_u8(0);
    }

    fn text(&mut self, s: &str) {
        if self.escaping {
            self.dst.put_slice(escape(s, self.version).as_bytes());
        } else {
            put_unescaped(self.dst, s);
        }
    }
}

/// Writes header text verbatim, except that LF becomes a space.
fn put_unescaped(dst: &mut BytesMut, s: &str) {
    for (i, part) in s.split('\n').enumerate() {
        if i > 0 {
            dst.put_u8(b' ');
        }
        dst.put_slice(part.as_bytes());
    }
}

#[cfg(test)]
mod tests;
