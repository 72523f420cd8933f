//! Helpers of the STOMP protocol tests: frames in wire format, raw
//! connections at each protocol version, reading what comes back, and the
//! table of bad inputs with a bystander connection that must keep working.

pub use crate::common::{Baton, Incoming, Raw};
pub use baton::client::Client;
pub use baton::stomp::frame::{parse, Command, Frame, Limits, Parsed, Version};
pub use std::collections::HashSet;
pub use std::io::Write;
pub use std::net::Shutdown;
pub use std::time::Duration;

/// A frame in wire format. Header names and values are written exactly as
/// given (no escaping), so tests can put escape sequences on the wire.
pub fn frame(command: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(command.as_bytes());
    v.push(b'\n');
    for (k, val) in headers {
        v.extend_from_slice(k.as_bytes());
        v.push(b':');
        v.extend_from_slice(val.as_bytes());
        v.push(b'\n');
    }
    v.push(b'\n');
    v.extend_from_slice(body);
    v.push(0);
    v
}

pub fn version_of(accept: &str) -> Version {
    Version::parse(accept).unwrap_or(Version::V1_0)
}

/// Opens a connection and sends CONNECT. `accept` is the `accept-version`
/// header ("" = none: STOMP 1.0); `hb` the `heart-beat` header if any.
pub fn connect_raw(addr: &str, accept: &str, hb: Option<&str>) -> (Raw, Frame) {
    let mut raw = Raw::connect(addr);
    let mut headers = vec![("host", "localhost")];
    if !accept.is_empty() {
        headers.push(("accept-version", accept));
    }
    if let Some(hb) = hb {
        headers.push(("heart-beat", hb));
    }
    raw.write(&frame("CONNECT", &headers, b""));
    let connected = raw.read_frame_as(Version::V1_0).expect("CONNECTED");
    assert_eq!(
        connected.command,
        Command::Connected,
        "expected CONNECTED, got {connected:?}"
    );
    (raw, connected)
}

/// Connects speaking exactly `version` ("1.0", "1.1" or "1.2").
pub fn connect(addr: &str, version: &str) -> Raw {
    let accept = if version == "1.0" { "" } else { version };
    let (raw, connected) = connect_raw(addr, accept, None);
    assert_eq!(connected.header("version"), Some(version), "{connected:?}");
    raw
}

/// Reads the next frame, failing the test if the connection closed or
/// nothing came.
pub fn next(raw: &mut Raw, version: Version, what: &str) -> Frame {
    match raw.next_incoming(version) {
        Incoming::Frame(f, _) => f,
        other => panic!("waiting for {what}: {other:?}"),
    }
}

/// Reads until every receipt in `ids` has arrived; returns the MESSAGE
/// frames that came meanwhile. Fails on ERROR or an unexpected receipt.
pub fn receipts(raw: &mut Raw, version: Version, ids: &[&str]) -> Vec<Frame> {
    let mut want: HashSet<&str> = ids.iter().copied().collect();
    let mut messages = Vec::new();
    while !want.is_empty() {
        let f = next(raw, version, &format!("receipts {want:?}"));
        match f.command {
            Command::Receipt => {
                let id = f.header("receipt-id").unwrap_or_default().to_string();
                assert!(
                    want.remove(id.as_str()),
                    "unexpected or repeated receipt {id:?} while waiting for {want:?}"
                );
            }
            Command::Message => messages.push(f),
            _ => panic!("waiting for receipts {want:?}, got {f:?}"),
        }
    }
    messages
}

/// Reads `n` MESSAGE frames (after any already collected in `have`).
pub fn messages(raw: &mut Raw, version: Version, mut have: Vec<Frame>, n: usize) -> Vec<Frame> {
    while have.len() < n {
        let f = next(raw, version, "MESSAGE");
        assert_eq!(f.command, Command::Message, "expected MESSAGE, got {f:?}");
        have.push(f);
    }
    have
}

pub fn body(f: &Frame) -> String {
    String::from_utf8_lossy(&f.body).into_owned()
}

/// Asserts that the server closes the connection (EOF or reset), with the
/// 10 s read timeout as the failure guard.
pub fn assert_closed(raw: &mut Raw, context: &str) {
    match raw.next_incoming(Version::V1_0) {
        Incoming::Closed => {}
        Incoming::TimedOut => panic!("{context}: the server did not close the connection"),
        Incoming::Frame(f, _) => panic!("{context}: frame after the end: {f:?}"),
    }
}

/// A client connected before a bad client misbehaves; `check` proves it can
/// still send and receive afterwards.
pub struct Bystander {
    raw: Raw,
    queue: String,
    round: usize,
}

impl Bystander {
    pub fn new(addr: &str) -> Bystander {
        let mut raw = connect(addr, "1.2");
        let queue = "/queue/bystander".to_string();
        raw.write(&frame(
            "SUBSCRIBE",
            &[("destination", &queue), ("id", "by"), ("receipt", "by-sub")],
            b"",
        ));
        receipts(&mut raw, Version::V1_2, &["by-sub"]);
        Bystander {
            raw,
            queue,
            round: 0,
        }
    }

