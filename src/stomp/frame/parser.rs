//! The resumable STOMP frame parser: tells "incomplete" (`Ok(None)`) from
//! "invalid" (`Err`), never panics, enforces limits on incomplete input.

use super::{Command, Frame, FrameError, Limits, Parsed, Version};
use bytes::Bytes;

/// Stateless parse of the frame (or heart-beat EOLs) at the start of `buf`.
///
/// * `Ok(None)`: incomplete, more bytes are needed.
/// * `Ok(Some(Parsed::Heartbeat(n)))`: `buf[..n]` are EOLs; consume them.
/// * `Ok(Some(Parsed::Frame(frame, n)))`: `buf[..n]` is one complete frame.
/// * `Err(_)`: `buf` does not start with a valid frame, and never will.
///
/// For repeated calls on a growing buffer prefer [`Parser`], which does not
/// re-scan what it has already seen.
pub fn parse(buf: &[u8], version: Version, limits: &Limits) -> Result<Option<Parsed>, FrameError> {
    Parser::new().parse(buf, version, limits)
}

/// Resumable frame parser.
///
/// Between calls that return `Ok(None)` the caller must pass the same buffer,
/// possibly with more bytes appended (the same bytes at the same offsets).
/// Any other result ends the frame and resets the parser, after which the
/// caller is expected to drop the consumed bytes (or the connection, on
/// error). If the buffer is shorter than what the parser has already seen, or
/// the version or limits changed, the parser starts over from the beginning
/// of `buf`. Results are always identical to the stateless [`parse`] as long
/// as the contract is kept.
#[derive(Debug, Clone, Default)]
pub struct Parser {
    partial: Option<Partial>,
}

/// What is known about a frame whose end has not arrived yet.
#[derive(Debug, Clone)]
struct Partial {
    version: Version,
    limits: Limits,
    command: Command,
    headers: Vec<(String, String)>,
    /// Value of the first `content-length` header, already validated.
    content_length: Option<usize>,
    /// Start of the next unparsed header line; equal to the body start once
    /// `body_start` is set.
    pos: usize,
    /// Offset of the first body byte, once the blank line has been seen.
    body_start: Option<usize>,
    /// For bodies without `content-length`: `buf[body_start..scanned]` is
    /// known to contain no NUL.
    scanned: usize,
}

enum Start {
    Incomplete,
    Heartbeat(usize),
    Frame(Partial),
}

impl Parser {
    /// A parser at the start of a frame.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Forgets any partially parsed frame.
    pub fn reset(&mut self) {
        self.partial = None;
    }

    /// True if the last call returned `Ok(None)` in the middle of a frame
    /// (after its command line).
    pub fn is_mid_frame(&self) -> bool {
        self.partial.is_some()
    }

    /// Total size in bytes of the frame being parsed, when known (headers
    /// complete and a `content-length` given). Useful to reserve buffer space.
    pub fn expected_len(&self) -> Option<usize> {
        let p = self.partial.as_ref()?;
        p.body_start?.checked_add(p.content_length?)?.checked_add(1)
    }

    /// Parses the frame at the start of `buf`; see [`parse`] for the meaning
    /// of the result and [`Parser`] for the contract between calls.
    pub fn parse(
        &mut self,
        buf: &[u8],
        version: Version,
        limits: &Limits,
    ) -> Result<Option<Parsed>, FrameError> {
        let result = self.step(buf, version, limits);
        if !matches!(result, Ok(None)) {
            self.partial = None;
        }
        result
    }

    fn step(
        &mut self,
        buf: &[u8],
        version: Version,
        limits: &Limits,
    ) -> Result<Option<Parsed>, FrameError> {
        let stale = self.partial.as_ref().is_some_and(|p| {
            p.version != version
                || p.limits != *limits
                || p.pos > buf.len()
                || p.scanned > buf.len()
        });
        if stale {
            self.partial = None;
        }
        if self.partial.is_none() {
            match start_frame(buf, version, limits)? {
                Start::Incomplete => return Ok(None),
                Start::Heartbeat(n) => return Ok(Some(Parsed::Heartbeat(n))),
                Start::Frame(p) => self.partial = Some(p),
            }
        }
        let Some(p) = self.partial.as_mut() else {
            return Ok(None);
        };
        if p.body_start.is_none() && !parse_headers(p, buf, limits)? {
            return Ok(None);
        }
        parse_body(p, buf, limits)
    }
}

