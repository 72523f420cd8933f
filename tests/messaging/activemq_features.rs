//! ActiveMQ messaging features over STOMP against the real binary:
//! wildcard subscriptions, composite destinations, queue browsing,
//! exclusive consumers, message groups, temporary destinations with
//! request/reply, virtual topics.

use crate::common;

use baton::client::Client;
use baton::stomp::frame::{Command, Frame};
use common::stomp::*;
use common::Baton;

async fn body_of(c: &mut Client) -> String {
    next_body(c).await
}

#[tokio::test]
async fn wildcard_topic_subscription_gets_every_matching_topic() {
    let b = Baton::start();
    let mut c = connect(&b).await;
    subscribe(&mut c, "/topic/PRICE.>", "all", "auto", &[]).await;
    let mut one = connect(&b).await;
    subscribe(&mut one, "/topic/PRICE.*.NYSE", "nyse", "auto", &[]).await;
    let mut p = connect(&b).await;
    for dest in [
        "/topic/PRICE.STOCK.NYSE",
        "/topic/PRICE",
        "/topic/PRICE.BOND.NASDAQ",
        "/topic/OTHER.STOCK",
        "/topic/PRICE.BOND.NYSE",
    ] {
        send(&mut p, dest, dest, &[]).await;
    }
    assert_eq!(
        bodies(&mut c, 3).await,
        [
            "/topic/PRICE.STOCK.NYSE",
            "/topic/PRICE.BOND.NASDAQ",
            "/topic/PRICE.BOND.NYSE"
        ]
    );
    let m = next(&mut one).await;
    assert_eq!(m.header("destination"), Some("/topic/PRICE.STOCK.NYSE"));
    assert_eq!(body(&next(&mut one).await), "/topic/PRICE.BOND.NYSE");
    nothing_arrives(&mut c).await;
    nothing_arrives(&mut one).await;
}

#[tokio::test]
async fn wildcard_queue_consumer_drains_matching_queues_and_sends_to_patterns_fail() {
    let b = Baton::start();
    let mut p = connect(&b).await;
    persist(&mut p, "/queue/orders.eu", "eu-1").await;
    persist(&mut p, "/queue/orders.us", "us-1").await;
    persist(&mut p, "/queue/orders.eu.vip", "vip-1").await;
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/orders.*", "s", "client-individual", &[]).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = next(&mut c).await;
        got.push(body(&m));
        ack_confirmed(&mut c, &m, false).await;
    }
    got.sort();
    assert_eq!(got, ["eu-1", "us-1"]);
    persist(&mut p, "/queue/orders.new", "new-1").await;
    assert_eq!(body_of(&mut c).await, "new-1");
    nothing_arrives(&mut c).await;
    let err = guard("send", p.send("/queue/orders.*", "x", &[]))
        .await
        .expect_err("sending to a pattern is refused");
    assert!(err.to_string().contains("wildcard"), "{err}");
}

#[tokio::test]
async fn composite_destination_reaches_every_part() {
    let b = Baton::start();
    let mut t = connect(&b).await;
    subscribe(&mut t, "/topic/b", "t", "auto", &[]).await;
    let mut p = connect(&b).await;
    persist(&mut p, "/queue/a,/topic/b,c", "both").await;
    let m = next(&mut t).await;
    assert_eq!(body(&m), "both");
    assert_eq!(m.header("destination"), Some("/topic/b"));
    // `c` has the kind of the first part, as in ActiveMQ.
    for q in ["/queue/a", "/queue/c"] {
        let mut c = connect(&b).await;
        subscribe(&mut c, q, "s", "auto", &[]).await;
        let m = next(&mut c).await;
        assert_eq!(
            (body(&m).as_str(), m.header("destination")),
            ("both", Some(q))
        );
    }
}

#[tokio::test]
async fn browser_lists_without_consuming_then_ends() {
    let b = Baton::start();
    let mut p = connect(&b).await;
    for body in ["one", "two", "three"] {
        persist(&mut p, "/queue/br", body).await;
    }
    let mut c = connect(&b).await;
    subscribe(&mut c, "/queue/br", "b", "auto", &[("browser", "true")]).await;
    assert_eq!(bodies(&mut c, 3).await, ["one", "two", "three"]);
    let end = next(&mut c).await;
    assert_eq!(end.header("browser"), Some("end"));
    assert!(end.body.is_empty());
    request(
        &mut c,
        Frame::new(Command::Unsubscribe).with_header("id", "b"),
    )
    .await;
    // Nothing was consumed.
    let mut d = connect(&b).await;
    subscribe(&mut d, "/queue/br", "s", "auto", &[]).await;
    assert_eq!(bodies(&mut d, 3).await, ["one", "two", "three"]);
}

#[tokio::test]
async fn exclusive_consumer_gets_everything_until_it_leaves() {
    let b = Baton::start();
    let mut plain = connect(&b).await;
    subscribe(&mut plain, "/queue/ex", "s", "client-individual", &[]).await;
    let mut excl = connect(&b).await;
    let exclusive = [("activemq.exclusive", "true")];
    subscribe(&mut excl, "/queue/ex", "s", "client-individual", &exclusive).await;
    let mut p = connect(&b).await;
    for i in 1..=4 {
        send(&mut p, "/queue/ex", &format!("m{i}"), &[]).await;
    }
    for i in 1..=4 {
        let m = next(&mut excl).await;
        assert_eq!(body(&m), format!("m{i}"));
        ack_confirmed(&mut excl, &m, false).await;
    }
    nothing_arrives(&mut plain).await;
    drop(excl);
    // Takeover: the remaining consumer receives once the exclusive one is gone.
    send(&mut p, "/queue/ex", "after", &[]).await;
    assert_eq!(body_of(&mut plain).await, "after");
}

