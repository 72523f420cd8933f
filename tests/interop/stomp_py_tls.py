#!/usr/bin/env python3
"""stomp.py over TLS against Baton's stomp+ssl listener.

Usage: stomp_py_tls.py HOST PORT tls CA CERT KEY WRONG_CA

With the right CA and a client certificate: CONNECT, a persistent SEND with
a receipt, SUBSCRIBE (client-individual), the message back, ACK with a
receipt, DISCONNECT. Then with WRONG_CA as the only trust anchor the
connection must fail. Prints "PASS tls" on success; exit 1 when an
expectation fails, 2 on anything unexpected. Timeouts are failure guards.
"""

import os
import sys
import threading
import traceback

os.environ.setdefault("STOMP_SKIP_HOSTNAME_SCAN", "1")

import stomp  # noqa: E402
from stomp.exception import ConnectFailedException  # noqa: E402

TIMEOUT = 30.0
QUEUE = "/queue/tls.stomppy"


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.cond = threading.Condition()
        self.messages = []
        self.receipts = []
        self.errors = []

    def on_message(self, frame):
        with self.cond:
            self.messages.append(frame)
            self.cond.notify_all()

    def on_receipt(self, frame):
        with self.cond:
            self.receipts.append(frame.headers.get("receipt-id"))
            self.cond.notify_all()

    def on_error(self, frame):
        with self.cond:
            self.errors.append(frame)
            self.cond.notify_all()

    def wait(self, pred, what):
        with self.cond:
            if not self.cond.wait_for(pred, TIMEOUT):
                raise AssertionError("timed out waiting for " + what)


def connection(host, port, ca, cert, key):
    conn = stomp.Connection12([(host, port)], reconnect_attempts_max=1, heartbeats=(0, 0))
    conn.set_ssl(for_hosts=[(host, port)], ca_certs=ca, cert_file=cert, key_file=key)
    return conn


def main(argv):
    host, port, scenario, ca, cert, key, wrong_ca = argv[1:8]
    port = int(port)
    if scenario != "tls":
        print("unknown scenario " + scenario)
        return 2
    conn = connection(host, port, ca, cert, key)
    listener = Listener()
    conn.set_listener("l", listener)
    conn.connect(wait=True)
    conn.send(QUEUE, "over tls", headers={"persistent": "true"}, receipt="s1")
    listener.wait(lambda: "s1" in listener.receipts, "the SEND receipt")
    conn.subscribe(QUEUE, id="sub", ack="client-individual")
    listener.wait(lambda: listener.messages, "the message")
    frame = listener.messages[0]
    if frame.body != "over tls":
        raise AssertionError("body: %r" % frame.body)
    conn.ack(frame.headers["ack"], receipt="a1")
    listener.wait(lambda: "a1" in listener.receipts, "the ACK receipt")
    if listener.errors:
        raise AssertionError("ERROR frames: %r" % listener.errors)
    conn.disconnect()

    untrusted = connection(host, port, wrong_ca, cert, key)
    try:
        untrusted.connect(wait=True)
    except ConnectFailedException:
        pass
    else:
        raise AssertionError("a broker certificate of an untrusted CA was accepted")
    print("PASS tls", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except AssertionError as e:
        print("FAIL: %s" % e, flush=True)
        sys.exit(1)
    except Exception:
        traceback.print_exc()
        sys.exit(2)
