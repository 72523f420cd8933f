//! A TCP proxy between one node and its database, to simulate network
//! failures: `pause` is a *silent* partition (the sockets stay open, bytes
//! simply stop moving in both directions, as when packets are dropped),
//! `resume` lets the held bytes through, `cut` closes everything,
//! `abandon` closes the client sides only and leaves the target's sockets
//! open and silent (a client whose network died while the server never
//! heard of it).
//!
//! Plain std threads: one accept loop plus two pumps per connection.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread;
use std::time::Duration;

/// How often paused pumps and the accept loop look at the flags again.
const POLL: Duration = Duration::from_millis(5);

#[derive(Default)]
struct Shared {
    /// True while partitioned. Pumps write while holding a read guard, so
    /// once `pause` got the write guard no byte moves any more.
    paused: RwLock<bool>,
    /// Everything closed for good.
    cut: AtomicBool,
    /// Every socket of every proxied connection (clones), to close them.
    sockets: Mutex<Vec<TcpStream>>,
    /// Local ports of the proxy's connections to the target: the database
    /// sees the proxied node's sessions coming from these ports.
    upstream_ports: Mutex<Vec<u16>>,
    /// Pause as soon as this byte string is about to be forwarded towards
    /// the target (the chunk containing it is held back).
    trigger: Mutex<Option<Vec<u8>>>,
    triggered: AtomicBool,
    /// Chunks read but not yet written (held back by a pause).
    held: AtomicUsize,
    /// Connections accepted so far.
    accepted: AtomicUsize,
    /// Connections numbered below this are abandoned: their pumps stop and
    /// their upstream sockets stay open, held here.
    abandoned_below: AtomicUsize,
    /// Client sockets by connection number, to close when abandoned.
    clients: Mutex<Vec<(usize, TcpStream)>>,
    /// Upstream sockets of abandoned connections, kept open.
    kept: Mutex<Vec<TcpStream>>,
}

impl Shared {
    fn is_paused(&self) -> bool {
        *self.paused.read().unwrap()
    }