#[tokio::test]
async fn message_group_sticks_to_one_consumer_until_it_goes_away() {
    let b = Baton::start();
    // Client acks: a message handed to a consumer that vanishes comes back.
    let mut a = connect(&b).await;
    subscribe(&mut a, "/queue/g", "s", "client-individual", &[]).await;
    let mut c2 = connect(&b).await;
    subscribe(&mut c2, "/queue/g", "s", "client-individual", &[]).await;
    let mut p = connect(&b).await;
    for i in 1..=6 {
        send(
            &mut p,
            "/queue/g",
            &format!("x{i}"),
            &[("JMSXGroupID", "X")],
        )
        .await;
    }
    // Round robin would alternate; the group keeps them on its first consumer.
    for i in 1..=6 {
        let m = next(&mut a).await;
        assert_eq!(body(&m), format!("x{i}"));
        ack_confirmed(&mut a, &m, false).await;
    }
    nothing_arrives(&mut c2).await;
    drop(a);
    send(&mut p, "/queue/g", "x7", &[("JMSXGroupID", "X")]).await;
    assert_eq!(body_of(&mut c2).await, "x7");
}

#[tokio::test]
async fn temporary_queue_request_reply_and_cleanup() {
    let b = Baton::start();
    // The requester listens on its temporary queue.
    let mut req = connect(&b).await;
    subscribe(&mut req, "/temp-queue/replies", "r", "auto", &[]).await;
    let mut server = connect(&b).await;
    subscribe(&mut server, "/queue/service", "s", "auto", &[]).await;
    send(
        &mut req,
        "/queue/service",
        "question",
        &[("reply-to", "/temp-queue/replies"), ("persistent", "true")],
    )
    .await;
    let q = next(&mut server).await;
    let reply_to = q.header("reply-to").expect("reply-to").to_string();
    assert!(reply_to.starts_with("/queue/temp."), "{reply_to}");
    // Another connection may send to it but not consume from it.
    send(&mut server, &reply_to, "answer", &[("persistent", "true")]).await;
    let m = next(&mut req).await;
    assert_eq!(body(&m), "answer");
    assert_eq!(m.header("destination"), Some(reply_to.as_str()));
    let mut thief = connect(&b).await;
    let err = guard("subscribe", thief.subscribe(&reply_to, "t", "auto", &[]))
        .await
        .expect_err("not the owner");
    assert!(err.to_string().contains("temporary"), "{err}");
    // Gone with its connection: sending to it or subscribing fails.
    drop(req);
    guard("the temporary queue goes away", async {
        loop {
            let mut c = connect(&b).await;
            match c.send(&reply_to, "late", &[]).await {
                Err(e) if e.to_string().contains("no longer exists") => break,
                Err(e) => panic!("{e}"),
                Ok(()) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            }
        }
    })
    .await;
    let mut later = connect(&b).await;
    let err = guard("subscribe", later.subscribe(&reply_to, "s", "auto", &[]))
        .await
        .expect_err("gone");
    assert!(err.to_string().contains("no longer exists"), "{err}");
}

#[tokio::test]
async fn virtual_topic_is_load_balanced_per_consumer_group() {
    let b = Baton::start();
    let mut a1 = connect(&b).await;
    subscribe(
        &mut a1,
        "/queue/Consumer.A.VirtualTopic.Orders",
        "s",
        "client-individual",
        &[],
    )
    .await;
    let mut a2 = connect(&b).await;
    subscribe(
        &mut a2,
        "/queue/Consumer.A.VirtualTopic.Orders",
        "s",
        "client-individual",
        &[],
    )
    .await;
    let mut bq = connect(&b).await;
    subscribe(
        &mut bq,
        "/queue/Consumer.B.VirtualTopic.Orders",
        "s",
        "client-individual",
        &[],
    )
    .await;
    let mut topic = connect(&b).await;
    subscribe(&mut topic, "/topic/VirtualTopic.Orders", "t", "auto", &[]).await;
    let mut p = connect(&b).await;
    for i in 1..=4 {
        persist(&mut p, "/topic/VirtualTopic.Orders", &format!("o{i}")).await;
    }
    // Group A shares the four, group B gets all four, the topic too.
    let mut a = Vec::new();
    for c in [&mut a1, &mut a2] {
        for _ in 0..2 {
            let m = next(c).await;
            a.push(body(&m));
            ack_confirmed(c, &m, false).await;
        }
    }
    a.sort();
    assert_eq!(a, ["o1", "o2", "o3", "o4"]);
    let mut got_b = Vec::new();
    for _ in 0..4 {
        let m = next(&mut bq).await;
        got_b.push(body(&m));
        ack_confirmed(&mut bq, &m, false).await;
    }
    assert_eq!(got_b, ["o1", "o2", "o3", "o4"]);
    assert_eq!(bodies(&mut topic, 4).await, ["o1", "o2", "o3", "o4"]);
}
