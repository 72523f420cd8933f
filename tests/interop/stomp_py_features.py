#!/usr/bin/env python3
"""The ActiveMQ messaging features of Baton through the third-party client
stomp.py (STOMP 1.2).

Usage: stomp_py_features.py HOST PORT SCENARIO

Scenarios:
  wildcards   /topic/PRICE.> and /topic/PRICE.*.NYSE receive exactly the
              matching topics (`>` one or more trailing segments, `*` exactly
              one); a consumer on /queue/orders.* drains /queue/orders.eu and
              /queue/orders.us but not /queue/orders.eu.vip; a SEND to a
              pattern is refused.
  composite   a SEND to "/queue/a,/topic/b,c" reaches /queue/a, /topic/b and
              /queue/c (a part without a leading '/' has the kind of the
              first part), and nothing else.
  browser     browser:true lists a queue's messages (none for an empty
              one), then a MESSAGE with browser:end and an empty body;
              nothing is consumed.
  exclusive   an activemq.exclusive:true consumer gets everything, the other
              consumer nothing, until the exclusive one disconnects; its
              unacknowledged message then goes to the other one.
  groups      messages with JMSXGroupID:X all go to one consumer of two,
              until it disconnects.
  temp        request/reply over /temp-queue/replies: reply-to rewritten to
              a real /queue/temp.<...>.replies name, the answer comes back,
              another connection cannot subscribe to it, and once the owner
              has disconnected a SEND or SUBSCRIBE to it gets an ERROR ("no
              longer exists"); /temp-topic/ answers reach the requester too.
  virtual     two consumers on /queue/Consumer.A.VirtualTopic.Orders share
              the messages sent to /topic/VirtualTopic.Orders, a consumer on
              /queue/Consumer.B.VirtualTopic.Orders gets all of them, and so
              does a plain subscriber of the topic.

Conventions and helpers are stomp_py_check.py's: only stomp.py's public
API, exit 1 naming the failed step, 2 for anything unexpected, "PASS
<scenario>" and 0 on success. Timeouts are failure guards only. Absence is
shown with a fence (a message sent last to the same queue or topic, which
the broker delivers in order, so whatever was going to arrive before it has
arrived when it does), followed where a fence alone cannot prove it by a
short QUIET window.
"""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stomp_py_check import (  # noqa: E402
    TIMEOUT,
    Client,
    bodies,
    body_of,
    describe,
    expect,
    expect_eq,
    fail,
    log,
    run,
    step,
)

VERSION = "1.2"
# Extra time, after a fence, in which a message that must not come would
# show up; only used where a fence alone cannot prove absence (another
# consumer than the one the fence reaches).
QUIET = 0.5


def connect(host, port, name):
    return Client(VERSION, host, port, name)


def subscribe(c, dest, sub_id, ack="auto", headers=None):
    """SUBSCRIBE with extra headers, confirmed by a receipt."""
    h = dict(headers or {})
    r = c.rid()
    h["receipt"] = r
    c.conn.subscribe(destination=dest, id=sub_id, ack=ack, headers=h)
    c.wait_receipt(r)


def until_marker(c, sub_id, marker):
    """Waits for the message with body `marker` on `sub_id`; returns the
    messages of `sub_id` before it."""

    def arrived():
        got = c.of(sub_id)  # rec.cond is re-entrant
        for i, m in enumerate(got):
            if body_of(m) == marker.encode():
                return (got[:i],)
        return None

    (before,) = c.rec.wait("marker %s on %s" % (marker, sub_id), arrived)
    return before


def new_marker():
    return "fence-" + uuid.uuid4().hex


def quiet(*subs):
    """After a fence: QUIET seconds in which none of (client, sub_id, n)
    may receive more than its n messages."""
    time.sleep(QUIET)
    for c, sub_id, n in subs:
        got = c.of(sub_id)
        expect(len(got) == n, "%s: %d message(s) on %s, expected %d: %s" % (c.name, len(got), sub_id, n, [describe(m) for m in got]))


