//! Unit tests of dispatch, acknowledgement and redelivery on the core state.

use super::*;
use crate::broker::paging::{page_from_rows, PageRequest, PRIORITIES};
use crate::broker::AckRequest;
use crate::message::now_ms;
use bytes::Bytes;

fn core(max_redeliveries: u32) -> State {
    State::new(CoreConfig {
        policies: crate::broker::Policies::defaults(max_redeliveries, "DLQ."),
        ids: Default::default(),
        topic_pending_limit: 5,
        queue_window: 1000,
        queue_window_bytes: 1 << 30,
        max_subscriptions_per_connection: 1000,
        max_transactions_per_connection: 1000,
        max_temp_destinations_per_connection: 1000,
        max_unacked_per_consumer: 10_000,
        max_non_persistent_bytes: 1 << 30,
        producer_retention_ms: 3_600_000,
    })
}

fn msg(id: i64, dest: &str, persistent: bool) -> Message {
    Message {
        id,
        destination: Destination::parse(dest).unwrap(),
        priority: 4,
        expires: 0,
        persistent,
        headers: vec![].into(),
        body: Bytes::from(format!("m{id}")),
        redelivery_count: 0,
        redelivered: false,
        producer: None,
        scheduled: 0,
        body_kind: Default::default(),
        client_id: None,
        origin: 0,
    }
}

fn conn(st: &mut State, id: ConnId) -> Arc<Outbox> {
    let o = Arc::new(Outbox::default());
    st.add_conn(id, o.clone());
    o
}

fn sub(st: &mut State, c: ConnId, id: &str, dest: &str, ack: AckMode, prefetch: usize) {
    let spec = SubscribeSpec {
        id: id.into(),
        destination: Destination::parse(dest).unwrap(),
        ack,
        prefetch,
        exclusive: false,
        browser: false,
        durable: None,
        selector: None,
        no_local: false,
    };
    st.subscribe(c, spec, &mut Vec::new()).unwrap();
}

fn ack(sub: &str, message_id: i64, kind: AckKind) -> AckRequest {
    AckRequest {
        subscription: Some(sub.to_string()),
        message_id,
        first: None,
        kind,
    }
}

fn ids(o: &Outbox) -> Vec<i64> {
    o.take(usize::MAX).0.iter().map(|d| d.message.id).collect()
}

#[test]
fn queue_round_robin_over_consumers() {
    let mut st = core(6);
    let (a, b) = (conn(&mut st, 1), conn(&mut st, 2));
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    sub(&mut st, 2, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    for id in 1..=6 {
        st.route(msg(id, "/queue/q", false), &mut ops);
    }
    assert_eq!(ids(&a), vec![1, 3, 5]);
    assert_eq!(ids(&b), vec![2, 4, 6]);
}

#[test]
fn prefetch_limits_in_flight_and_ack_frees_credit() {
    let mut st = core(6);
    let (a, b) = (conn(&mut st, 1), conn(&mut st, 2));
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 1);
    sub(&mut st, 2, "s", "/queue/q", AckMode::ClientIndividual, 2);
    let mut ops = Vec::new();
    for id in 1..=5 {
        st.route(msg(id, "/queue/q", false), &mut ops);
    }
    assert_eq!(ids(&a), vec![1]);
    assert_eq!(ids(&b), vec![2, 3]);
    st.acknowledge(1, &ack("s", 1, AckKind::Ack), &mut ops)
        .unwrap();
    assert_eq!(ids(&a), vec![4]);
    assert!(ids(&b).is_empty());
}

