//! The real ActiveMQ Java client in the tests: finds a JDK and Debian's
//! jars (`libactivemq-java` and its dependencies, installed by
//! scripts/test.sh), compiles `tests/java/*.java` once per test process into
//! `CARGO_TARGET_TMPDIR`, and runs `JmsTool` (tests/java/JmsTool.java) with a
//! bounded timeout. Every line `JmsTool` prints is one JSON object; this
//! module turns them into typed values.
//!
//! Two ways to drive it:
//! * [`run_tool`] / [`JavaProcess`]: a batch subcommand (`produce`,
//!   `consume`, `request`, `reply`, `info`) and its output lines;
//! * [`Jms`]: `JmsTool script`, one JVM kept running and driven command by
//!   command (connections, sessions, producers, consumers, acks,
//!   transactions, temporary destinations), each answered with a reply.

use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long a script command or a batch run may take before the JVM is
/// killed: only bounds how long a hung client (a missing Response) takes to
/// fail the test.
pub const JAVA_GUARD: Duration = Duration::from_secs(60);

/// The jars of the client's classpath and the Debian package of each.
const JARS: &[(&str, &str)] = &[
    ("activemq-client.jar", "libactivemq-java"),
    ("geronimo-jms_1.1_spec.jar", "libgeronimo-jms-1.1-spec-java"),
    ("hawtbuf.jar", "libhawtbuf-java"),
    ("slf4j-api.jar", "libslf4j-java"),
    ("slf4j-nop.jar", "libslf4j-java"),
    (
        "geronimo-j2ee-management-1.1-spec.jar",
        "libgeronimo-j2ee-management-1.1-spec-java",
    ),
];

/// Where Debian puts the jars.
const JAR_DIR: &str = "/usr/share/java";

/// JVM flags for short-lived clients: quick start-up, small heap.
const JVM_FLAGS: &[&str] = &[
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Xmx128m",
    "-Djava.awt.headless=true",
];

/// A PKCS#12 truststore at `store` (password `changeit`) holding the PEM
/// certificate `ca`, made with the JDK's keytool; the JVM options that
/// make the client trust it.
pub fn truststore(ca: &Path, store: &Path) -> Vec<String> {
    let keytool = jdk_tool("keytool").expect("keytool next to java");
    let out = Command::new(keytool)
        .args([
            "-importcert",
            "-noprompt",
            "-alias",
            "test-ca",
            "-storetype",
            "PKCS12",
        ])
        .args(["-storepass", "changeit", "-file"])
        .arg(ca)
        .arg("-keystore")
        .arg(store)
        .output()
        .expect("run keytool");
    assert!(
        out.status.success(),
        "keytool failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    vec![
        format!("-Djavax.net.ssl.trustStore={}", store.display()),
        "-Djavax.net.ssl.trustStorePassword=changeit".to_string(),
        "-Djavax.net.ssl.trustStoreType=PKCS12".to_string(),
    ]
}

/// A JDK and the compiled test programs.
pub struct Toolchain {
    pub java: PathBuf,
    pub javac: PathBuf,
    /// The client's jars followed by the folder of the compiled classes.
    pub classpath: String,
}

/// The JDK's `bin/<tool>`: `$JAVA_HOME/bin` first, then `PATH`.
fn jdk_tool(tool: &str) -> Option<PathBuf> {
    if let Ok(home) = std::env::var("JAVA_HOME") {
        let p = Path::new(&home).join("bin").join(tool);
        if p.is_file() {
            return Some(p);
        }
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
    })
}

/// The client's classpath (jars only); panics naming the missing package.
pub fn client_jars() -> Vec<PathBuf> {
    JARS.iter()
        .map(|(jar, package)| {
            let p = Path::new(JAR_DIR).join(jar);
            assert!(
                p.is_file(),
                "{} is missing: install Debian's {package} (scripts/test.sh does: \
                 apt-get install libactivemq-java)",
                p.display()
            );
            p
        })
        .collect()
}

