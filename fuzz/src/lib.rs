//! The checks behind each fuzz target, as plain functions so that the
//! libFuzzer targets (`fuzz_targets/`) and the stable-toolchain replay
//! (`tests/replay.rs`, which runs every seed and every saved crash) share
//! them. Each one panics only on a real bug: a panic inside Baton, or a
//! broken invariant named in the assertion.

use baton::client::url;
use baton::config;
use baton::openwire::codec::OpenWireCodec;
use baton::openwire::{self, Role};
use baton::stomp::codec::{CodecError, StompCodec};
use baton::stomp::frame::{self, encode, Limits, Parsed, Version};
use bytes::BytesMut;
use tokio_util::codec::Decoder;

const VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

/// What one decoder run yields: items, then how it stopped.
#[derive(Debug)]
enum End {
    /// Ran out of input mid-frame or between frames.
    Incomplete,
    Error,
}

impl PartialEq for End {
    /// Any error equals any error: on partial input the parser may reject
    /// earlier and for another reason (a command line that no command
    /// starts with is an unknown command before it is too long), and every
    /// error closes the connection alike.
    fn eq(&self, other: &End) -> bool {
        matches!(
            (self, other),
            (End::Incomplete, End::Incomplete) | (End::Error, End::Error)
        )
    }
}

/// STOMP decoder: the first bytes pick the version, the limits and a chunk
/// size; the rest is the stream. Checks that (1) the incremental codec fed
/// in chunks yields exactly what the stateless parser yields on the whole
/// stream (the parser's documented contract), and (2) every decoded frame,
/// encoded again, parses back to the same frame.
pub fn stomp_decoder(data: &[u8]) {
    let [v, l, c, rest @ ..] = data else { return };
    let version = VERSIONS[usize::from(*v) % 3];
    let limits = if l % 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_body_bytes: 64,
            max_headers: 4,
            max_header_bytes: 64,
        }
    };
    let chunk = usize::from(*c).max(1);

    let mut whole = Vec::new();
    let mut pos = 0;
    let whole_end = loop {
        match frame::parse(&rest[pos..], version, &limits) {
            Ok(Some(p)) => {
                let n = consumed(&p);
                assert!(
                    n > 0 && pos + n <= rest.len(),
                    "parse consumed {n} of {}",
                    rest.len() - pos
                );
                pos += n;
                whole.push(p);
            }
            Ok(None) => break End::Incomplete,
            Err(_) => break End::Error,
        }
    };

    let mut codec = StompCodec::new(limits);
    codec.version = version;
    let mut buf = BytesMut::new();
    let mut chunked = Vec::new();
    let mut chunks = rest.chunks(chunk);
    let chunked_end = 'outer: loop {
        match codec.decode(&mut buf) {
            Ok(Some(p)) => chunked.push(p),
            Ok(None) => match chunks.next() {
                Some(bytes) => buf.extend_from_slice(bytes),
                None => break 'outer End::Incomplete,
            },
            Err(CodecError::Frame(_)) => break 'outer End::Error,
            Err(e) => panic!("decode without I/O failed: {e}"),
        }
    };
    // How EOLs between frames are grouped into heart-beats depends on how
    // they arrived; their total does not.
    assert_eq!(
        merge_heartbeats(&whole),
        merge_heartbeats(&chunked),
        "chunked decoding (chunk {chunk}) differs"
    );
    assert_eq!(
        whole_end, chunked_end,
        "chunked decoding (chunk {chunk}) ends differently"
    );

    for p in whole {
        let Parsed::Frame(f, _) = p else { continue };
        if !cr_representable(&f, version) {
            continue;
        }
        let mut wire = BytesMut::new();
        encode(&f, version, &mut wire);
        match frame::parse(&wire, version, &Limits::default()) {
            Ok(Some(Parsed::Frame(again, n))) => {
                assert_eq!(n, wire.len(), "re-encoded frame not consumed whole");
                assert_eq!(f, again, "frame changed by encode + parse");
            }
            other => panic!("re-encoded {f:?} does not parse: {other:?}"),
        }
    }
}

/// Where CR is not escaped (STOMP 1.0 and 1.1, and CONNECT / STOMP /
/// CONNECTED frames) a header value ending in CR is written as `value CR
/// LF`, which the parser (lenient: CR LF ends a line in every version) reads
/// back without the CR. The wire format cannot say otherwise; such frames
/// are left out of the round-trip check.
fn cr_representable(f: &frame::Frame, version: Version) -> bool {
    let escapes_cr = version == Version::V1_2
        && !matches!(
            f.command,
            frame::Command::Connect | frame::Command::Stomp | frame::Command::Connected
        );
    escapes_cr || !f.headers.iter().any(|(_, v)| v.ends_with('\r'))
}

fn merge_heartbeats(items: &[Parsed]) -> Vec<Parsed> {
    let mut out: Vec<Parsed> = Vec::new();
    for p in items {
        match (out.last_mut(), p) {
            (Some(Parsed::Heartbeat(total)), Parsed::Heartbeat(n)) => *total += n,
            _ => out.push(p.clone()),
        }
    }
    out
}

fn consumed(p: &Parsed) -> usize {
    match p {
        Parsed::Frame(_, n) | Parsed::Heartbeat(n) => *n,
    }
}

/// How one OpenWire decoder run ended.
#[derive(Debug, PartialEq)]
enum OpenWireEnd {
    Incomplete,
    Error(openwire::FrameError),
}