#[test]
fn client_ack_is_cumulative_and_individual_is_not() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "c", "/queue/c", AckMode::Client, 10);
    sub(&mut st, 1, "i", "/queue/i", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    for id in 1..=3 {
        st.route(msg(id, "/queue/c", true), &mut ops);
        st.route(msg(10 + id, "/queue/i", true), &mut ops);
    }
    ids(&a);
    st.acknowledge(1, &ack("c", 2, AckKind::Ack), &mut ops)
        .unwrap();
    st.acknowledge(1, &ack("i", 12, AckKind::Ack), &mut ops)
        .unwrap();
    let deleted: Vec<i64> = ops
        .iter()
        .filter_map(|o| match o {
            WriteOp::Delete(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, vec![1, 2, 12]);
    assert!(matches!(
        st.acknowledge(1, &ack("c", 1, AckKind::Ack), &mut ops),
        Err(BrokerError::NotInFlight(1))
    ));
    assert!(st
        .acknowledge(1, &ack("i", 11, AckKind::Ack), &mut ops)
        .is_ok());
}

/// OpenWire names a range: an expired message alone (first = last), a
/// transaction's poison ack from its first to its last delivery. Neither
/// may take the client-mode subscription's earlier messages with it.
#[test]
fn a_ranged_ack_covers_its_range_only_even_in_client_mode() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "c", "/queue/c", AckMode::Client, 10);
    let mut ops = Vec::new();
    for id in 1..=5 {
        st.route(msg(id, "/queue/c", true), &mut ops);
    }
    assert_eq!(ids(&a), vec![1, 2, 3, 4, 5]);
    let ranged = |first, last, kind| AckRequest {
        first: Some(first),
        ..ack("c", last, kind)
    };
    st.acknowledge(1, &ranged(2, 2, AckKind::Expired), &mut ops)
        .unwrap();
    st.acknowledge(1, &ranged(3, 4, AckKind::Poison("x".into())), &mut ops)
        .unwrap();
    for gone in [2, 3, 4] {
        assert!(matches!(
            st.acknowledge(1, &ack("c", gone, AckKind::Individual), &mut ops),
            Err(BrokerError::NotInFlight(id)) if id == gone
        ));
    }
    let still: Vec<i64> = st.subscriptions[&(1, Arc::from("c"))]
        .inflight
        .values()
        .map(|m| m.id)
        .collect();
    assert_eq!(
        still,
        vec![1, 5],
        "the messages outside the ranges stay in flight"
    );
    // Without a range, client mode stays cumulative.
    st.acknowledge(1, &ack("c", 5, AckKind::Ack), &mut ops)
        .unwrap();
    assert!(st.subscriptions[&(1, Arc::from("c"))].inflight.is_empty());
    // A range whose first message is no longer in flight covers its last
    // one only.
    for id in 6..=8 {
        st.route(msg(id, "/queue/c", true), &mut ops);
    }
    assert_eq!(ids(&a), vec![6, 7, 8]);
    st.acknowledge(1, &ranged(2, 7, AckKind::Expired), &mut ops)
        .unwrap();
    let still: Vec<i64> = st.subscriptions[&(1, Arc::from("c"))]
        .inflight
        .values()
        .map(|m| m.id)
        .collect();
    assert_eq!(still, vec![6, 8]);
}

/// Temporary destinations count against their connection until deleted
/// by it or by an administrator; a message routed to one that is gone is
/// dropped, not left in a queue nobody can read.
#[test]
fn temporary_destinations_are_counted_until_deleted() {
    let mut st = State::new(CoreConfig {
        max_temp_destinations_per_connection: 2,
        ..core(6).config.clone()
    });
    conn(&mut st, 1);
    let mut ops = Vec::new();
    let t = |n: &str| Destination::Queue(format!("temp.c1.{n}"));
    st.create_temp(1, &t("a"), &mut ops).unwrap();
    st.create_temp(1, &t("b"), &mut ops).unwrap();
    assert!(matches!(
        st.create_temp(1, &t("c"), &mut ops),
        Err(BrokerError::TooManyTemps(2))
    ));
    st.delete_temp(1, &t("a"), &mut ops).unwrap();
    st.create_temp(1, &t("c"), &mut ops).unwrap();
    st.remove_destination(&t("b"), &mut ops).unwrap();
    st.create_temp(1, &t("d"), &mut ops).unwrap();
    assert!(matches!(
        st.create_temp(1, &t("e"), &mut ops),
        Err(BrokerError::TooManyTemps(2))
    ));
    // Routed after its deletion: dropped.
    st.route(msg(1, "/queue/temp.c1.a", false), &mut ops);
    assert!(!st.destinations.queues.contains_key("temp.c1.a"));
    // A connection that is gone creates nothing.
    assert!(matches!(
        st.create_temp(9, &t("x"), &mut ops),
        Err(BrokerError::ShuttingDown)
    ));
}

#[test]
fn nack_redelivers_then_dead_letters() {
    let mut st = core(2);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    st.route(msg(1, "/queue/q", true), &mut ops);
    for round in 1..=2 {
        ids(&a);
        st.acknowledge(1, &ack("s", 1, AckKind::Nack), &mut ops)
            .unwrap();
        let (ds, _) = a.take(10);
        assert_eq!(ds.len(), 1);
        assert!(ds[0].message.redelivered);
        assert_eq!(ds[0].message.redelivery_count, round);
        a.push(ds[0].clone());
    }
    ids(&a);
    st.acknowledge(1, &ack("s", 1, AckKind::Nack), &mut ops)
        .unwrap();
    assert!(ids(&a).is_empty(), "third failure goes to the DLQ");
    assert!(ops.iter().any(|o| matches!(o,
        WriteOp::Move { id: 1, destination, meta, .. }
            if destination == "/queue/DLQ.q"
            && meta.headers.iter().any(|(k, _)| k == "dlqDeliveryFailureCause")
            && meta.headers.iter().any(|(k, v)| k == "original-destination" && v.as_str() == Some("/queue/q")))));
    let dlq = st
        .destinations()
        .into_iter()
        .find(|d| d.destination == Destination::Queue("DLQ.q".into()))
        .unwrap();
    assert_eq!(dlq.depth, 1);
}