/// Finds the JDK and jars and compiles tests/java once per test process.
pub fn toolchain() -> &'static Toolchain {
    static TOOLCHAIN: OnceLock<Toolchain> = OnceLock::new();
    TOOLCHAIN.get_or_init(|| {
        let javac = jdk_tool("javac").unwrap_or_else(|| {
            panic!(
                "javac not found (JAVA_HOME or PATH): install a JDK, e.g. Debian's \
                 default-jdk-headless (scripts/test.sh does)"
            )
        });
        let java = jdk_tool("java").expect("java next to javac");
        let jars = client_jars();
        let classes = compile(&javac, &jars);
        let mut classpath: Vec<String> = jars.iter().map(|p| p.display().to_string()).collect();
        classpath.push(classes.display().to_string());
        Toolchain {
            java,
            javac,
            classpath: classpath.join(":"),
        }
    })
}

/// Compiles tests/java/*.java into a folder named after the sources' hash
/// under `CARGO_TARGET_TMPDIR`; test binaries running at the same time
/// compile into their own temporary folder and the first rename wins.
fn compile(javac: &Path, jars: &[PathBuf]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let src_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&src_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", src_dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "java"))
        .collect();
    sources.sort();
    let mut hash = Sha256::new();
    for s in &sources {
        hash.update(s.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(s).expect("read a Java source"));
    }
    let digest: String = hash.finalize()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let root = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let out = root.join(format!("jmstool-{digest}"));
    if out.join("JmsTool.class").is_file() {
        return out;
    }
    let tmp = root.join(format!("jmstool-{digest}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).expect("create the classes folder");
    let cp: Vec<String> = jars.iter().map(|p| p.display().to_string()).collect();
    let result = Command::new(javac)
        .args(["-nowarn", "-encoding", "UTF-8", "-d"])
        .arg(&tmp)
        .arg("-cp")
        .arg(cp.join(":"))
        .args(&sources)
        .output()
        .expect("run javac");
    assert!(
        result.status.success(),
        "javac failed:\n{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    if std::fs::rename(&tmp, &out).is_err() {
        // Another test process renamed its copy first.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    out
}

/// `java <flags> -cp <classpath> JmsTool <args>`.
pub fn tool_command(args: &[&str]) -> Command {
    tool_command_jvm(&[], args)
}

/// [`tool_command`] with extra JVM options (`-Dname=value`).
pub fn tool_command_jvm(jvm: &[String], args: &[&str]) -> Command {
    let t = toolchain();
    let mut c = Command::new(&t.java);
    c.args(JVM_FLAGS)
        .args(jvm)
        .arg("-cp")
        .arg(&t.classpath)
        .arg("JmsTool")
        .args(args);
    c
}

// ------------------------------------------------------------ results

/// A Java exception as `JmsTool` reports it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct JavaError {
    pub class: String,
    pub message: Option<String>,
    pub error_code: Option<String>,
    pub cause: Option<Box<JavaError>>,
}

impl JavaError {
    /// True if this exception or one of its causes is of `class` (the
    /// fully qualified name, or its simple name).
    pub fn is(&self, class: &str) -> bool {
        let simple = self.class.rsplit('.').next().unwrap_or("");
        self.class == class || simple == class || self.cause.as_ref().is_some_and(|c| c.is(class))
    }

    /// The messages of the exception and its causes, joined.
    pub fn text(&self) -> String {
        let mut s = format!("{}: {}", self.class, self.message.as_deref().unwrap_or(""));
        if let Some(c) = &self.cause {
            s.push_str(" / caused by ");
            s.push_str(&c.text());
        }
        s
    }
}

/// A JMS value with its type: `{"type":"int","value":5}`. Types: boolean,
/// byte, short, int, long, float, double, char, string, bytes (base64).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Typed {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: Value,
}

/// A received message: every JMS header, the properties and the body.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    pub message_id: String,
    pub destination: Option<String>,
    pub reply_to: Option<String>,
    pub correlation_id: Option<String>,
    #[serde(rename = "type")]
    pub jms_type: Option<String>,
    /// "persistent" or "non_persistent".
    pub delivery_mode: String,
    pub priority: i32,
    pub expiration: i64,
    pub timestamp: i64,
    pub redelivered: bool,
    pub delivery_count: Option<i32>,
    pub group_id: Option<String>,
    pub group_seq: Option<i32>,
    pub producer_id: Option<String>,
    pub producer_seq: Option<i64>,
    #[serde(default)]
    pub properties: BTreeMap<String, Typed>,
    /// text, bytes, map, object, stream or plain.
    pub body_type: String,
    pub text: Option<String>,
    pub bytes_base64: Option<String>,
    pub map: Option<BTreeMap<String, Typed>>,
    pub object: Option<String>,
    pub stream: Option<Vec<Typed>>,
    /// Script mode: the name to acknowledge it by.
    pub handle: Option<String>,
}