/// Handles leading EOLs and the command line.
fn start_frame(buf: &[u8], version: Version, limits: &Limits) -> Result<Start, FrameError> {
    let mut eols = 0;
    loop {
        match buf.get(eols) {
            Some(b'\n') => eols += 1,
            Some(b'\r') => match buf.get(eols + 1) {
                Some(b'\n') => eols += 2,
                // A CR that is not part of an EOL starts the command line
                // (and will be rejected there).
                Some(_) => break,
                // A lone trailing CR may be the start of a CR LF.
                None if eols > 0 => return Ok(Start::Heartbeat(eols)),
                None => return Ok(Start::Incomplete),
            },
            _ => break,
        }
    }
    if eols > 0 {
        return Ok(Start::Heartbeat(eols));
    }

    match next_line(buf, 0, limits.max_header_bytes)? {
        None => {
            let partial = strip_cr(buf);
            if Command::ALL
                .iter()
                .any(|c| c.as_str().as_bytes().starts_with(partial))
            {
                Ok(Start::Incomplete)
            } else {
                Err(FrameError::UnknownCommand(snippet(partial)))
            }
        }
        Some((line, next)) => {
            let command = std::str::from_utf8(line)
                .ok()
                .and_then(Command::parse)
                .ok_or_else(|| FrameError::UnknownCommand(snippet(line)))?;
            Ok(Start::Frame(Partial {
                version,
                limits: *limits,
                command,
                headers: Vec::new(),
                content_length: None,
                pos: next,
                body_start: None,
                scanned: next,
            }))
        }
    }
}

/// Parses header lines from `p.pos` on. Returns `Ok(true)` once the blank
/// line ending the headers has been consumed, `Ok(false)` if more bytes are
/// needed.
fn parse_headers(p: &mut Partial, buf: &[u8], limits: &Limits) -> Result<bool, FrameError> {
    let escaping = p.command.escapes_headers(p.version);
    loop {
        let body_start = match buf.get(p.pos) {
            None => return Ok(false),
            Some(b'\n') => Some(p.pos + 1),
            Some(b'\r') => match buf.get(p.pos + 1) {
                None => return Ok(false),
                Some(b'\n') => Some(p.pos + 2),
                Some(_) => None,
            },
            Some(_) => None,
        };
        if let Some(start) = body_start {
            p.pos = start;
            p.scanned = start;
            p.body_start = Some(start);
            return Ok(true);
        }

        if p.headers.len() >= limits.max_headers {
            return Err(FrameError::TooManyHeaders {
                limit: limits.max_headers,
            });
        }
        let Some((line, next)) = next_line(buf, p.pos, limits.max_header_bytes)? else {
            return Ok(false);
        };
        let (name, value) = parse_header_line(line, escaping, p.version)?;
        if p.content_length.is_none() && name == "content-length" {
            p.content_length = Some(parse_content_length(&value, limits)?);
        }
        p.headers.push((name, value));
        p.pos = next;
    }
}

