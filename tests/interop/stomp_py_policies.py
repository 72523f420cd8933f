#!/usr/bin/env python3
"""Per-destination policies of Baton through the third-party client
stomp.py (STOMP 1.2), against a broker started with
tests/interop/policies.toml.

Usage: stomp_py_policies.py HOST PORT SCENARIO

Scenarios:
  dlq     /queue/py.shared.a and /queue/py.shared.b (max_redeliveries 1)
          both dead-letter into the shared /queue/ActiveMQ.DLQ after two
          NACKed deliveries; /queue/py.own.a (max_redeliveries 3) into
          /queue/DEAD.py.own.a after four; /queue/py.plain (no policy:
          broker.max_redeliveries 2) into /queue/DLQ.py.plain after three.
          Dead letters keep their body and user headers and carry
          original-destination and dlqDeliveryFailureCause.
  delay   a message NACKed on /queue/py.delayed (3 s redelivery delay)
          comes back after a message sent later; on /queue/py.plain (no
          delay) it comes back first.
  expiry  a persistent message that expires on /queue/py.expired
          (process_expired) arrives in /queue/DLQ.py.expired with
          dlqDeliveryFailureCause "message expired" and originalExpiration;
          /queue/py.fifo (prioritized_messages = false) delivers priority 1
          before a later priority 9, /queue/py.plain the other way round.

Conventions are stomp_py_check.py's (exit 1 naming the failed step, 2 for
anything unexpected, "PASS <scenario>" and 0 on success). Absence is shown
with a fence: a message sent last to the same queue, delivered in order.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from stomp_py_check import bodies, body_of, expect, expect_eq, run, step  # noqa: E402
from stomp_py_features import connect, new_marker, subscribe, until_marker  # noqa: E402


def nack_until_dead(c, dest, sub_id, deliveries):
    """Sends a persistent message with a user header to `dest`, NACKs each
    of its `deliveries` deliveries and shows with a fence that it does not
    come back; returns its message-id."""
    step("%s: %d failed deliveries" % (dest, deliveries))
    subscribe(c, dest, sub_id, ack="client-individual")
    c.send(dest, "poison", headers={"persistent": "true", "x-order": "7"})
    msg_id = None
    for n in range(deliveries):
        got = c.wait_count(sub_id, n + 1, "delivery %d on %s" % (n + 1, dest))
        m = got[n]
        expect_eq(body_of(m), b"poison", "body of delivery %d" % (n + 1))
        expect_eq(m.headers.get("redelivery-count"), str(n) if n else None, "redelivery-count of delivery %d" % (n + 1))
        msg_id = m.headers["message-id"]
        c.nack(m)
    marker = new_marker()
    c.send(dest, marker)
    expect_eq(bodies(until_marker(c, sub_id, marker)), [b"poison"] * deliveries, "%s before the fence" % dest)
    c.ack(c.of(sub_id)[-1])
    return msg_id


def dead_letters(c, dlq, sub_id):
    """The messages waiting in `dlq`, up to a fence."""
    subscribe(c, dlq, sub_id)
    marker = new_marker()
    c.send(dlq, marker)
    return until_marker(c, sub_id, marker)


def check_dead_letter(m, origin, msg_id):
    expect_eq(m.headers.get("original-destination"), origin, "original-destination")
    expect_eq(m.headers.get("message-id"), msg_id, "message-id of the dead letter from %s" % origin)
    expect_eq(m.headers.get("x-order"), "7", "user header of the dead letter from %s" % origin)
    expect(m.headers.get("dlqDeliveryFailureCause"), "no dlqDeliveryFailureCause from %s" % origin)
    expect_eq(body_of(m), b"poison", "body of the dead letter from %s" % origin)


def scenario_dlq(host, port):
    c = connect(host, port, "consumer")
    a = nack_until_dead(c, "/queue/py.shared.a", "a", 2)
    b = nack_until_dead(c, "/queue/py.shared.b", "b", 2)
    own = nack_until_dead(c, "/queue/py.own.a", "own", 4)
    plain = nack_until_dead(c, "/queue/py.plain", "plain", 3)

    step("the shared DLQ holds both /queue/py.shared.* messages")
    shared = dead_letters(c, "/queue/ActiveMQ.DLQ", "shared")
    expect_eq(len(shared), 2, "dead letters in ActiveMQ.DLQ")
    check_dead_letter(shared[0], "/queue/py.shared.a", a)
    check_dead_letter(shared[1], "/queue/py.shared.b", b)

    step("individual DLQs: the policy's prefix and the global one")
    for dlq, sub_id, origin, msg_id in (
        ("/queue/DEAD.py.own.a", "dead", "/queue/py.own.a", own),
        ("/queue/DLQ.py.plain", "dlq", "/queue/py.plain", plain),
    ):
        got = dead_letters(c, dlq, sub_id)
        expect_eq(len(got), 1, "dead letters in %s" % dlq)
        check_dead_letter(got[0], origin, msg_id)
    expect_eq(dead_letters(c, "/queue/DLQ.py.own.a", "none"), [], "DLQ.py.own.a")
    c.disconnect()


def scenario_delay(host, port):
    c = connect(host, port, "consumer")
    for dest, expected in (("/queue/py.delayed", [b"second", b"first"]), ("/queue/py.plain", [b"first", b"second"])):
        step("%s: NACK 'first', then send 'second'" % dest)
        sub = dest.rsplit(".", 1)[1]
        subscribe(c, dest, sub, ack="client-individual")
        c.send(dest, "first", headers={"persistent": "true"})
        (m,) = c.wait_count(sub, 1, "first delivery on %s" % dest)
        c.nack(m)
        c.send(dest, "second", headers={"persistent": "true"})
        got = c.wait_count(sub, 3, "both messages on %s" % dest)[1:]
        expect_eq(bodies(got), expected, "order on %s" % dest)
        again = [m for m in got if body_of(m) == b"first"][0]
        expect_eq(again.headers.get("redelivery-count"), "1", "redelivery-count on %s" % dest)
        for m in got:
            c.ack(m)
    c.disconnect()


def scenario_expiry(host, port):
    c = connect(host, port, "consumer")
    step("a message expiring on /queue/py.expired goes to its DLQ")
    expires = str(int(time.time() * 1000) + 300)
    c.send("/queue/py.expired", "short-lived", headers={"persistent": "true", "expires": expires})
    subscribe(c, "/queue/DLQ.py.expired", "dlq")
    (m,) = c.wait_count("dlq", 1, "the expired message in DLQ.py.expired")
    expect_eq(body_of(m), b"short-lived", "body of the expired dead letter")
    expect_eq(m.headers.get("original-destination"), "/queue/py.expired", "original-destination")
    expect_eq(m.headers.get("dlqDeliveryFailureCause"), "message expired", "dlqDeliveryFailureCause")
    expect_eq(m.headers.get("originalExpiration"), expires, "originalExpiration")

    for dest, sub, expected in (("/queue/py.fifo", "fifo", [b"low", b"high"]), ("/queue/py.plain", "plain", [b"high", b"low"])):
        step("%s: priority 1, then priority 9" % dest)
        c.send(dest, "low", headers={"priority": "1"})
        c.send(dest, "high", headers={"priority": "9"})
        subscribe(c, dest, sub)
        expect_eq(bodies(c.wait_count(sub, 2, "both messages on %s" % dest)), expected, "order on %s" % dest)
    c.disconnect()


SCENARIOS = {
    "dlq": scenario_dlq,
    "delay": scenario_delay,
    "expiry": scenario_expiry,
}


if __name__ == "__main__":
    run(SCENARIOS)