impl Received {
    pub fn text(&self) -> &str {
        self.text
            .as_deref()
            .unwrap_or_else(|| panic!("not a text message: {self:?}"))
    }

    pub fn bytes(&self) -> Vec<u8> {
        use base64::Engine;
        let b64 = self
            .bytes_base64
            .as_deref()
            .unwrap_or_else(|| panic!("not a bytes message: {self:?}"));
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .expect("base64 from JmsTool")
    }

    pub fn prop(&self, name: &str) -> Option<&Typed> {
        self.properties.get(name)
    }
}

/// What a batch run printed and how it ended.
#[derive(Debug)]
pub struct ToolOutput {
    /// `None` if it was killed after the timeout.
    pub status: Option<ExitStatus>,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl ToolOutput {
    /// Lines with `"event": kind`.
    pub fn events(&self, kind: &str) -> Vec<&Value> {
        self.lines.iter().filter(|l| l["event"] == kind).collect()
    }

    /// The messages of a `consume`, `request` (replies) run.
    pub fn messages(&self) -> Vec<Received> {
        self.lines
            .iter()
            .filter(|l| l["event"] == "message" || l["event"] == "reply")
            .map(|l| serde_json::from_value(l.clone()).expect("a message line"))
            .collect()
    }

    /// The error the run ended with, if any.
    pub fn error(&self) -> Option<JavaError> {
        self.events("error")
            .first()
            .map(|l| serde_json::from_value(l["error"].clone()).expect("an error line"))
    }

    /// Panics with the whole output unless the run exited 0.
    pub fn assert_ok(&self) -> &ToolOutput {
        assert!(
            self.status.is_some_and(|s| s.success()),
            "JmsTool failed ({:?}):\n{}",
            self.status,
            self.dump()
        );
        self
    }

    pub fn dump(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(|l| l.to_string()).collect();
        format!("stdout:\n{}\nstderr:\n{}", lines.join("\n"), self.stderr)
    }
}

// ------------------------------------------------------------ batch runs

/// A running `JmsTool` batch subcommand; its lines are read as they come.
pub struct JavaProcess {
    child: Child,
    lines: Receiver<Value>,
    seen: Vec<Value>,
    stderr: Arc<Mutex<String>>,
}

/// Reads `stdout` line by line into a channel (non-JSON lines become
/// `{"event":"raw","line":...}`), and `stderr` into a string.
fn read_output(child: &mut Child) -> (Receiver<Value>, Arc<Mutex<String>>) {
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let v = serde_json::from_str(&line)
                .unwrap_or_else(|_| json!({"event": "raw", "line": line}));
            if tx.send(v).is_err() {
                break;
            }
        }
    });
    let err = Arc::new(Mutex::new(String::new()));
    {
        let err = err.clone();
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut s);
            err.lock().unwrap().push_str(&s);
        });
    }
    (rx, err)
}