#[test]
fn disconnect_redelivers_written_and_returns_unwritten_unchanged() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    st.route(msg(1, "/queue/q", false), &mut ops);
    ids(&a); // message 1 was written to the socket
    st.route(msg(2, "/queue/q", false), &mut ops); // message 2 was not
    st.remove_conn(1, &mut ops);
    let b = conn(&mut st, 2);
    sub(&mut st, 2, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let (ds, _) = b.take(10);
    let got: Vec<(i64, bool, u32)> = ds
        .iter()
        .map(|d| {
            (
                d.message.id,
                d.message.redelivered,
                d.message.redelivery_count,
            )
        })
        .collect();
    assert_eq!(got, vec![(1, true, 1), (2, false, 0)]);
}

#[test]
fn auto_ack_consumes_when_written() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::Auto, 1);
    let mut ops = Vec::new();
    st.route(msg(1, "/queue/q", true), &mut ops);
    st.route(msg(2, "/queue/q", true), &mut ops);
    assert_eq!(ids(&a), vec![1]);
    st.written(1, &[(Arc::from("s"), 1)], &mut ops);
    assert!(matches!(ops[..], [WriteOp::Delete(1)]));
    assert_eq!(ids(&a), vec![2]);
}

#[test]
fn topic_fans_out_to_present_subscribers_only() {
    let mut st = core(6);
    let (a, b) = (conn(&mut st, 1), conn(&mut st, 2));
    sub(&mut st, 1, "s", "/topic/t", AckMode::Auto, 10);
    let mut ops = Vec::new();
    st.route(msg(1, "/topic/t", true), &mut ops);
    sub(&mut st, 2, "s", "/topic/t", AckMode::Auto, 10);
    st.route(msg(2, "/topic/t", false), &mut ops);
    assert_eq!(ids(&a), vec![1, 2]);
    assert_eq!(ids(&b), vec![2]);
    assert!(ops.is_empty(), "topic messages are not stored");
}

#[test]
fn slow_topic_subscriber_is_told_to_close() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/topic/t", AckMode::ClientIndividual, 1);
    let mut ops = Vec::new();
    for id in 1..=7 {
        st.route(msg(id, "/topic/t", false), &mut ops);
    }
    let (_, close) = a.take(100);
    assert!(close.unwrap().contains("slow consumer"));
}

#[test]
fn expired_messages_are_dropped_not_delivered() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    let mut ops = Vec::new();
    let mut m = msg(1, "/queue/q", true);
    m.expires = now_ms() + 60_000;
    st.route(m, &mut ops);
    let mut gone = msg(2, "/queue/q", true);
    gone.expires = 1;
    st.route(gone, &mut ops);
    assert!(matches!(ops[..], [WriteOp::Delete(2)]));
    sub(&mut st, 1, "s", "/queue/q", AckMode::Auto, 10);
    assert_eq!(ids(&a), vec![1]);
}

#[test]
fn unsubscribe_returns_unwritten_messages_unchanged() {
    let mut st = core(6);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    st.route(msg(1, "/queue/q", false), &mut ops);
    st.unsubscribe(1, "s", Seen::All, &mut ops).unwrap();
    assert!(ids(&a).is_empty());
    sub(&mut st, 1, "t", "/queue/q", AckMode::ClientIndividual, 10);
    let (ds, _) = a.take(10);
    assert_eq!(ds.len(), 1);
    assert!(!ds[0].message.redelivered);
    assert!(matches!(
        st.unsubscribe(1, "nope", Seen::All, &mut ops),
        Err(BrokerError::UnknownSubscription(_))
    ));
}

