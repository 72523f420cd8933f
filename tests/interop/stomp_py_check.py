#!/usr/bin/env python3
"""Interoperability checks of Baton against the third-party client stomp.py.

Usage: stomp_py_check.py HOST PORT SCENARIO

Scenarios:
  basic    for STOMP 1.0, 1.1 and 1.2: queue send/receive with receipts
           (empty, UTF-8 and content-type too), client and
           client-individual acknowledgement, NACK redelivery, topic
           fan-out, transactions (commit and abort, of sends and of acks),
           heart-beats (1000,1000) keeping an idle connection open and a
           client that stops heart-beating being dropped, escaped user
           headers, binary bodies with NUL bytes, and an ERROR frame
           (with receipt-id) for a refused frame.
  produce  sends N persistent and M non-persistent messages to
           /queue/durable and a few to /topic/durable, each with a receipt.
  consume  expects exactly the N persistent messages back, each once, in
           order, with their bodies and headers, and none of the others;
           acknowledges them with receipts.
  drained  expects /queue/durable to be empty.

Only stomp.py's public API is used (plus its public attribute
heartbeat_terminate_event, to make one client fall silent). Every
expectation that does not hold ends the script with exit code 1 and a
message saying which step failed; anything unexpected (a crash, bad usage)
exits with 2. Success prints "PASS <scenario>" and exits with 0.

Timeouts here are failure guards only (a message that never comes), never
performance thresholds. Ordering checks use a "fence": a message sent after
everything else to the same queue, which the broker hands out in FIFO order,
so whatever was going to arrive before it has arrived when it does.
"""

import os
import sys
import threading
import time
import traceback
import uuid

os.environ.setdefault("STOMP_SKIP_HOSTNAME_SCAN", "1")

import stomp  # noqa: E402

# Longest wait for anything the broker owes us (a receipt, a message).
TIMEOUT = float(os.environ.get("STOMP_PY_CHECK_TIMEOUT", "30"))
# How long the heart-beat connection stays idle.
IDLE_SECONDS = 3.0

# produce/consume sizes.
N_PERSISTENT = 20
M_TRANSIENT = 8
K_TOPIC = 3
DURABLE_QUEUE = "/queue/durable"
DURABLE_TOPIC = "/topic/durable"
BINARY_INDEX = 7
NOTE = "a:b\nc\\d"
UNICODE = "ünïcödé ✓ 日本語 🎉"


class CheckFailed(Exception):
    pass


_step = ["setup"]


def log(msg):
    print(msg, flush=True)


def step(name):
    _step[0] = name
    log("-- " + name)


def fail(msg):
    raise CheckFailed("[%s] %s" % (_step[0], msg))


def expect(cond, msg):
    if not cond:
        fail(msg)


def expect_eq(actual, expected, what):
    if actual != expected:
        fail("%s: expected %r, got %r" % (what, expected, actual))


def describe(frame):
    body = frame.body
    if isinstance(body, bytes) and len(body) > 200:
        body = body[:200] + b"..."
    elif isinstance(body, str) and len(body) > 200:
        body = body[:200] + "..."
    return "%s %r %r" % (frame.cmd, frame.headers, body)