impl JavaProcess {
    pub fn spawn(args: &[&str]) -> JavaProcess {
        let mut child = tool_command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start java");
        let (lines, stderr) = read_output(&mut child);
        JavaProcess {
            child,
            lines,
            seen: Vec::new(),
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the first line with `"event": kind` (within `timeout`);
    /// panics with the output so far if the run ends or times out first.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        if let Some(v) = self.seen.iter().find(|l| l["event"] == kind) {
            return v.clone();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(v.clone());
                    if v["event"] == kind {
                        return v;
                    }
                }
                Err(_) => panic!(
                    "JmsTool printed no \"{kind}\" event within {timeout:?}; so far:\n{}",
                    self.snapshot().dump()
                ),
            }
        }
    }

    /// Waits until `n` lines with `"event": kind` were printed.
    pub fn wait_events(&mut self, kind: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.seen.iter().filter(|l| l["event"] == kind).count() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(v) => self.seen.push(v),
                Err(_) => panic!(
                    "JmsTool printed fewer than {n} \"{kind}\" events within {timeout:?}:\n{}",
                    self.snapshot().dump()
                ),
            }
        }
    }

    /// Lines seen so far (without waiting).
    pub fn snapshot(&mut self) -> ToolOutput {
        while let Ok(v) = self.lines.try_recv() {
            self.seen.push(v);
        }
        ToolOutput {
            status: None,
            lines: self.seen.clone(),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// Waits for the exit (killing the JVM after `timeout`) and returns
    /// everything it printed.
    pub fn finish(mut self, timeout: Duration) -> ToolOutput {
        let deadline = Instant::now() + timeout;
        let status = loop {
            match self.child.try_wait().expect("wait for java") {
                Some(s) => break Some(s),
                None if Instant::now() >= deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break None;
                }
                None => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        // The reader threads end at EOF, after the exit.
        while let Ok(v) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(v);
        }
        let stderr_deadline = Instant::now() + Duration::from_secs(2);
        while Arc::strong_count(&self.stderr) > 1 && Instant::now() < stderr_deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        ToolOutput {
            status,
            lines: std::mem::take(&mut self.seen),
            stderr: self.stderr.lock().unwrap().clone(),
        }
    }

    /// kill -9 of the JVM.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for JavaProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a batch subcommand to its end (killed after `timeout`).
pub fn run_tool(args: &[&str], timeout: Duration) -> ToolOutput {
    JavaProcess::spawn(args).finish(timeout)
}

// ------------------------------------------------------------ script mode

/// A message to send, in `JmsTool`'s message spec (see
/// tests/java/JmsTool.java, `build`). `{i}` in text is replaced by the
/// index when one command sends several.
#[derive(Debug, Clone)]
pub struct Msg(pub Value);

impl Msg {
    pub fn text(text: &str) -> Msg {
        Msg(json!({"body": "text", "text": text, "properties": {}}))
    }
    pub fn bytes(data: &[u8]) -> Msg {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(data);
        Msg(json!({"body": "bytes", "bytes_base64": b64, "properties": {}}))
    }
    /// A MapMessage: `entries` are (name, type, value).
    pub fn map(entries: &[(&str, &str, Value)]) -> Msg {
        let m: serde_json::Map<String, Value> = entries
            .iter()
            .map(|(k, t, v)| (k.to_string(), json!({"type": t, "value": v})))
            .collect();
        Msg(json!({"body": "map", "map": m, "properties": {}}))
    }
    /// An ObjectMessage holding a `java.lang.String`.
    pub fn object(s: &str) -> Msg {
        Msg(json!({"body": "object", "object": s, "properties": {}}))
    }
    /// A StreamMessage: items are (type, value).
    pub fn stream(items: &[(&str, Value)]) -> Msg {
        let l: Vec<Value> = items
            .iter()
            .map(|(t, v)| json!({"type": t, "value": v}))
            .collect();
        Msg(json!({"body": "stream", "stream": l, "properties": {}}))
    }
    pub fn plain() -> Msg {
        Msg(json!({"body": "plain", "properties": {}}))
    }
    /// A property: `kind` is boolean, byte, short, int, long, float, double
    /// or string.
    pub fn prop(mut self, name: &str, kind: &str, value: Value) -> Msg {
        self.0["properties"][name] = json!({"type": kind, "value": value});
        self
    }
    pub fn persistent(self, yes: bool) -> Msg {
        self.set("persistent", json!(yes))
    }
    pub fn ttl_ms(self, ms: i64) -> Msg {
        self.set("ttl_ms", json!(ms))
    }
    pub fn priority(self, p: i32) -> Msg {
        self.set("priority", json!(p))
    }
    pub fn group(self, id: &str) -> Msg {
        self.set("group_id", json!(id))
    }
    pub fn group_seq(self, seq: i32) -> Msg {
        self.set("group_seq", json!(seq))
    }
    pub fn jms_type(self, t: &str) -> Msg {
        self.set("type", json!(t))
    }
    pub fn correlation_id(self, c: &str) -> Msg {
        self.set("correlation_id", json!(c))
    }
    pub fn reply_to(self, dest: &str) -> Msg {
        self.set("reply_to", json!(dest))
    }
    fn set(mut self, key: &str, v: Value) -> Msg {
        self.0[key] = v;
        self
    }
}

/// Connection information from `connect`.
#[derive(Debug, Clone, Deserialize)]
pub struct ConnInfo {
    pub broker_name: Option<String>,
    pub client_id: Option<String>,
    pub remote: Option<String>,
}

/// One `JmsTool script` JVM. Commands are JSON lines on its stdin; each
/// gets a reply with the same `seq`. Asynchronous events (`exception`,
/// `interrupted`, `resumed`) are kept in order for [`Jms::events`].
pub struct Jms {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    replies: HashMap<u64, Value>,
    events: VecDeque<Value>,
    stderr: Arc<Mutex<String>>,
    seq: u64,
    pub url: String,
}

impl Jms {
    /// A JVM whose connections default to `url` (anonymous).
    pub fn start(url: &str) -> Jms {
        Jms::start_as(url, None)
    }

    /// A JVM whose connections default to `url` and `(user, password)`.
    pub fn start_as(url: &str, login: Option<(&str, &str)>) -> Jms {
        Jms::start_jvm(url, login, &[])
    }

    /// [`Jms::start_as`] with extra JVM options (a truststore, say).
    pub fn start_jvm(url: &str, login: Option<(&str, &str)>, jvm: &[String]) -> Jms {
        let mut args = vec!["script", "--url", url];
        if let Some((u, p)) = login {
            args.extend(["--user", u, "--password", p]);
        }
        let mut child = tool_command_jvm(jvm, &args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start java");
        let stdin = child.stdin.take().expect("piped stdin");
        let (lines, stderr) = read_output(&mut child);
        let mut jms = Jms {
            child,
            stdin,
            lines,
            replies: HashMap::new(),
            events: VecDeque::new(),
            stderr,
            seq: 0,
            url: url.to_string(),
        };
        jms.wait_line(JAVA_GUARD, |v| v["event"] == "ready")
            .unwrap_or_else(|| panic!("JmsTool script did not start: {}", jms.stderr_text()));
        jms
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Reads lines until one matches (kept aside: replies by seq, events in
    /// order); `None` on timeout or end of output.
    fn wait_line(&mut self, timeout: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = match self.lines.recv_timeout(left) {
                Ok(v) => v,
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                    return None
                }
            };
            if want(&v) {
                return Some(v);
            }
            if let Some(seq) = v["seq"].as_u64() {
                self.replies.insert(seq, v);
            } else {
                self.events.push_back(v);
            }
        }
    }

    /// Sends a command without waiting; returns its seq for [`Jms::wait`].
    /// With `"async": true` in `cmd`, the JVM runs it on its own thread, so
    /// later commands go on while it blocks (a `receive`).
    pub fn send_cmd(&mut self, cmd: Value) -> u64 {
        self.send_cmd_patched(cmd, None)
    }

    /// [`Jms::send_cmd`], with every `marker` in the JSON text replaced by
    /// `raw` JSON: a lone surrogate escape (`\ud800`) that Java strings
    /// may hold but no Rust string can.
    pub fn send_cmd_patched(&mut self, mut cmd: Value, patch: Option<(&str, &str)>) -> u64 {
        self.seq += 1;
        cmd["seq"] = json!(self.seq);
        let mut text = cmd.to_string();
        if let Some((marker, raw)) = patch {
            text = text.replace(marker, raw);
        }
        writeln!(self.stdin, "{text}").expect("write to JmsTool");
        self.stdin.flush().expect("flush to JmsTool");
        self.seq
    }

    /// The reply to command `seq`: its fields, or the Java exception.
    pub fn wait(&mut self, seq: u64) -> Result<Value, JavaError> {
        let reply = match self.replies.remove(&seq) {
            Some(r) => r,
            None => self
                .wait_line(JAVA_GUARD, |v| v["seq"].as_u64() == Some(seq))
                .unwrap_or_else(|| {
                    panic!(
                        "JmsTool did not answer command {seq} within {JAVA_GUARD:?}; stderr:\n{}",
                        self.stderr_text()
                    )
                }),
        };
        if reply["ok"] == true {
            Ok(reply)
        } else {
            Err(serde_json::from_value(reply["error"].clone())
                .unwrap_or_else(|e| panic!("bad error reply {reply}: {e}")))
        }
    }

    /// Runs one command and waits for its reply.
    pub fn call(&mut self, cmd: Value) -> Result<Value, JavaError> {
        let seq = self.send_cmd(cmd);
        self.wait(seq)
    }

    /// Like [`Jms::call`], panicking with the command on a Java error.
    pub fn ok(&mut self, cmd: Value) -> Value {
        let text = cmd.to_string();
        self.call(cmd)
            .unwrap_or_else(|e| panic!("{text} failed: {}", e.text()))
    }

    /// Asynchronous events so far (`exception`, `interrupted`, `resumed`).
    pub fn events(&mut self) -> Vec<Value> {
        while let Ok(v) = self.lines.try_recv() {
            if let Some(seq) = v["seq"].as_u64() {
                self.replies.insert(seq, v);
            } else {
                self.events.push_back(v);
            }
        }
        self.events.iter().cloned().collect()
    }

    /// Waits up to `timeout` for an event of `kind`.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Option<Value> {
        if let Some(v) = self.events().into_iter().find(|e| e["event"] == kind) {
            return Some(v);
        }
        let v = self.wait_line(timeout, |v| v["event"] == kind)?;
        self.events.push_back(v.clone());
        Some(v)
    }

    // -------------------------------------------- typed commands

    /// Opens connection `name` (the JVM's URL and login) and starts it.
    pub fn connect(&mut self, name: &str, client_id: Option<&str>) -> Result<ConnInfo, JavaError> {
        self.connect_with(json!({"op": "connect", "name": name, "client_id": client_id}))
    }

    /// Opens a connection to another URL and/or with another login.
    pub fn connect_to(
        &mut self,
        name: &str,
        url: &str,
        login: Option<(&str, &str)>,
        client_id: Option<&str>,
    ) -> Result<ConnInfo, JavaError> {
        let mut cmd = json!({"op": "connect", "name": name, "url": url, "client_id": client_id});
        if let Some((u, p)) = login {
            cmd["user"] = json!(u);
            cmd["password"] = json!(p);
        }
        self.connect_with(cmd)
    }

    fn connect_with(&mut self, cmd: Value) -> Result<ConnInfo, JavaError> {
        self.call(cmd)
            .map(|v| serde_json::from_value(v).expect("connect reply"))
    }

    /// Session `name` on `conn`; ack is auto, client, dups_ok, individual
    /// or transacted.
    pub fn session(&mut self, name: &str, conn: &str, ack: &str) {
        self.ok(json!({"op": "session", "name": name, "connection": conn, "ack": ack}));
    }

    /// Producer `name` on `dest` (`None`: an anonymous producer).
    pub fn producer(&mut self, name: &str, session: &str, dest: Option<&str>) {
        self.ok(json!({"op": "producer", "name": name, "session": session, "dest": dest}));
    }

    /// Sends `count` copies of `msg` (to `dest` for an anonymous
    /// producer); the message ids.
    pub fn send(
        &mut self,
        producer: &str,
        session: &str,
        dest: Option<&str>,
        msg: &Msg,
        count: usize,
    ) -> Result<Vec<String>, JavaError> {
        let v = self.call(
            json!({"op": "send", "producer": producer, "session": session,
            "dest": dest, "message": msg.0, "count": count}),
        )?;
        Ok(serde_json::from_value(v["message_ids"].clone()).expect("message ids"))
    }

    /// Consumer `name`: `durable` is a subscription name (topic only).
    pub fn consumer(
        &mut self,
        name: &str,
        session: &str,
        dest: &str,
        selector: Option<&str>,
        durable: Option<&str>,
        no_local: bool,
    ) -> Result<(), JavaError> {
        self.call(
            json!({"op": "consumer", "name": name, "session": session, "dest": dest,
            "selector": selector, "durable": durable, "no_local": no_local}),
        )
        .map(|_| ())
    }

    /// `receive(timeout_ms)`.
    pub fn receive(&mut self, consumer: &str, timeout_ms: u64) -> Option<Received> {
        self.receive_mode(consumer, "timeout", timeout_ms).0
    }

    /// `receive` in `mode` (nowait, block, timeout): the message and how
    /// long the call took in the JVM.
    pub fn receive_mode(
        &mut self,
        consumer: &str,
        mode: &str,
        timeout_ms: u64,
    ) -> (Option<Received>, u64) {
        let v = self.ok(
            json!({"op": "receive", "consumer": consumer, "mode": mode, "timeout_ms": timeout_ms}),
        );
        let m = (!v["message"].is_null())
            .then(|| serde_json::from_value(v["message"].clone()).expect("message"));
        (m, v["elapsed_ms"].as_u64().unwrap_or(0))
    }

    /// Receives until a `receive(timeout_ms)` returns null or `max` came.
    pub fn receive_all(&mut self, consumer: &str, timeout_ms: u64, max: usize) -> Vec<Received> {
        let v = self.ok(json!({"op": "receive_all", "consumer": consumer, "timeout_ms": timeout_ms, "max": max}));
        serde_json::from_value(v["messages"].clone()).expect("messages")
    }

    /// `message.acknowledge()` of a received message.
    pub fn ack(&mut self, m: &Received) {
        let handle = m
            .handle
            .as_deref()
            .expect("a message received in script mode");
        self.ok(json!({"op": "ack", "message": handle}));
    }

    pub fn commit(&mut self, session: &str) -> Result<(), JavaError> {
        self.call(json!({"op": "commit", "session": session}))
            .map(|_| ())
    }

    pub fn rollback(&mut self, session: &str) {
        self.ok(json!({"op": "rollback", "session": session}));
    }

    pub fn recover(&mut self, session: &str) {
        self.ok(json!({"op": "recover", "session": session}));
    }

    pub fn unsubscribe(&mut self, session: &str, subscription: &str) -> Result<(), JavaError> {
        self.call(json!({"op": "unsubscribe", "session": session, "subscription": subscription}))
            .map(|_| ())
    }

    /// A QueueBrowser's whole enumeration.
    pub fn browse(&mut self, session: &str, dest: &str, selector: Option<&str>) -> Vec<Received> {
        let v = self
            .ok(json!({"op": "browse", "session": session, "dest": dest, "selector": selector}));
        serde_json::from_value(v["messages"].clone()).expect("messages")
    }

    /// A temporary queue named `name` here; its destination string.
    pub fn temp_queue(&mut self, name: &str, session: &str) -> String {
        let v = self.ok(json!({"op": "temp_queue", "name": name, "session": session}));
        v["destination"].as_str().expect("destination").to_string()
    }

    pub fn delete_temp(&mut self, name: &str) -> Result<(), JavaError> {
        self.call(json!({"op": "delete_temp", "name": name}))
            .map(|_| ())
    }

    /// Closes a connection, session, producer or consumer.
    pub fn close(&mut self, name: &str) -> Result<(), JavaError> {
        self.call(json!({"op": "close", "name": name})).map(|_| ())
    }

    /// `FailoverTransport.handleTransportFailure` on a `failover:` connection.
    pub fn simulate_failover(&mut self, conn: &str) {
        self.ok(json!({"op": "simulate_failover", "connection": conn}));
    }

    /// kill -9 of the JVM.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Jms {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