#[test]
fn a_delayed_redelivery_waits_with_the_scheduled_messages_and_is_no_job() {
    let entry: crate::config::PolicyConfig =
        toml::from_str("destination = \"/queue/q\"\ninitial_redelivery_delay_ms = 60000").unwrap();
    let mut st = State::new(CoreConfig {
        policies: crate::broker::Policies::new(6, "DLQ.", &[entry]),
        ids: Default::default(),
        topic_pending_limit: 5,
        queue_window: 1000,
        queue_window_bytes: 1 << 30,
        max_subscriptions_per_connection: 1000,
        max_transactions_per_connection: 1000,
        max_temp_destinations_per_connection: 1000,
        max_unacked_per_consumer: 10_000,
        max_non_persistent_bytes: 1 << 30,
        producer_retention_ms: 3_600_000,
    });
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    let mut ops = Vec::new();
    st.route(msg(1, "/queue/q", true), &mut ops);
    assert_eq!(ids(&a), vec![1]);
    let before = now_ms();
    st.acknowledge(1, &ack("s", 1, AckKind::Nack), &mut ops)
        .unwrap();
    assert!(ids(&a).is_empty(), "held back for the delay");
    let at = ops
        .iter()
        .find_map(|o| match o {
            WriteOp::SetRedeliveries {
                id: 1,
                count: 1,
                at,
            } => Some(*at),
            _ => None,
        })
        .expect("count and due time stored");
    assert!(at >= before + 60_000, "due {at}, NACKed at {before}");
    assert_eq!(st.next_due(), Some(at));
    assert!(st.scheduled_jobs().is_empty(), "not a scheduled job");
    let mut copies = 0;
    let due = st.take_due(
        at,
        || {
            copies += 1;
            100
        },
        &mut ops,
    );
    assert!(due.is_empty() && copies == 0, "no copy with a new id");
    let back = a.take(10).0;
    assert_eq!(back.len(), 1);
    assert_eq!(back[0].message.id, 1);
    assert_eq!(back[0].message.redelivery_count, 1);
    assert_eq!(back[0].message.scheduled, 0);
}

fn windowed(window: usize) -> State {
    let mut st = core(6);
    st.config.queue_window = window;
    st
}

fn destination_depth(st: &State, name: &str) -> usize {
    st.destinations()
        .into_iter()
        .find(|d| d.destination == Destination::Queue(name.into()))
        .map_or(0, |d| d.depth)
}

/// Reads the spill of `request` from `stored` as the store would.
fn read(request: &PageRequest, stored: &[Message]) -> crate::broker::paging::Page {
    let rows: Vec<Message> = stored
        .iter()
        .filter(|m| m.id >= request.from[usize::from(m.priority)])
        .cloned()
        .collect();
    page_from_rows(request, rows, false)
}

#[test]
fn a_full_window_leaves_stored_messages_in_the_database_until_they_are_paged_in() {
    let mut st = windowed(3);
    let mut ops = Vec::new();
    let stored: Vec<Message> = (1..=5).map(|id| msg(id, "/queue/q", true)).collect();
    for m in &stored {
        st.route_stored(m.clone(), &mut ops);
    }
    assert_eq!(destination_depth(&st, "q"), 5, "3 in memory + 2 spilled");
    assert!(
        st.take_page_requests().is_empty(),
        "the window is still full"
    );

    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    assert_eq!(ids(&a), vec![1, 2, 3]);
    let requests = st.take_page_requests();
    assert_eq!(requests.len(), 1, "the drained window asks for a page");
    assert_eq!(
        requests[0].from, [4; PRIORITIES],
        "the spill starts at id 4"
    );
    let page = read(&requests[0], &stored);
    st.paged_in(&requests[0], page, &mut ops);
    assert_eq!(ids(&a), vec![4, 5]);
    assert!(
        st.destinations.queues["q"].spill.is_none(),
        "the database had no more"
    );
    st.route_stored(msg(6, "/queue/q", true), &mut ops);
    assert_eq!(ids(&a), vec![6], "back to memory once the spill is over");
}

#[test]
fn a_late_commit_below_the_memory_stays_in_memory_and_is_not_paged_twice() {
    let mut st = windowed(2);
    let mut ops = Vec::new();
    for id in [1, 3, 4] {
        st.route_stored(msg(id, "/queue/q", true), &mut ops);
    }
    // id 2 commits after 3 and 4; the window is full, but it is older than
    // what memory holds, so it joins memory.
    st.route_stored(msg(2, "/queue/q", true), &mut ops);
    assert_eq!(st.destinations.queues["q"].pending.len(), 3);
    // A dead letter routed while the queue spills is resident, and a page
    // that reads it again skips it.
    st.route(msg(9, "/queue/q", true), &mut ops);
    let stored: Vec<Message> = [4, 9].iter().map(|&id| msg(id, "/queue/q", true)).collect();
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::ClientIndividual, 10);
    assert_eq!(ids(&a), vec![1, 2, 3, 9]);
    let requests = st.take_page_requests();
    st.paged_in(&requests[0], read(&requests[0], &stored), &mut ops);
    assert_eq!(ids(&a), vec![4], "9 is not delivered twice");
}

