//! The chaos soak's traffic: producers of persistent messages, one producer
//! of non-persistent messages and consumers, all through
//! `baton::client::FailoverClient`, and the books they keep.

use crate::common::deliveries::{self, Deliveries};
use baton::client::failover::SendConfirm;
use baton::client::{ClientOptions, FailoverClient};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::time::{sleep, timeout};

/// The persistent producers alternate between these queues.
pub const QUEUES: [&str; 2] = ["/queue/chaos-a", "/queue/chaos-b"];
/// Where the non-persistent producer sends.
pub const TRANSIENT_QUEUE: &str = "/queue/chaos-np";
/// Sends on the wire without a RECEIPT, per producer.
const WINDOW: usize = 100;
/// Pause between two sends of one producer (keeps the shared machine
/// usable; the soak is about correctness, not throughput).
const PACE: Duration = Duration::from_micros(500);

/// What producers and consumers saw.
#[derive(Default)]
pub struct Books {
    /// Persistent bodies whose RECEIPT arrived.
    confirmed: Mutex<BTreeSet<String>>,
    /// Non-persistent bodies whose RECEIPT arrived.
    transient_confirmed: Mutex<BTreeSet<String>>,
    /// Sends that failed (the failover client is meant to hide every
    /// failover, so any entry is a failure).
    pub errors: Mutex<Vec<String>>,
    /// Deliveries of persistent messages.
    deliveries: Mutex<Deliveries>,
    /// Deliveries of non-persistent messages.
    transient_deliveries: Mutex<Deliveries>,
    confirmed_count: AtomicU64,
    /// Per client (producer or consumer name): confirmations or deliveries.
    ticks: Mutex<BTreeMap<String, u64>>,
    gap: Mutex<Gap>,
}

#[derive(Default)]
struct Gap {
    last: Option<Instant>,
    longest: Duration,
}

impl Books {
    /// Persistent sends confirmed so far.
    pub fn confirmed_count(&self) -> u64 {
        self.confirmed_count.load(Ordering::SeqCst)
    }

    /// Confirmations (producers) or deliveries (consumers) per client.
    pub fn ticks(&self) -> BTreeMap<String, u64> {
        self.ticks.lock().unwrap().clone()
    }

    fn tick(&self, client: &str) {
        *self
            .ticks
            .lock()
            .unwrap()
            .entry(client.to_string())
            .or_default() += 1;
    }

    fn confirm(&self, body: String, persistent: bool) {
        if !persistent {
            self.transient_confirmed.lock().unwrap().insert(body);
            return;
        }
        self.confirmed.lock().unwrap().insert(body);
        self.confirmed_count.fetch_add(1, Ordering::SeqCst);
        let now = Instant::now();
        let mut gap = self.gap.lock().unwrap();
        if let Some(last) = gap.last {
            gap.longest = gap.longest.max(now - last);
        }
        gap.last = Some(now);
    }

    /// Confirmed persistent bodies not delivered yet.
    pub fn missing(&self) -> Vec<String> {
        let seen = self.deliveries.lock().unwrap();
        self.confirmed
            .lock()
            .unwrap()
            .iter()
            .filter(|b| !seen.contains_key(*b))
            .cloned()
            .collect()
    }

    /// The counts, once traffic stopped and consumers drained.
    pub fn summary(&self) -> Summary {
        let confirmed = self.confirmed.lock().unwrap();
        let seen = self.deliveries.lock().unwrap();
        let tconfirmed = self.transient_confirmed.lock().unwrap();
        let tseen = self.transient_deliveries.lock().unwrap();
        Summary {
            confirmed: confirmed.len(),
            received: seen.keys().filter(|b| confirmed.contains(*b)).count(),
            lost: confirmed
                .iter()
                .filter(|b| !seen.contains_key(*b))
                .cloned()
                .collect(),
            unconfirmed_received: seen.keys().filter(|b| !confirmed.contains(*b)).count(),
            stored_twice: deliveries::stored_twice(&seen),
            unflagged_twice: deliveries::unflagged_twice(&seen),
            redelivered: deliveries::repeated(&seen),
            transient_confirmed: tconfirmed.len(),
            transient_received: tseen.keys().filter(|b| tconfirmed.contains(*b)).count(),
            transient_lost: tconfirmed
                .iter()
                .filter(|b| !tseen.contains_key(*b))
                .count(),
            transient_twice: deliveries::repeated(&tseen),
            longest_gap: self.gap.lock().unwrap().longest,
            errors: self.errors.lock().unwrap().clone(),
        }
    }
}