def ack_as_they_come(pairs, n, what):
    """Acknowledges (with receipts) each message of the (client, sub_id)
    pairs as it arrives, once, until n have arrived in all; returns the
    messages of each pair."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        got = [c.of(s) for c, s in pairs]
        for (c, _), msgs in zip(pairs, got):
            done = c.__dict__.setdefault("acked", set())
            for m in msgs:
                if m.headers["ack"] not in done:
                    c.ack(m)
                    done.add(m.headers["ack"])
        if sum(map(len, got)) >= n:
            return got
        if time.monotonic() > deadline:
            fail("%d of %d messages after %.0f s waiting for %s" % (sum(map(len, got)), n, TIMEOUT, what))
        for c, _ in pairs:
            with c.rec.cond:
                if c.rec.errors:
                    fail("%s: ERROR while waiting for %s: %s" % (c.name, what, describe(c.rec.errors[0])))
        time.sleep(0.02)


def expect_error(c, what, needle):
    """Waits for the ERROR frame `c` is owed; checks its message mentions
    `needle`; waits for the broker to close the connection."""
    err = c.rec.wait(what, lambda: c.rec.errors and c.rec.errors[0], closing=True, errors_ok=True)
    text = err.headers.get("message", "") + " " + body_of(err).decode("utf-8", "replace")
    expect(needle in text, "%s: ERROR does not mention %r: %s" % (what, needle, describe(err)))
    c.rec.wait("the broker to close the connection after ERROR", lambda: c.rec.disconnected, closing=True, errors_ok=True)
    return err


# ----------------------------------------------------------- wildcards


def scenario_wildcards(host, port):
    step("wildcard topic subscriptions")
    c = connect(host, port, "all-prices")
    subscribe(c, "/topic/PRICE.>", "all")
    nyse = connect(host, port, "nyse")
    subscribe(nyse, "/topic/PRICE.*.NYSE", "nyse")
    p = connect(host, port, "producer")
    topics = [
        "/topic/PRICE.STOCK.NYSE",
        "/topic/PRICE",
        "/topic/PRICE.BOND.NASDAQ",
        "/topic/OTHER.STOCK",
        "/topic/PRICE.BOND.NYSE",
        "/topic/PRICE.STOCK.NYSE.EXTRA",
        "/topic/PRICES.STOCK.NYSE",
        "/topic/PRICE.NYSE",
    ]
    for t in topics:
        p.send(t, t)
    # One fence topic matching both patterns, sent after everything else.
    marker = new_marker()
    p.send("/topic/PRICE.FENCE.NYSE", marker)
    got = until_marker(c, "all", marker)
    expect_eq(
        bodies(got),
        [b"/topic/PRICE.STOCK.NYSE", b"/topic/PRICE.BOND.NASDAQ", b"/topic/PRICE.BOND.NYSE", b"/topic/PRICE.STOCK.NYSE.EXTRA", b"/topic/PRICE.NYSE"],
        "messages on /topic/PRICE.> (one or more segments after PRICE)",
    )
    got_nyse = until_marker(nyse, "nyse", marker)
    expect_eq(
        bodies(got_nyse),
        [b"/topic/PRICE.STOCK.NYSE", b"/topic/PRICE.BOND.NYSE"],
        "messages on /topic/PRICE.*.NYSE (exactly one segment in between)",
    )
    for m in got + got_nyse:
        expect_eq(m.headers.get("destination"), body_of(m).decode(), "MESSAGE destination is the concrete topic")

    step("wildcard queue consumer")
    p.send("/queue/orders.eu", "eu-1", headers={"persistent": "true"})
    p.send("/queue/orders.us", "us-1", headers={"persistent": "true"})
    p.send("/queue/orders.eu.vip", "vip-1", headers={"persistent": "true"})
    q = connect(host, port, "orders")
    subscribe(q, "/queue/orders.*", "s", ack="client-individual")
    got = q.wait_count("s", 2, "the messages of /queue/orders.eu and /queue/orders.us")
    for m in got:
        q.ack(m)
    expect_eq(sorted(bodies(got)), [b"eu-1", b"us-1"], "messages drained by /queue/orders.*")
    for m in got:
        expect_eq(m.headers.get("destination"), "/queue/orders." + body_of(m).decode()[:2], "MESSAGE destination")

    step("wildcard queue consumer gets a queue created after it subscribed")
    p.send("/queue/orders.new", "new-1", headers={"persistent": "true"})
    m = q.wait_count("s", 3, "the message of /queue/orders.new")[2]
    expect_eq(body_of(m), b"new-1", "body from /queue/orders.new")
    q.ack(m)

    step("/queue/orders.eu.vip was left alone")
    vip = connect(host, port, "vip")
    subscribe(vip, "/queue/orders.eu.vip", "v")
    left = vip.fence(p, "/queue/orders.eu.vip", "v")
    expect_eq(bodies(left), [b"vip-1"], "messages on /queue/orders.eu.vip")
    expect("redelivered" not in left[0].headers, "vip-1 was delivered before: %s" % describe(left[0]))
    got = q.fence(p, "/queue/orders.eu", "s")
    expect_eq(sorted(bodies(got)), [b"eu-1", b"new-1", b"us-1"], "/queue/orders.* before a fence")
    for m in q.of("s")[3:]:
        q.ack(m)

    step("a SEND to a pattern is refused")
    bad = connect(host, port, "pattern-sender")
    bad.conn.send("/queue/orders.*", "x", headers={"receipt": "pattern-send"})
    expect_error(bad, "ERROR for a SEND to /queue/orders.*", "wildcard")
    for who in (vip, q, p, nyse, c):
        who.disconnect()


# ----------------------------------------------------------- composite


def scenario_composite(host, port):
    step("subscribers on /topic/b and on the kinds not addressed")
    t = connect(host, port, "topic-b")
    subscribe(t, "/topic/b", "t")
    subscribe(t, "/topic/c", "tc")
    p = connect(host, port, "producer")

    step('SEND to "/queue/a,/topic/b,c"')
    p.send("/queue/a,/topic/b,c", "composite", headers={"persistent": "true", "x-k": "v"})
    m = t.wait_count("t", 1, "the composite message on /topic/b")[0]
    expect_eq(body_of(m), b"composite", "body on /topic/b")
    expect_eq(m.headers.get("destination"), "/topic/b", "destination on /topic/b")
    expect_eq(m.headers.get("x-k"), "v", "user header on /topic/b")

    step("/queue/a and /queue/c have it, /queue/b and /topic/c not")
    ids = {m.headers.get("message-id")}
    for dest in ("/queue/a", "/queue/c"):
        c = connect(host, port, "reader-" + dest[-1])
        subscribe(c, dest, "s")
        got = c.fence(p, dest, "s")
        expect_eq(bodies(got), [b"composite"], "messages on %s" % dest)
        expect_eq(got[0].headers.get("destination"), dest, "destination on %s" % dest)
        expect_eq(got[0].headers.get("x-k"), "v", "user header on %s" % dest)
        ids.add(got[0].headers.get("message-id"))
        c.disconnect()
    expect_eq(len(ids), 3, "distinct message-ids of the three copies")
    b = connect(host, port, "reader-b")
    subscribe(b, "/queue/b", "s")
    expect_eq(bodies(b.fence(p, "/queue/b", "s")), [], "messages on /queue/b")
    expect_eq(bodies(t.fence(p, "/topic/c", "tc")), [], "messages on /topic/c")

    step('SEND to "/topic/e,d": d is a topic too')
    subscribe(t, "/topic/d", "td")
    p.send("/topic/e,d", "topic-first", headers={"persistent": "true"})
    got = t.fence(p, "/topic/d", "td")
    expect_eq(bodies(got), [b"topic-first"], "messages on /topic/d")
    expect_eq(got[0].headers.get("destination"), "/topic/d", "destination on /topic/d")
    subscribe(b, "/queue/d", "s-d")
    expect_eq(bodies(b.fence(p, "/queue/d", "s-d")), [], "messages on /queue/d")
    for who in (b, p, t):
        who.disconnect()


# ------------------------------------------------------------- browser


def scenario_browser(host, port):
    q = "/queue/browse"
    step("three persistent messages on %s" % q)
    p = connect(host, port, "producer")
    sent = [b"one", b"two", b"three"]
    for x in sent:
        p.send(q, x, headers={"persistent": "true"})

    step("browsing an empty queue gives browser:end alone")
    br = connect(host, port, "browser")
    subscribe(br, "/queue/browse.empty", "e", headers={"browser": "true"})
    end = br.wait_count("e", 1, "browser:end")[0]
    expect_eq((end.headers.get("browser"), body_of(end)), ("end", b""), "browser header and body")

    step("browser:true lists the queue, then browser:end")
    subscribe(br, q, "b", headers={"browser": "true"})
    got = br.wait_count("b", 4, "three messages and browser:end")
    expect_eq(bodies(got[:3]), sent, "browsed messages")
    for m in got[:3]:
        expect("browser" not in m.headers, "a listed message carries a browser header: %s" % describe(m))
    end = got[3]
    expect_eq(end.headers.get("browser"), "end", "browser header of the 4th MESSAGE")
    expect_eq(body_of(end), b"", "body of the browser:end MESSAGE")

    step("a message sent after browser:end is not listed")
    p.send(q, "later")
    br.unsubscribe("b")
    expect_eq(len(br.of("b")), 4, "MESSAGEs of the browser subscription")

    step("nothing was consumed")
    c = connect(host, port, "consumer")
    subscribe(c, q, "s", ack="client-individual")
    got = c.fence(p, q, "s")
    expect_eq(bodies(got), sent + [b"later"], "messages for a normal consumer after browsing")
    for m in got:
        expect("redelivered" not in m.headers, "browsing marked a message redelivered: %s" % describe(m))
    for m in c.of("s"):
        c.ack(m)
    for who in (c, br, p):
        who.disconnect()


# ----------------------------------------------------------- exclusive


def handover(host, port, q, sub_headers, send_headers, what):
    """Two client-individual consumers of `q`, the second subscribing with
    `sub_headers`; four messages with `send_headers` must all reach one of
    them (`sole` picks it from the first delivery), which acknowledges the
    first three and disconnects; the other then gets the fourth
    (redelivered) and a fifth, and nothing else."""
    a = connect(host, port, "first")
    subscribe(a, q, "s", ack="client-individual")
    b = connect(host, port, "second")
    subscribe(b, q, "s", ack="client-individual", headers=sub_headers)
    p = connect(host, port, "producer")
    for i in range(1, 5):
        p.send(q, "m%d" % i, headers=send_headers)

    step("%s: one consumer gets all four" % what)
    deadline = time.monotonic() + TIMEOUT
    while not (a.of("s") or b.of("s")):
        if time.monotonic() > deadline:
            fail("no message on %s after %.0f s" % (q, TIMEOUT))
        time.sleep(0.02)
    owner, other = (a, b) if a.of("s") else (b, a)
    got = owner.wait_count("s", 4, "all four messages")
    expect_eq(bodies(got), [b"m1", b"m2", b"m3", b"m4"], "%s: messages in order" % owner.name)
    for m in got:
        for k, v in send_headers.items():
            expect_eq(m.headers.get(k), v, "header %s carried through" % k)
    for m in got[:3]:
        owner.ack(m)
    expect_eq(bodies(other.of("s")), [], "%s: messages while the other one holds %s" % (other.name, q))

    step("%s: handover when %s disconnects" % (what, owner.name))
    owner.disconnect()
    p.send(q, "m5", headers=send_headers)
    got = other.wait_count("s", 2, "the unacknowledged m4 and m5")
    expect_eq(sorted(bodies(got)), [b"m4", b"m5"], "%s: messages after the handover" % other.name)
    m4 = [m for m in got if body_of(m) == b"m4"][0]
    expect_eq(m4.headers.get("redelivered"), "true", "redelivered header of m4")
    for m in got:
        other.ack(m)
    expect_eq(bodies(other.fence(p, q, "s")), bodies(got), "%s: nothing else on %s" % (other.name, q))
    for m in other.of("s")[2:]:
        other.ack(m)
    for who in (p, other):
        who.disconnect()
    return owner


def scenario_exclusive(host, port):
    step("a plain consumer, then an exclusive one")
    owner = handover(host, port, "/queue/excl", {"activemq.exclusive": "true"}, {}, "exclusive")
    expect_eq(owner.name, "second", "the consumer that got everything is the exclusive one")


# -------------------------------------------------------------- groups


def scenario_groups(host, port):
    step("two consumers, messages of group X")
    handover(host, port, "/queue/grouped", {}, {"JMSXGroupID": "X"}, "group X")


# ---------------------------------------------------------------- temp


def scenario_temp(host, port):
    step("requester subscribes /temp-queue/replies; server subscribes /queue/service")
    req = connect(host, port, "requester")
    subscribe(req, "/temp-queue/replies", "r")
    srv = connect(host, port, "server")
    subscribe(srv, "/queue/service", "s")

    step("request with reply-to:/temp-queue/replies")
    req.send("/queue/service", "question", headers={"reply-to": "/temp-queue/replies"})
    q = srv.wait_count("s", 1, "the request")[0]
    expect_eq(body_of(q), b"question", "request body")
    reply_to = q.headers.get("reply-to") or ""
    expect(
        reply_to.startswith("/queue/temp.") and reply_to.endswith(".replies") and len(reply_to) > len("/queue/temp..replies"),
        "reply-to not rewritten to /queue/temp.<...>.replies: %s" % describe(q),
    )

    step("the answer sent to %s reaches the requester" % reply_to)
    srv.send(reply_to, "answer", headers={"correlation-id": q.headers.get("message-id")})
    a = req.wait_count("r", 1, "the answer")[0]
    expect_eq(body_of(a), b"answer", "answer body")
    expect_eq(a.headers.get("destination"), reply_to, "answer destination")
    expect_eq(a.headers.get("correlation-id"), q.headers.get("message-id"), "correlation-id carried through")

    step("the same over /temp-topic/events")
    subscribe(req, "/temp-topic/events", "e")
    req.send("/queue/service", "question-2", headers={"reply-to": "/temp-topic/events"})
    topic_reply = srv.wait_count("s", 2, "the second request")[1].headers.get("reply-to") or ""
    expect(topic_reply.startswith("/topic/temp.") and topic_reply.endswith(".events"), "reply-to: %r" % topic_reply)
    srv.send(topic_reply, "event")
    expect_eq(bodies(req.wait_count("e", 1, "the answer on the temporary topic")), [b"event"], "answer body")

    step("another connection cannot subscribe to %s" % reply_to)
    thief = connect(host, port, "thief")
    thief.conn.subscribe(destination=reply_to, id="t", ack="auto", headers={"receipt": "thief-sub"})
    err = expect_error(thief, "ERROR for subscribing to another connection's temporary queue", "temporary")
    log("   ERROR: %s" % err.headers.get("message"))
    expect("thief-sub" not in thief.rec.receipts, "a RECEIPT for the refused SUBSCRIBE")

    step("the owner disconnects; sending to %s fails" % reply_to)
    req.disconnect()
    late = connect(host, port, "late")
    late.conn.send(reply_to, "late", headers={"receipt": "late-send"})
    err = expect_error(late, "ERROR for a SEND to a temporary queue whose connection is gone", "no longer exists")
    log("   ERROR: %s" % err.headers.get("message"))
    expect("late-send" not in late.rec.receipts, "a RECEIPT for the refused SEND")
    later = connect(host, port, "later")
    later.conn.subscribe(destination=reply_to, id="l", ack="auto", headers={"receipt": "later-sub"})
    expect_error(later, "ERROR for subscribing to a temporary queue whose connection is gone", "no longer exists")
    srv.disconnect()


# ------------------------------------------------------------- virtual


def scenario_virtual(host, port):
    group_a = "/queue/Consumer.A.VirtualTopic.Orders"
    group_b = "/queue/Consumer.B.VirtualTopic.Orders"
    topic = "/topic/VirtualTopic.Orders"
    step("two consumers in group A, one in group B")
    a1 = connect(host, port, "a1")
    subscribe(a1, group_a, "s", ack="client-individual")
    a2 = connect(host, port, "a2")
    subscribe(a2, group_a, "s", ack="client-individual")
    bq = connect(host, port, "b")
    subscribe(bq, group_b, "s", ack="client-individual")
    tp = connect(host, port, "topic")
    subscribe(tp, topic, "t")
    p = connect(host, port, "producer")

    step("eight messages to %s" % topic)
    sent = [b"o%d" % i for i in range(1, 9)]
    for x in sent:
        p.send(topic, x, headers={"persistent": "true"})

    step("group A shares them")
    got1, got2 = ack_as_they_come([(a1, "s"), (a2, "s")], len(sent), "group A")
    expect_eq(sorted(bodies(got1 + got2), key=lambda x: int(x[1:])), sent, "group A's messages, each once")
    expect(got1 and got2, "one consumer of group A got all: a1 %s, a2 %s" % (bodies(got1), bodies(got2)))

    step("group B gets them all")
    (got_b,) = ack_as_they_come([(bq, "s")], len(sent), "group B")
    expect_eq(bodies(got_b), sent, "group B's messages in order")

    step("a plain subscriber of %s gets them all too" % topic)
    expect_eq(bodies(tp.wait_count("t", len(sent), "the topic messages")), sent, "topic subscriber's messages")

    step("nothing more for either group")
    marker = new_marker()
    p.send(topic, marker, headers={"persistent": "true"})
    expect_eq(bodies(until_marker(bq, "s", marker)), sent, "group B before the fence")
    ack_as_they_come([(a1, "s"), (a2, "s")], len(sent) + 1, "the fence in group A")
    quiet((a1, "s", len(a1.of("s"))), (a2, "s", len(a2.of("s"))))
    together = bodies(a1.of("s") + a2.of("s"))
    expect_eq(len(together), len(sent) + 1, "group A messages with the fence: %s" % together)
    ack_as_they_come([(bq, "s")], len(sent) + 1, "the fence in group B")
    expect_eq(bodies(until_marker(tp, "t", marker)), sent, "topic subscriber before the fence")
    for who in (p, tp, bq, a2, a1):
        who.disconnect()


SCENARIOS = {
    "wildcards": scenario_wildcards,
    "composite": scenario_composite,
    "browser": scenario_browser,
    "exclusive": scenario_exclusive,
    "groups": scenario_groups,
    "temp": scenario_temp,
    "virtual": scenario_virtual,
}


if __name__ == "__main__":
    run(SCENARIOS)