/// OpenWire decoder: the first byte picks the role (bit 0: broker or
/// client side), small limits (bit 1: frames over 64 bytes are oversized,
/// over 128 invalid) and stack traces (bit 2); the second the chunk size;
/// the rest is the stream. Checks that (1) the codec fed in chunks yields
/// exactly the items and the error of the stateless parser on the whole
/// stream, oversized frames skipped alike, and (2) every decoded command,
/// encoded again, decodes to a command that encodes to the same bytes.
pub fn openwire_decoder(data: &[u8]) {
    let [flags, c, rest @ ..] = data else { return };
    let options = openwire::Options {
        role: if flags & 1 == 0 {
            Role::Broker
        } else {
            Role::Client
        },
        limits: if flags & 2 == 0 {
            openwire::Limits::default()
        } else {
            openwire::Limits::new(64)
        },
        stack_trace_enabled: flags & 4 != 0,
    };
    let chunk = usize::from(*c).max(1);

    let mut whole = Vec::new();
    let mut pos = 0;
    let whole_end = loop {
        match openwire::parse(&rest[pos..], &options) {
            Ok(Some((parsed, n))) => {
                assert!(
                    n > 0 && pos + n <= rest.len(),
                    "parse consumed {n} of {}",
                    rest.len() - pos
                );
                pos += n;
                if let openwire::Parsed::Oversized(o) = &parsed {
                    pos += o.remaining;
                }
                whole.push(parsed);
                if pos > rest.len() {
                    break OpenWireEnd::Incomplete;
                }
            }
            Ok(None) => break OpenWireEnd::Incomplete,
            Err(e) => break OpenWireEnd::Error(e),
        }
    };

    let mut codec = OpenWireCodec::new(options);
    let mut buf = BytesMut::new();
    let mut chunked = Vec::new();
    let mut chunks = rest.chunks(chunk);
    let chunked_end = loop {
        match codec.decode(&mut buf) {
            Ok(Some(p)) => chunked.push(p),
            Ok(None) => match chunks.next() {
                Some(bytes) => buf.extend_from_slice(bytes),
                None => break OpenWireEnd::Incomplete,
            },
            Err(openwire::codec::CodecError::Frame(e)) => break OpenWireEnd::Error(e),
            Err(e) => panic!("decode without I/O failed: {e}"),
        }
    };
    // Compared as text: a NaN in a property map is not equal to itself.
    assert_eq!(
        format!("{whole:?}"),
        format!("{chunked:?}"),
        "chunked decoding (chunk {chunk}) differs"
    );
    assert_eq!(
        whole_end, chunked_end,
        "chunked decoding (chunk {chunk}) ends differently"
    );

    let reparse = openwire::Options {
        limits: openwire::Limits::default(),
        stack_trace_enabled: false,
        ..options
    };
    for p in whole {
        let openwire::Parsed::Command(command) = p else {
            continue;
        };
        // A string can grow when re-encoded (4-byte UTF-8 becomes a 6-byte
        // surrogate pair) past what its length field holds: a clean error.
        let Ok(first) = openwire::frame::to_bytes(&command) else {
            continue;
        };
        let again = match openwire::parse(&first, &reparse) {
            Ok(Some((openwire::Parsed::Command(again), n))) => {
                assert_eq!(n, first.len(), "re-encoded frame not consumed whole");
                again
            }
            other => panic!("re-encoded {command:?} does not parse: {other:?}"),
        };
        let second = openwire::frame::to_bytes(&again).expect("encode a decoded command");
        assert_eq!(
            first,
            second,
            "encode + decode + encode changed {}",
            again.name()
        );
    }
}

/// Failover / broker URL parser: never panics, and what it accepts works
/// with the code that uses it.
pub fn failover_url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(u) = url::parse(&text) {
        assert!(
            !u.brokers.is_empty(),
            "accepted a URL without brokers: {text:?}"
        );
        for b in &u.brokers {
            let _ = b.addr();
        }
        let _ = u.needs_tls();
        if let Some(f) = &u.failover {
            for attempt in [0, 1, 2, 31, 64, 1000, u32::MAX] {
                assert!(f.delay(attempt) <= f.max_reconnect_delay.max(f.initial_reconnect_delay));
            }
        }
    }
}

/// A password no fuzz input produces by accident.
const SECRET: &str = "Zq9fuzzSecretZq9";

/// Configuration loader: the input as a TOML file, and as a database URL
/// (JDBC or native) with `database.password` set. Never panics, and the
/// password never appears in an error or a note.
pub fn config(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let path = std::env::temp_dir().join(format!("baton-fuzz-{}.toml", std::process::id()));
    if std::fs::write(&path, text.as_bytes()).is_ok() {
        let _ = config::load(Some(&path), Vec::new(), &[]);
    }
    let _ = config::translate_jdbc(&text);
    let env = vec![
        ("BATON_DATABASE_URL".to_string(), text.to_string()),
        ("BATON_DATABASE_PASSWORD".to_string(), SECRET.to_string()),
    ];
    match config::load(None, env, &[]) {
        Ok(c) => {
            for n in &c.notes {
                assert!(!n.contains(SECRET), "password in a note: {n}");
            }
        }
        Err(e) => assert!(!e.to_string().contains(SECRET), "password in an error: {e}"),
    }
}

/// ActiveMQ XML importer: never panics, and its output is valid TOML.
pub fn import_activemq(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    if let Ok(t) = baton::import::translate(&text, "fuzz.xml") {
        if let Err(e) = t.toml.parse::<toml::Table>() {
            panic!("invalid TOML output ({e}):\n{}", t.toml);
        }
    }
}