class Recorder(stomp.ConnectionListener):
    """Records everything one connection receives."""

    def __init__(self, name):
        self.name = name
        self.cond = threading.Condition()
        self.connected_frame = None
        self.messages = []
        self.receipts = []
        self.errors = []
        self.heartbeats = 0
        self.sent_heartbeats = 0
        self.heartbeat_timeouts = 0
        self.disconnected = False

    def _update(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def on_connected(self, frame):
        self._update(lambda: setattr(self, "connected_frame", frame))

    def on_message(self, frame):
        self._update(lambda: self.messages.append(frame))

    def on_receipt(self, frame):
        self._update(lambda: self.receipts.append(frame.headers.get("receipt-id")))

    def on_error(self, frame):
        self._update(lambda: self.errors.append(frame))

    def on_heartbeat(self):
        def bump():
            self.heartbeats += 1

        self._update(bump)

    def on_send(self, frame):
        if frame.cmd is None:  # stomp.py's heart-beat EOL

            def bump():
                self.sent_heartbeats += 1

            self._update(bump)

    def on_heartbeat_timeout(self):
        def bump():
            self.heartbeat_timeouts += 1

        self._update(bump)

    def on_disconnected(self):
        self._update(lambda: setattr(self, "disconnected", True))

    def wait(self, what, pred, closing=False, errors_ok=False):
        """Waits until pred() is true; fails on an ERROR frame (unless
        `errors_ok`), on the connection closing (unless `closing`) or after
        TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        with self.cond:
            while True:
                if self.errors and not errors_ok:
                    fail(
                        "%s: broker sent an ERROR while waiting for %s: %s"
                        % (self.name, what, describe(self.errors[0]))
                    )
                result = pred()
                if result:
                    return result
                if self.disconnected and not closing:
                    fail("%s: connection closed while waiting for %s" % (self.name, what))
                left = deadline - time.monotonic()
                if left <= 0:
                    fail(
                        "%s: nothing after %.0f s waiting for %s; messages so far: %s"
                        % (self.name, TIMEOUT, what, [describe(m) for m in self.messages])
                    )
                self.cond.wait(left)


def body_of(frame):
    b = frame.body
    return b.encode("utf-8") if isinstance(b, str) else (b or b"")


class Client:
    """One stomp.py connection of a given protocol version."""

    CLASSES = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}

    def __init__(self, version, host, port, name, heartbeats=(0, 0), binary=False):
        kwargs = dict(
            host_and_ports=[(host, port)],
            auto_decode=not binary,
            reconnect_attempts_max=1,
        )
        if version != "1.0":
            kwargs["heartbeats"] = heartbeats
            # stomp.py gives up on the broker after scale x the negotiated
            # interval without data; be tolerant of a busy test machine.
            kwargs["heart_beat_receive_scale"] = 3.0
        self.version = version
        self.name = name
        self.conn = self.CLASSES[version](**kwargs)
        self.rec = Recorder(name)
        self.conn.set_listener("recorder", self.rec)
        self.n = 0
        try:
            self.conn.connect(wait=True)
        except Exception as e:  # ConnectFailedException and socket errors
            errors = [describe(f) for f in self.rec.errors]
            fail("%s: could not connect (%r); ERROR frames: %s" % (name, e, errors))
        frame = self.rec.wait("CONNECTED", lambda: self.rec.connected_frame)
        expect_eq(frame.headers.get("version"), version, "%s: CONNECTED version" % name)

    def rid(self):
        self.n += 1
        return "%s-r%d" % (self.name, self.n)

    def wait_receipt(self, r, closing=False):
        self.rec.wait("RECEIPT %s" % r, lambda: r in self.rec.receipts, closing=closing)

    def send(self, dest, body, headers=None, receipt=True, **kw):
        h = dict(headers or {})
        r = None
        if receipt:
            r = self.rid()
            h["receipt"] = r
        self.conn.send(dest, body, headers=h, **kw)
        if r:
            self.wait_receipt(r)

    def subscribe(self, dest, sub_id, ack="auto"):
        r = self.rid()
        self.conn.subscribe(destination=dest, id=sub_id, ack=ack, headers={"receipt": r})
        self.wait_receipt(r)

    def unsubscribe(self, sub_id):
        r = self.rid()
        self.conn.unsubscribe(id=sub_id, headers={"receipt": r})
        self.wait_receipt(r)

    def ack(self, msg, transaction=None, receipt=True):
        r = self.rid() if receipt else None
        h = msg.headers
        if self.version == "1.0":
            self.conn.ack(h["message-id"], transaction=transaction, receipt=r)
        elif self.version == "1.1":
            self.conn.ack(h["message-id"], h["subscription"], transaction=transaction, receipt=r)
        else:
            expect("ack" in h, "%s: 1.2 MESSAGE needing an ACK has no 'ack' header: %s" % (self.name, describe(msg)))
            self.conn.ack(h["ack"], transaction=transaction, receipt=r)
        if r:
            self.wait_receipt(r)

    def nack(self, msg, transaction=None):
        r = self.rid()
        h = msg.headers
        if self.version == "1.1":
            self.conn.nack(h["message-id"], h["subscription"], transaction=transaction, receipt=r)
        else:
            self.conn.nack(h["ack"], transaction=transaction, receipt=r)
        self.wait_receipt(r)

    def begin(self, tx):
        r = self.rid()
        self.conn.begin(transaction=tx, receipt=r)
        self.wait_receipt(r)

    def commit(self, tx):
        r = self.rid()
        self.conn.commit(transaction=tx, receipt=r)
        self.wait_receipt(r)

    def abort(self, tx):
        r = self.rid()
        self.conn.abort(tx, receipt=r)
        self.wait_receipt(r)

    def of(self, sub_id):
        with self.rec.cond:
            return [m for m in self.rec.messages if m.headers.get("subscription") == sub_id]

    def wait_count(self, sub_id, n, what):
        def enough():
            got = [m for m in self.rec.messages if m.headers.get("subscription") == sub_id]
            return got[:n] if len(got) >= n else None

        return self.rec.wait("%s (%d message(s) on subscription %s)" % (what, n, sub_id), enough)

    def fence(self, sender, dest, sub_id):
        """Sends a fence message to `dest` through `sender` and returns the
        messages of `sub_id` that arrived before it (the fence excluded)."""
        marker = "fence-" + uuid.uuid4().hex
        sender.send(dest, marker)

        def arrived():
            got = [m for m in self.rec.messages if m.headers.get("subscription") == sub_id]
            for i, m in enumerate(got):
                if body_of(m) == marker.encode():
                    return (got[:i],)
            return None

        (before,) = self.rec.wait("fence %s on %s" % (marker, sub_id), arrived)
        return before

    def disconnect(self):
        r = self.rid()
        self.conn.disconnect(receipt=r)
        self.wait_receipt(r, closing=True)


def bodies(msgs):
    return [body_of(m) for m in msgs]


def b(s):
    return s.encode("utf-8")


# ---------------------------------------------------------------- basic


def basic_version(v, host, port):
    tag = "v" + v.replace(".", "")

    def q(name):
        return "/queue/interop.%s.%s" % (tag, name)

    hb = None
    if v != "1.0":
        step("%s heart-beat connection (1000,1000)" % v)
        hb = Client(v, host, port, "%s-hb" % tag, heartbeats=(1000, 1000))
        hb_connected = time.monotonic()
        expect_eq(
            hb.rec.connected_frame.headers.get("heart-beat"),
            "1000,1000",
            "CONNECTED heart-beat for a client asking 1000,1000",
        )

        step("%s a heart-beating client that falls silent" % v)
        silent = Client(v, host, port, "%s-silent" % tag, heartbeats=(1000, 1000))
        silent.rec.wait("stomp.py's first heart-beat", lambda: silent.rec.sent_heartbeats > 0)
        # Stop stomp.py's heart-beat thread, as if the client hung; the
        # broker must notice. (This also stops stomp.py's own monitoring, so
        # only the broker can end the connection.)
        silent.conn.heartbeat_terminate_event.set()

    c = Client(v, host, port, "%s-main" % tag)

    step("%s queue send/receive with receipts" % v)
    sent_from = int(time.time() * 1000)
    c.send(q("plain"), "before-subscribe")
    c.subscribe(q("plain"), "s-plain")
    c.send(q("plain"), "after-subscribe")
    c.send(q("plain"), "")
    c.send(q("plain"), UNICODE, content_type="text/plain; charset=utf-8")
    receipted_by = int(time.time() * 1000)
    got = c.wait_count("s-plain", 4, "queued and live messages")
    expect_eq(
        bodies(got),
        [b"before-subscribe", b"after-subscribe", b"", b(UNICODE)],
        "bodies in send order",
    )
    expect_eq(got[3].headers.get("content-type"), "text/plain; charset=utf-8", "content-type")
    for m in got:
        expect_eq(m.headers.get("destination"), q("plain"), "MESSAGE destination")
        expect(m.headers.get("message-id"), "MESSAGE without message-id: %s" % describe(m))
        expect("redelivered" not in m.headers, "first delivery marked redelivered: %s" % describe(m))
        # The broker stamps the time it got the SEND (JMSTimestamp).
        stamp = m.headers.get("timestamp", "")
        expect(
            stamp.isdigit() and sent_from <= int(stamp) <= receipted_by,
            "timestamp %r not between the first SEND (%d) and the last RECEIPT (%d): %s"
            % (stamp, sent_from, receipted_by, describe(m)),
        )
    ids = [m.headers["message-id"] for m in got]
    expect(len(set(ids)) == len(ids), "messages share a message-id: %s" % ids)
    expect_eq(bodies(c.fence(c, q("plain"), "s-plain")), bodies(got), "nothing else on the queue")

    step("%s client (cumulative) ack" % v)
    for x in ("ca", "cb", "cc"):
        c.send(q("client"), x)
    c.subscribe(q("client"), "s-client", ack="client")
    got = c.wait_count("s-client", 3, "client-ack deliveries")
    expect_eq(bodies(got), [b"ca", b"cb", b"cc"], "client-ack bodies")
    c.ack(got[1])  # covers ca and cb
    c.unsubscribe("s-client")
    c.subscribe(q("client"), "s-client-check")
    left = c.fence(c, q("client"), "s-client-check")
    expect_eq(bodies(left), [b"cc"], "after a cumulative ACK of the 2nd message only the 3rd remains")
    expect_eq(left[0].headers.get("redelivered"), "true", "redelivered header of the unacked message")
    c.unsubscribe("s-client-check")

    if v != "1.0":
        step("%s client-individual ack" % v)
        for x in ("ia", "ib", "ic"):
            c.send(q("individual"), x)
        c.subscribe(q("individual"), "s-ind", ack="client-individual")
        got = c.wait_count("s-ind", 3, "client-individual deliveries")
        expect_eq(bodies(got), [b"ia", b"ib", b"ic"], "client-individual bodies")
        c.ack(got[1])  # covers ib only
        c.unsubscribe("s-ind")
        c.subscribe(q("individual"), "s-ind-check")
        left = c.fence(c, q("individual"), "s-ind-check")
        expect_eq(bodies(left), [b"ia", b"ic"], "after an individual ACK of the 2nd message")
        for m in left:
            expect_eq(m.headers.get("redelivered"), "true", "redelivered header of %r" % body_of(m))
        c.unsubscribe("s-ind-check")

        step("%s NACK redelivers" % v)
        c.subscribe(q("nack"), "s-nack", ack="client-individual")
        c.send(q("nack"), "nack-me")
        first = c.wait_count("s-nack", 1, "first delivery")[0]
        c.nack(first)
        again = c.wait_count("s-nack", 2, "redelivery after NACK")[1]
        expect_eq(body_of(again), b"nack-me", "redelivered body")
        expect_eq(again.headers.get("redelivered"), "true", "redelivered header after NACK")
        c.ack(again)
        c.unsubscribe("s-nack")
        c.subscribe(q("nack"), "s-nack-check")
        expect_eq(bodies(c.fence(c, q("nack"), "s-nack-check")), [], "queue after ACK of the redelivery")
        c.unsubscribe("s-nack-check")

    step("%s topic fan-out to two subscribers" % v)
    c2 = Client(v, host, port, "%s-second" % tag)
    topic = "/topic/interop.%s.fan" % tag
    c.send(topic, "fan-before-subscribers")
    c.subscribe(topic, "s-fan-1")
    c2.subscribe(topic, "s-fan-2")
    c.send(topic, "fan-1")
    c.send(topic, "fan-2")
    for who, sub in ((c, "s-fan-1"), (c2, "s-fan-2")):
        got = who.wait_count(sub, 2, "topic messages")
        expect_eq(bodies(got), [b"fan-1", b"fan-2"], "%s: topic messages" % who.name)
        for m in got:
            expect_eq(m.headers.get("destination"), topic, "topic MESSAGE destination")
    c.unsubscribe("s-fan-1")
    c2.send(topic, "fan-3")
    got = c2.wait_count("s-fan-2", 3, "topic message after the other unsubscribed")
    expect_eq(bodies(got), [b"fan-1", b"fan-2", b"fan-3"], "remaining subscriber's messages")
    expect_eq(bodies(c.of("s-fan-1")), [b"fan-1", b"fan-2"], "unsubscribed subscriber's messages")
    c2.unsubscribe("s-fan-2")

    step("%s transaction commit and abort (sends)" % v)
    c.subscribe(q("tx"), "s-tx")
    c.begin("tx1")
    c.send(q("tx"), "tx1-a", transaction="tx1")
    c.send(q("tx"), "tx1-b", transaction="tx1")
    c.send(q("tx"), "outside")
    got = c.wait_count("s-tx", 1, "non-transactional message")
    expect_eq(bodies(got), [b"outside"], "only the non-transactional message before COMMIT")
    c.commit("tx1")
    got = c.wait_count("s-tx", 3, "committed messages")
    expect_eq(bodies(got), [b"outside", b"tx1-a", b"tx1-b"], "messages after COMMIT")
    c.begin("tx2")
    c.send(q("tx"), "tx2-aborted", transaction="tx2")
    c.abort("tx2")
    expect_eq(
        bodies(c.fence(c, q("tx"), "s-tx")),
        [b"outside", b"tx1-a", b"tx1-b"],
        "an aborted transaction's send is never delivered",
    )
    c.unsubscribe("s-tx")

    step("%s transaction commit and abort (acks)" % v)
    c.subscribe(q("txack"), "s-txack", ack="client-individual" if v != "1.0" else "client")
    c.send(q("txack"), "txack")
    first = c.wait_count("s-txack", 1, "delivery to acknowledge in a transaction")[0]
    c.begin("tx3")
    c.ack(first, transaction="tx3")
    c.abort("tx3")
    again = c.wait_count("s-txack", 2, "redelivery after an aborted transactional ACK")[1]
    expect_eq(body_of(again), b"txack", "redelivered body")
    expect_eq(again.headers.get("redelivered"), "true", "redelivered header after ABORT")
    c.begin("tx4")
    c.ack(again, transaction="tx4")
    c.commit("tx4")
    c.unsubscribe("s-txack")
    c.subscribe(q("txack"), "s-txack-check")
    expect_eq(bodies(c.fence(c, q("txack"), "s-txack-check")), [], "queue after a committed ACK")
    c.unsubscribe("s-txack-check")

    if v != "1.0":
        step("%s user headers with ':', newlines and backslashes" % v)
        headers = {
            "x-colon": "a:b::c",
            "x-newline": "line1\nline2\n",
            "x-backslash": "C:\\dir\\file\\",
            "x-mixed": "k:v\nk2:\\n",
        }
        if v == "1.2":
            headers["x-cr"] = "a\rb\r\n"
        c.subscribe(q("headers"), "s-headers")
        c.send(q("headers"), "with-headers", headers=headers)
        m = c.wait_count("s-headers", 1, "message with escaped headers")[0]
        for k, val in headers.items():
            expect_eq(m.headers.get(k), val, "header %s round trip" % k)
        c.unsubscribe("s-headers")

    step("%s binary body with NUL bytes (content-length)" % v)
    payload = b"\x00start" + bytes(range(256)) + b"\x00\x00\nmiddle\x00" + bytes(range(255, -1, -1)) + b"\x00"
    bc = Client(v, host, port, "%s-binary" % tag, binary=True)
    bc.subscribe(q("binary"), "s-bin")
    c.send(q("binary"), payload)
    c.send(q("binary"), "after-binary")
    got = bc.wait_count("s-bin", 2, "binary message and the one after it")
    expect(
        body_of(got[0]) == payload,
        "binary body differs: sent %d bytes, got %d: %r"
        % (len(payload), len(body_of(got[0])), body_of(got[0])[:64]),
    )
    expect_eq(got[0].headers.get("content-length"), str(len(payload)), "content-length of the binary message")
    expect_eq(body_of(got[1]), b"after-binary", "message after the binary one")

    if hb is not None:
        step("%s heart-beats keep an idle connection open" % v)
        idle = IDLE_SECONDS - (time.monotonic() - hb_connected)
        if idle > 0:
            time.sleep(idle)
        with hb.rec.cond:
            expect_eq(hb.rec.heartbeat_timeouts, 0, "heart-beat timeouts seen by stomp.py")
            expect(not hb.rec.disconnected, "the broker closed the idle heart-beating connection")
            expect(
                hb.rec.heartbeats > 0,
                "no heart-beat from the broker during %.0f s of idleness" % IDLE_SECONDS,
            )
            expect(not hb.rec.errors, "ERROR on the idle connection: %s" % [describe(e) for e in hb.rec.errors])
        expect(hb.conn.is_connected(), "stomp.py no longer considers the idle connection open")
        hb.subscribe(q("hb"), "s-hb")
        hb.send(q("hb"), "still-alive")
        expect_eq(bodies(hb.wait_count("s-hb", 1, "message after idleness")), [b"still-alive"], "body")
        hb.disconnect()

        step("%s the silent client is disconnected with an ERROR" % v)
        err = silent.rec.wait(
            "ERROR for the silent client",
            lambda: silent.rec.errors and silent.rec.errors[0],
            closing=True,
            errors_ok=True,
        )
        expect("heart-beat" in err.headers.get("message", ""), "ERROR message header: %s" % describe(err))
        silent.rec.wait("the broker to close the silent connection", lambda: silent.rec.disconnected, closing=True, errors_ok=True)

    step("%s ERROR frame for a refused SEND, then the connection closes" % v)
    ec = Client(v, host, port, "%s-error" % tag)
    ec.conn.send("not-a-destination", "refused", headers={"receipt": "bad-send"})
    err = ec.rec.wait("ERROR frame", lambda: ec.rec.errors and ec.rec.errors[0], closing=True, errors_ok=True)
    expect("not-a-destination" in err.headers.get("message", ""), "ERROR message header: %s" % describe(err))
    expect_eq(err.headers.get("receipt-id"), "bad-send", "ERROR receipt-id for the failed frame")
    ec.rec.wait("the broker to close the connection after ERROR", lambda: ec.rec.disconnected, closing=True, errors_ok=True)
    expect("bad-send" not in ec.rec.receipts, "a RECEIPT for the refused SEND")

    for who in (bc, c2, c):
        who.disconnect()


def scenario_basic(host, port):
    for v in ("1.0", "1.1", "1.2"):
        basic_version(v, host, port)


# ------------------------------------------------------- produce/consume


def persistent_body(i):
    body = b"persistent-%d" % i
    if i == BINARY_INDEX:
        body += b"\x00\x01\xff" + bytes(range(256)) + b"\x00"
    return body


def scenario_produce(host, port):
    step("produce: connect (1.2)")
    p = Client("1.2", host, port, "producer")
    step("produce: %d persistent and %d non-persistent messages to %s" % (N_PERSISTENT, M_TRANSIENT, DURABLE_QUEUE))
    for i in range(max(N_PERSISTENT, M_TRANSIENT)):
        if i < N_PERSISTENT:
            p.send(
                DURABLE_QUEUE,
                persistent_body(i),
                headers={"persistent": "true", "x-seq": str(i), "x-note": NOTE},
            )
        if i < M_TRANSIENT:
            h = {"x-seq": "transient-%d" % i}
            if i % 2 == 0:
                h["persistent"] = "false"
            p.send(DURABLE_QUEUE, "transient-%d" % i, headers=h)
    step("produce: %d messages to %s" % (K_TOPIC, DURABLE_TOPIC))
    for i in range(K_TOPIC):
        p.send(DURABLE_TOPIC, "topic-%d" % i, headers={"persistent": "true"})
    p.disconnect()


def scenario_consume(host, port):
    step("consume: connect (1.1)")
    c = Client("1.1", host, port, "consumer", binary=True)
    c.subscribe(DURABLE_TOPIC, "s-topic")
    c.subscribe(DURABLE_QUEUE, "s-durable", ack="client-individual")
    expected = [persistent_body(i) for i in range(N_PERSISTENT)]

    step("consume: the %d persistent messages" % N_PERSISTENT)

    def all_there():
        got = [m for m in c.rec.messages if m.headers.get("subscription") == "s-durable"]
        seen = bodies(got)
        for x in seen:
            if x not in expected:
                fail("unexpected message on %s (non-persistent or unknown): %s" % (DURABLE_QUEUE, describe(got[seen.index(x)])))
            if seen.count(x) > 1:
                fail("message delivered twice: %r" % x[:40])
        return got if len(got) == len(expected) else None

    got = c.rec.wait("all %d persistent messages" % N_PERSISTENT, all_there)
    expect_eq(bodies(got), expected, "persistent messages in send order")
    for i, m in enumerate(got):
        expect_eq(m.headers.get("x-seq"), str(i), "x-seq header of message %d" % i)
        expect_eq(m.headers.get("x-note"), NOTE, "x-note header of message %d" % i)
        expect_eq(m.headers.get("destination"), DURABLE_QUEUE, "destination of message %d" % i)
    ids = [m.headers.get("message-id") for m in got]
    expect(len(set(ids)) == len(ids), "message-ids repeat: %s" % ids)

    step("consume: ACK each with a receipt")
    for m in got:
        c.ack(m)

    step("consume: nothing else on %s" % DURABLE_QUEUE)
    sentinel_sender = Client("1.2", host, port, "sentinel")
    before = c.fence(sentinel_sender, DURABLE_QUEUE, "s-durable")
    expect_eq(bodies(before), expected, "messages ahead of a new message")
    fence_msg = c.of("s-durable")[len(before)]
    expect(
        fence_msg.headers.get("message-id") not in ids,
        "a new message reuses the message-id %s of a recovered one" % fence_msg.headers.get("message-id"),
    )
    c.ack(fence_msg)

    step("consume: nothing replayed on %s" % DURABLE_TOPIC)
    expect_eq(bodies(c.fence(sentinel_sender, DURABLE_TOPIC, "s-topic")), [], "topic messages before a new one")

    sentinel_sender.disconnect()
    c.disconnect()


def scenario_drained(host, port):
    step("drained: %s is empty" % DURABLE_QUEUE)
    c = Client("1.2", host, port, "drained", binary=True)
    c.subscribe(DURABLE_QUEUE, "s-drained", ack="client-individual")
    left = c.fence(c, DURABLE_QUEUE, "s-drained")
    for m in c.of("s-drained"):
        c.ack(m)
    expect_eq(bodies(left), [], "messages left on %s" % DURABLE_QUEUE)
    c.disconnect()


SCENARIOS = {
    "basic": scenario_basic,
    "produce": scenario_produce,
    "consume": scenario_consume,
    "drained": scenario_drained,
}


def main(argv, scenarios=None):
    """Runs the scenario named in argv (of `scenarios`, by default this
    script's) and returns the exit code."""
    scenarios = scenarios or SCENARIOS
    if len(argv) != 4 or argv[3] not in scenarios or not argv[2].isdigit():
        sys.stderr.write("usage: %s HOST PORT {%s}\n" % (argv[0], "|".join(scenarios)))
        return 2
    host, port, scenario = argv[1], int(argv[2]), argv[3]
    log("stomp.py %s against %s:%d, scenario %s" % (stomp.__version__, host, port, scenario))
    try:
        scenarios[scenario](host, port)
    except CheckFailed as e:
        sys.stderr.write("FAIL %s: %s\n" % (scenario, e))
        return 1
    except Exception:
        sys.stderr.write("FAIL %s: [%s] unexpected exception\n%s" % (scenario, _step[0], traceback.format_exc()))
        return 2
    log("PASS " + scenario)
    return 0


def run(scenarios=None):
    """The script's entry point: exits with main's code at once (stomp.py's
    receiver and heart-beat threads are daemons)."""
    sys.stdout.flush()
    rc = main(sys.argv, scenarios)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    run()