/// Reads the body once the headers are complete.
fn parse_body(p: &mut Partial, buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, FrameError> {
    let Some(start) = p.body_start else {
        return Ok(None);
    };
    let too_large = FrameError::BodyTooLarge {
        limit: limits.max_body_bytes,
    };
    let nul = match p.content_length {
        Some(len) => {
            let Some(end) = start.checked_add(len) else {
                return Err(too_large);
            };
            match buf.get(end) {
                None => return Ok(None),
                Some(0) => end,
                Some(_) => return Err(FrameError::MissingNul),
            }
        }
        None => {
            // Only look at max_body_bytes + 1 bytes: if none of them is a NUL
            // the body is too large anyway.
            let limit_end = start
                .saturating_add(limits.max_body_bytes)
                .saturating_add(1);
            let window_end = limit_end.min(buf.len());
            let from = p.scanned.max(start).min(window_end);
            let window = buf.get(from..window_end).unwrap_or_default();
            match memchr::memchr(0, window) {
                Some(i) => from + i,
                None => {
                    p.scanned = window_end;
                    return if buf.len() >= limit_end {
                        Err(too_large)
                    } else {
                        Ok(None)
                    };
                }
            }
        }
    };
    let body = Bytes::copy_from_slice(buf.get(start..nul).unwrap_or_default());
    let frame = Frame {
        command: p.command,
        headers: std::mem::take(&mut p.headers),
        body,
    };
    Ok(Some(Parsed::Frame(frame, nul + 1)))
}

/// Finds the line starting at `start`. Returns the line without its EOL and
/// the offset just after the EOL, or `None` if the EOL has not arrived yet.
/// Fails if the line (complete or not) is longer than `limit` bytes.
fn next_line(buf: &[u8], start: usize, limit: usize) -> Result<Option<(&[u8], usize)>, FrameError> {
    let rest = buf.get(start..).unwrap_or_default();
    // Never scan more than limit + CR + LF bytes: beyond that the line is too
    // long whether or not its EOL has arrived.
    let window = rest.get(..limit.saturating_add(2)).unwrap_or(rest);
    match memchr::memchr(b'\n', window) {
        Some(i) => {
            let line = strip_cr(window.get(..i).unwrap_or_default());
            if line.len() > limit {
                return Err(FrameError::HeaderTooLong { limit });
            }
            Ok(Some((line, start + i + 1)))
        }
        None if strip_cr(window).len() > limit => Err(FrameError::HeaderTooLong { limit }),
        None => Ok(None),
    }
}

/// Removes one trailing CR (the first half of a CR LF EOL).
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn parse_header_line(
    line: &[u8],
    escaping: bool,
    version: Version,
) -> Result<(String, String), FrameError> {
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(FrameError::MissingColon(snippet(line)));
    };
    let raw_name = line.get(..colon).unwrap_or_default();
    let raw_value = line.get(colon + 1..).unwrap_or_default();
    if raw_name.is_empty() {
        return Err(FrameError::EmptyHeaderName(snippet(line)));
    }
    let name = std::str::from_utf8(raw_name).map_err(|_| FrameError::InvalidUtf8 {
        context: "header name",
    })?;
    let value = std::str::from_utf8(raw_value).map_err(|_| FrameError::InvalidUtf8 {
        context: "header value",
    })?;
    if escaping {
        Ok((unescape(name, version)?, unescape(value, version)?))
    } else {
        Ok((name.to_owned(), value.to_owned()))
    }
}

/// Decodes STOMP 1.1/1.2 header escapes.
fn unescape(s: &str, version: Version) -> Result<String, FrameError> {
    // Most names and values have no escape at all.
    if !s.as_bytes().contains(&b'\\') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((before, after)) = rest.split_once('\\') {
        out.push_str(before);
        let mut chars = after.chars();
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('c') => out.push(':'),
            Some('r') if version >= Version::V1_2 => out.push('\r'),
            Some(other) => return Err(FrameError::InvalidEscape(format!("\\{other}"))),
            None => return Err(FrameError::InvalidEscape("\\".to_owned())),
        }
        rest = chars.as_str();
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses a `content-length` value. Surrounding spaces/tabs are tolerated
/// (as ActiveMQ does); anything but decimal digits otherwise is an error.
fn parse_content_length(value: &str, limits: &Limits) -> Result<usize, FrameError> {
    let digits = value.trim_matches(|c| c == ' ' || c == '\t');
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(FrameError::BadContentLength(snippet(value.as_bytes())));
    }
    let too_large = || FrameError::BodyTooLarge {
        limit: limits.max_body_bytes,
    };
    let mut n: usize = 0;
    for d in digits.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(d.wrapping_sub(b'0'))))
            .ok_or_else(too_large)?;
    }
    if n > limits.max_body_bytes {
        return Err(too_large());
    }
    Ok(n)
}

/// At most this many bytes of offending input are quoted in error messages.
const SNIPPET_MAX: usize = 64;

fn snippet(bytes: &[u8]) -> String {
    let cut = bytes.get(..SNIPPET_MAX).unwrap_or(bytes);
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if bytes.len() > SNIPPET_MAX {
        s.push('…');
    }
    s
}