#[test]
fn a_purge_drops_the_spill_and_a_page_read_it_overtook() {
    let mut st = windowed(1);
    let mut ops = Vec::new();
    let stored: Vec<Message> = (1..=4).map(|id| msg(id, "/queue/q", true)).collect();
    for m in &stored {
        st.route_stored(m.clone(), &mut ops);
    }
    st.destinations.queues.get_mut("q").unwrap().pending.pop();
    st.want_page("q");
    let requests = st.take_page_requests();
    assert_eq!(requests.len(), 1);
    let mut purge_ops = Vec::new();
    assert_eq!(st.purge("q", &mut purge_ops).unwrap(), 3, "the 3 spilled");
    assert!(purge_ops.iter().any(|op| matches!(
        op,
        WriteOp::DeleteSpilled { destination, ranges }
            if destination == "/queue/q" && ranges.contains(&(4, 2, 4))
    )));
    st.paged_in(&requests[0], read(&requests[0], &stored), &mut ops);
    assert_eq!(
        destination_depth(&st, "q"),
        0,
        "the overtaken page is dropped"
    );
}

#[test]
fn recovered_queues_are_paged_in_with_redelivered() {
    let mut st = windowed(10);
    st.restore_spill("q", 2, 2);
    let requests = st.take_page_requests();
    assert_eq!(requests[0].from, [i64::MIN; PRIORITIES]);
    let stored = vec![msg(1, "/queue/q", true), msg(2, "/queue/q", true)];
    let mut ops = Vec::new();
    st.paged_in(&requests[0], read(&requests[0], &stored), &mut ops);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::Auto, 10);
    let got = a.take(usize::MAX).0;
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|d| d.message.redelivered));
}

#[test]
fn a_page_skips_unrouted_commits_and_keeps_what_spilled_during_the_read() {
    let mut st = windowed(4);
    let mut ops = Vec::new();
    for id in 1..=5 {
        st.route_stored(msg(id, "/queue/q", true), &mut ops);
    }
    for _ in 0..4 {
        st.destinations.queues.get_mut("q").unwrap().pending.pop();
    }
    st.want_page("q");
    let request = st.take_page_requests().remove(0);
    // 6 and 7 are committing; 8, then 7 are routed during the read, which
    // sees 5, 6 (not yet routed) and 8, but not 7 (committed after its
    // snapshot).
    st.expect_routes(&[msg(6, "/queue/q", true), msg(7, "/queue/q", true)]);
    st.route_stored(msg(8, "/queue/q", true), &mut ops);
    st.route_stored(msg(7, "/queue/q", true), &mut ops);
    let seen: Vec<Message> = [5, 6, 8]
        .iter()
        .map(|&id| msg(id, "/queue/q", true))
        .collect();
    st.paged_in(&request, read(&request, &seen), &mut ops);
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "s", "/queue/q", AckMode::Auto, 10);
    // 6's commit completes after the others were delivered.
    st.route_stored(msg(6, "/queue/q", true), &mut ops);
    let mut got = ids(&a);
    got.sort_unstable();
    assert_eq!(got, vec![5, 6, 7, 8], "each exactly once");
    assert_eq!(destination_depth(&st, "q"), 0);
}

/// DELIVERED acks widen a consumer's prefetch window, but never past
/// `limits.max_unacked_per_consumer` unacknowledged messages.
#[test]
fn delivered_acks_widen_the_window_up_to_the_unacked_limit() {
    let mut st = State::new(CoreConfig {
        max_unacked_per_consumer: 3,
        ..core(6).config.clone()
    });
    let a = conn(&mut st, 1);
    sub(&mut st, 1, "c", "/queue/c", AckMode::Client, 1);
    let mut ops = Vec::new();
    for id in 1..=5 {
        st.route(msg(id, "/queue/c", true), &mut ops);
    }
    let mut got = ids(&a);
    assert_eq!(got, vec![1], "prefetch 1");
    for _ in 0..4 {
        let last = *got.last().unwrap();
        st.acknowledge(1, &ack("c", last, AckKind::Delivered), &mut ops)
            .unwrap();
        got.extend(ids(&a));
    }
    assert_eq!(got, vec![1, 2, 3], "three unacknowledged at most");
    st.acknowledge(1, &ack("c", 3, AckKind::Ack), &mut ops)
        .unwrap();
    assert_eq!(ids(&a), vec![4]);
}