    pub fn check(&mut self, context: &str) {
        self.round += 1;
        let text = format!("ping {}", self.round);
        let receipt = format!("by-{}", self.round);
        self.raw.write(&frame(
            "SEND",
            &[("destination", &self.queue), ("receipt", &receipt)],
            text.as_bytes(),
        ));
        let got = receipts(&mut self.raw, Version::V1_2, &[&receipt]);
        let got = messages(&mut self.raw, Version::V1_2, got, 1);
        assert_eq!(got.len(), 1, "{context}: bystander got {got:?}");
        assert_eq!(body(&got[0]), text, "{context}: bystander got {got:?}");
    }
}

/// One bad-input scenario: optional CONNECT, setup frames answered with
/// receipts, then the bad bytes, which must be answered with ERROR and a
/// close.
pub struct Bad {
    name: &'static str,
    /// Version to CONNECT with first ("1.0", "1.1", "1.2"), or None to send
    /// the bad bytes on a fresh connection.
    connect: Option<&'static str>,
    setup: Vec<Vec<u8>>,
    setup_receipts: Vec<&'static str>,
    bad: Vec<u8>,
    /// Substrings the ERROR `message` header must contain (any case).
    message: Vec<&'static str>,
    /// Expected `receipt-id` of the ERROR.
    receipt: Option<&'static str>,
}

pub fn bad(
    name: &'static str,
    connect: Option<&'static str>,
    bad: Vec<u8>,
    message: &[&'static str],
) -> Bad {
    Bad {
        name,
        connect,
        setup: Vec::new(),
        setup_receipts: Vec::new(),
        bad,
        message: message.to_vec(),
        receipt: None,
    }
}

impl Bad {
    pub fn receipt(mut self, r: &'static str) -> Bad {
        self.receipt = Some(r);
        self
    }

    pub fn setup(mut self, frame: Vec<u8>, receipt: &'static str) -> Bad {
        self.setup.push(frame);
        self.setup_receipts.push(receipt);
        self
    }

    /// Runs the case; returns a description of what went wrong, if anything.
    pub fn run(&self, addr: &str) -> Result<(), String> {
        let mut raw = Raw::connect(addr);
        let version = match self.connect {
            None => Version::V1_0,
            Some(v) => {
                let accept = if v == "1.0" { "" } else { v };
                let mut headers = vec![("host", "localhost")];
                if !accept.is_empty() {
                    headers.push(("accept-version", accept));
                }
                raw.write(&frame("CONNECT", &headers, b""));
                match raw.read_frame_as(Version::V1_0) {
                    Some(f) if f.command == Command::Connected => {}
                    other => return Err(format!("no CONNECTED: {other:?}")),
                }
                version_of(v)
            }
        };
        for f in &self.setup {
            raw.write(f);
        }
        let mut want: HashSet<&str> = self.setup_receipts.iter().copied().collect();
        while !want.is_empty() {
            match raw.read_frame_as(version) {
                Some(f) if f.command == Command::Receipt => {
                    want.remove(f.header("receipt-id").unwrap_or_default());
                }
                Some(f) if f.command == Command::Message => {}
                other => return Err(format!("setup failed: {other:?}")),
            }
        }
        // The server may already have closed (e.g. after an early limit
        // error), so a failed write is not a failure by itself.
        raw.try_write(&self.bad);
        let error = match raw.next_incoming(version) {
            Incoming::Frame(f, _) if f.command == Command::Error => f,
            other => return Err(format!("expected ERROR, got {other:?}")),
        };
        let message = error.header("message").unwrap_or_default().to_lowercase();
        if message.is_empty() {
            return Err(format!("ERROR without a message header: {error:?}"));
        }
        let parts: Vec<&str> = message.split(": ").collect();
        if parts.windows(2).any(|w| w[0] == w[1]) {
            return Err(format!("ERROR message repeats itself: {message:?}"));
        }
        for m in &self.message {
            if !message.contains(&m.to_lowercase()) {
                return Err(format!("ERROR message {message:?} does not mention {m:?}"));
            }
        }
        if let Some(r) = self.receipt {
            if error.header("receipt-id") != Some(r) {
                return Err(format!("ERROR without receipt-id {r}: {error:?}"));
            }
        }
        if let Some(cl) = error.header("content-length") {
            if cl != error.body.len().to_string() {
                return Err(format!(
                    "ERROR content-length {cl} but body {:?}",
                    error.body
                ));
            }
        }
        match raw.next_incoming(version) {
            Incoming::Closed => Ok(()),
            other => Err(format!("connection not closed after ERROR: {other:?}")),
        }
    }
}

/// Runs every case on a fresh connection, with a bystander connected the
/// whole time that must keep working after each bad client was kicked.
pub fn run_bad_cases(b: &Baton, cases: Vec<Bad>) {
    let mut bystander = Bystander::new(&b.stomp);
    let mut failures = Vec::new();
    let mut names = HashSet::new();
    for case in &cases {
        assert!(names.insert(case.name), "duplicate case name {}", case.name);
        if let Err(e) = case.run(&b.stomp) {
            failures.push(format!("{}: {e}", case.name));
        }
        bystander.check(case.name);
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Subscribes `raw` (speaking `version`) to `dest` with id `id`.
pub fn subscribe(raw: &mut Raw, version: Version, dest: &str, id: &str, ack: &str) {
    let receipt = format!("sub-{id}");
    raw.write(&frame(
        "SUBSCRIBE",
        &[
            ("destination", dest),
            ("id", id),
            ("ack", ack),
            ("receipt", &receipt),
        ],
        b"",
    ));
    receipts(raw, version, &[&receipt]);
}
