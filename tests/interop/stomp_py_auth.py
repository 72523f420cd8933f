#!/usr/bin/env python3
"""stomp.py against a Baton that requires credentials.

Usage: stomp_py_auth.py HOST PORT

Logs in as app/app-secret, sends to /queue/orders.py with a receipt and
receives the message back; then checks that a wrong passcode and no
credentials at all are refused (ERROR, connection closed). Prints "OK"
and exits 0 on success, 1 on a failed expectation.
"""

import os
import sys
import threading

os.environ.setdefault("STOMP_SKIP_HOSTNAME_SCAN", "1")

import stomp  # noqa: E402

TIMEOUT = 30.0  # failure guard only


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.messages = []
        self.errors = []
        self.got_message = threading.Event()

    def on_message(self, frame):
        self.messages.append(frame.body)
        self.got_message.set()

    def on_error(self, frame):
        self.errors.append(frame.headers.get("message", ""))


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def refused(host, port, **creds):
    conn = stomp.Connection12([(host, port)])
    listener = Listener()
    conn.set_listener("l", listener)
    try:
        conn.connect(wait=True, **creds)
    except Exception:
        return listener.errors
    conn.disconnect()
    fail("connect with %r was accepted" % (creds,))


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    conn = stomp.Connection12([(host, port)])
    listener = Listener()
    conn.set_listener("l", listener)
    conn.connect("app", "app-secret", wait=True)
    conn.subscribe("/queue/orders.py", id="s", ack="auto")
    conn.send("/queue/orders.py", "hello", receipt="r1")
    if not listener.got_message.wait(TIMEOUT):
        fail("no message back (errors: %r)" % listener.errors)
    if listener.messages != ["hello"]:
        fail("unexpected messages %r" % listener.messages)
    conn.disconnect()

    errors = refused(host, port, username="app", passcode="wrong")
    if not any(e.startswith("authentication failed") for e in errors):
        fail("wrong passcode: errors %r" % errors)
    errors = refused(host, port)
    if not any("requires login" in e for e in errors):
        fail("no credentials: errors %r" % errors)
    print("OK")


if __name__ == "__main__":
    main()