    fn close_all(&self) {
        for s in self.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

/// A running proxy; dropping it cuts everything.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on an ephemeral loopback port and forwards every connection
    /// to `target` ("host:port").
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared::default());
        let target = target.to_string();
        {
            let shared = shared.clone();
            thread::spawn(move || accept_loop(listener, target, shared));
        }
        Proxy { addr, shared }
    }

    /// Where clients connect ("127.0.0.1:port").
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// Silent partition: stop forwarding in both directions (and stop
    /// accepting new connections) without closing anything. Returns once no
    /// byte can move any more.
    pub fn pause(&self) {
        *self.shared.paused.write().unwrap() = true;
    }

    /// Heals the partition: held bytes and new connections go through.
    pub fn resume(&self) {
        *self.shared.paused.write().unwrap() = false;
    }

    /// Pauses the moment `needle` is about to be forwarded to the target:
    /// the chunk containing it is held back, everything before it went
    /// through. Spaces are ignored on both sides (SQL text is matched
    /// whatever its spacing). One shot.
    pub fn pause_when_sent(&self, needle: &[u8]) {
        self.shared.triggered.store(false, Ordering::SeqCst);
        *self.shared.trigger.lock().unwrap() = Some(needle.to_vec());
    }

    /// True once a [`Proxy::pause_when_sent`] trigger fired.
    pub fn triggered(&self) -> bool {
        self.shared.triggered.load(Ordering::SeqCst)
    }

    pub fn is_paused(&self) -> bool {
        self.shared.is_paused()
    }

    /// Chunks read from one side and not yet written to the other.
    pub fn held(&self) -> usize {
        self.shared.held.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// Local ports of the proxy's connections to the target.
    pub fn upstream_ports(&self) -> Vec<u16> {
        self.shared.upstream_ports.lock().unwrap().clone()
    }

    /// Closes every current connection (both sides see a reset or EOF) but
    /// keeps accepting new ones: a dropped database connection.
    pub fn reset(&self) {
        self.shared.close_all();
    }

    /// Closes the client side of every current connection and stops
    /// forwarding them, leaving their sockets to the target open and
    /// silent; new connections go through as before.
    pub fn abandon(&self) {
        let below = self.shared.accepted.load(Ordering::SeqCst);
        self.shared.abandoned_below.store(below, Ordering::SeqCst);
        for (n, c) in self.shared.clients.lock().unwrap().iter() {
            if *n < below {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Closes everything, the listener included (new connections are
    /// refused).
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

fn accept_loop(listener: TcpListener, target: String, shared: Arc<Shared>) {
    while !shared.cut.load(Ordering::SeqCst) {
        if shared.is_paused() {
            // Connections pile up in the kernel's backlog: the client sees a
            // connected socket that never answers, as behind a partition.
            thread::sleep(POLL);
            continue;
        }
        match listener.accept() {
            Ok((client, _)) => {
                let number = shared.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nonblocking(false);
                match TcpStream::connect(&target) {
                    Ok(upstream) => wire(number, client, upstream, &shared),
                    Err(_) => {
                        let _ = client.shutdown(Shutdown::Both);
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
            Err(_) => thread::sleep(POLL),
        }
    }
    // Dropping the listener refuses further connections.
}

fn wire(number: usize, client: TcpStream, upstream: TcpStream, shared: &Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    if let Ok(a) = upstream.local_addr() {
        shared.upstream_ports.lock().unwrap().push(a.port());
    }
    let clones = (
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
        upstream.try_clone(),
        client.try_clone(),
    );
    let (Ok(c2), Ok(u2), Ok(c3), Ok(u3), Ok(c4)) = clones else {
        let _ = client.shutdown(Shutdown::Both);
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    };
    {
        let mut sockets = shared.sockets.lock().unwrap();
        sockets.push(c3);
        sockets.push(u3);
    }
    shared.clients.lock().unwrap().push((number, c4));
    if shared.cut.load(Ordering::SeqCst) {
        shared.close_all();
        return;
    }
    let s1 = shared.clone();
    let s2 = shared.clone();
    thread::spawn(move || pump(number, client, u2, s1, true));
    thread::spawn(move || pump(number, upstream, c2, s2, false));
}

/// Copies `from` to `to` until EOF, an error or a cut, never moving a byte
/// while paused. `towards_target` pumps are the ones the trigger watches.
fn pump(
    number: usize,
    mut from: TcpStream,
    mut to: TcpStream,
    shared: Arc<Shared>,
    towards_target: bool,
) {
    let _ = from.set_read_timeout(Some(Duration::from_millis(20)));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        if shared.cut.load(Ordering::SeqCst) {
            break;
        }
        if number < shared.abandoned_below.load(Ordering::SeqCst) {
            // Keep the target's side open and silent.
            let upstream = if towards_target { to } else { from };
            shared.kept.lock().unwrap().push(upstream);
            return;
        }
        if shared.is_paused() {
            thread::sleep(POLL);
            continue;
        }
        let read = from.read(&mut buf);
        if number < shared.abandoned_below.load(Ordering::SeqCst) {
            continue; // the check at the top keeps the target's side open
        }
        let n = match read {
            Ok(0) => {
                // Half-close: pass the EOF on (unless paused: then it waits
                // like any byte would).
                wait_unpaused(&shared);
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        };
        shared.held.fetch_add(1, Ordering::SeqCst);
        if towards_target {
            let mut trigger = shared.trigger.lock().unwrap();
            let hit = trigger
                .as_deref()
                .is_some_and(|needle| contains(&buf[..n], needle));
            if hit {
                *trigger = None;
                *shared.paused.write().unwrap() = true;
                shared.triggered.store(true, Ordering::SeqCst);
            }
        }
        let written = loop {
            if shared.cut.load(Ordering::SeqCst) {
                break false;
            }
            let guard = shared.paused.read().unwrap();
            if !*guard {
                let ok = to.write_all(&buf[..n]).is_ok();
                drop(guard);
                break ok;
            }
            drop(guard);
            thread::sleep(POLL);
        };
        shared.held.fetch_sub(1, Ordering::SeqCst);
        if !written {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn wait_unpaused(shared: &Shared) {
    while shared.is_paused() && !shared.cut.load(Ordering::SeqCst) {
        thread::sleep(POLL);
    }
}

/// Substring test ignoring spaces.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let squeeze = |b: &[u8]| -> Vec<u8> { b.iter().copied().filter(|&c| c != b' ').collect() };
    let (h, n) = (squeeze(haystack), squeeze(needle));
    !n.is_empty() && h.windows(n.len()).any(|w| w == n.as_slice())
}