/// The end-of-run counts.
#[derive(Debug)]
pub struct Summary {
    pub confirmed: usize,
    /// Confirmed persistent messages that were delivered.
    pub received: usize,
    /// Confirmed persistent messages never delivered.
    pub lost: Vec<String>,
    /// Delivered persistent messages whose RECEIPT never arrived (allowed:
    /// committed, then the connection dropped; not counted as confirmed).
    pub unconfirmed_received: usize,
    /// Bodies delivered under more than one message-id: stored twice.
    pub stored_twice: Vec<String>,
    /// Bodies delivered more than once without `redelivered:true`.
    pub unflagged_twice: Vec<String>,
    /// Bodies delivered more than once (each extra time flagged).
    pub redelivered: usize,
    pub transient_confirmed: usize,
    pub transient_received: usize,
    pub transient_lost: usize,
    pub transient_twice: usize,
    /// Longest time between two persistent confirmations.
    pub longest_gap: Duration,
    pub errors: Vec<String>,
}

/// Options for every soak client.
fn options() -> ClientOptions {
    ClientOptions {
        max_in_flight: WINDOW,
        // Quick detection of a master whose connection went silent.
        heartbeat_ms: 1_000,
        ..ClientOptions::default()
    }
}

/// Sends `<run>:<name>-<n>` until `stop` (`run` names the soak, so a
/// message that crossed into another soak's cluster is told apart),
/// persistent ones alternating between [`QUEUES`], non-persistent ones to
/// [`TRANSIENT_QUEUE`]; records every confirmation. Returns the client's
/// failover count.
pub async fn produce(
    url: String,
    run: &'static str,
    name: String,
    persistent: bool,
    books: Arc<Books>,
    stop: Arc<AtomicBool>,
) -> u64 {
    let client = FailoverClient::connect(&url, options())
        .await
        .unwrap_or_else(|e| panic!("producer {name} connects: {e}"));
    let (tx, mut rx) = mpsc::channel::<(String, SendConfirm)>(WINDOW);
    let confirmer = {
        let (books, name) = (books.clone(), name.clone());
        tokio::spawn(async move {
            while let Some((body, confirm)) = rx.recv().await {
                match confirm.wait().await {
                    Ok(()) => {
                        books.tick(&name);
                        books.confirm(body, persistent);
                    }
                    Err(e) => books.errors.lock().unwrap().push(format!("{body}: {e}")),
                }
            }
        })
    };
    let headers: &[(&str, &str)] = if persistent {
        &[("persistent", "true")]
    } else {
        &[]
    };
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) {
        n += 1;
        let body = format!("{run}:{name}-{n}");
        let dest = if persistent {
            QUEUES[n % QUEUES.len()]
        } else {
            TRANSIENT_QUEUE
        };
        match client.send_async(dest, body.clone(), headers).await {
            Ok(confirm) => tx.send((body, confirm)).await.expect("confirmer runs"),
            Err(e) => {
                books.errors.lock().unwrap().push(format!("{body}: {e}"));
                break;
            }
        }
        sleep(PACE).await;
    }
    drop(tx);
    confirmer.await.expect("confirmer task");
    let failovers = client.failovers();
    if let Err(e) = client.close().await {
        books
            .errors
            .lock()
            .unwrap()
            .push(format!("closing producer {name}: {e}"));
    }
    failovers
}

/// Subscribes to every soak queue with client-individual acks and records
/// and acknowledges each delivery until `done`. Returns the client's
/// failover count.
pub async fn consume(
    url: String,
    run: &'static str,
    name: String,
    books: Arc<Books>,
    done: Arc<AtomicBool>,
) -> u64 {
    let mut client = FailoverClient::connect(&url, options())
        .await
        .unwrap_or_else(|e| panic!("consumer {name} connects: {e}"));
    for (i, q) in QUEUES.iter().chain([&TRANSIENT_QUEUE]).enumerate() {
        client
            .subscribe(q, &format!("{name}-{i}"), "client-individual", &[])
            .await
            .unwrap_or_else(|e| panic!("consumer {name} subscribes to {q}: {e}"));
    }
    while !done.load(Ordering::SeqCst) {
        let m = match timeout(Duration::from_millis(200), client.next_message()).await {
            Ok(Some(m)) => m,
            Ok(None) => panic!("consumer {name}: the failover client stopped"),
            Err(_) => continue,
        };
        books.tick(&name);
        let body = String::from_utf8_lossy(m.body()).into_owned();
        if !body.starts_with(&format!("{run}:")) {
            books.errors.lock().unwrap().push(format!(
                "consumer {name} of the {run} soak got {body:?}, sent by another soak"
            ));
        }
        let id = m.header("message-id").unwrap_or_default().to_string();
        let book = match m.header("destination") {
            Some(TRANSIENT_QUEUE) => &books.transient_deliveries,
            _ => &books.deliveries,
        };
        book.lock()
            .unwrap()
            .entry(body)
            .or_default()
            .push((id, m.redelivered()));
        client
            .ack(&m, false)
            .await
            .unwrap_or_else(|e| panic!("consumer {name} acks: {e}"));
    }
    let failovers = client.failovers();
    client
        .close()
        .await
        .unwrap_or_else(|e| panic!("consumer {name} closes: {e}"));
    failovers
}
