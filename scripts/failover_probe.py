#!/usr/bin/env python3
"""Failover probe for scripts/bench-failover.sh (stdlib only, raw sockets).

    failover_probe.py --pid PID --signal KILL|TERM --victim-port P --ports P1,P2

1. Checks that the current master (STOMP port --victim-port) confirms one
   persistent SEND (exit 2 if not: the setup is broken, nothing is measured).
2. t0 = time.monotonic(); os.kill(PID, SIG).
3. Loops over all --ports: connect, CONNECT, SEND persistent:true with a
   receipt, wait for the RECEIPT; sleeps --poll-ms between failed rounds.
   The first RECEIPT from a port other than the victim's ends the loop.
   A RECEIPT from the victim's own port after the signal (possible while a
   SIGTERMed broker is still shutting down) is counted but does not end it.
4. Prints one line: "<ms> <port> attempts=<n> victim_receipts=<n>" where ms is
   the time from just before the signal to the RECEIPT (exit 0), or
   "timeout ..." (exit 1) after --timeout seconds.
"""
import argparse
import os
import signal
import socket
import sys
import time

DEST = "/queue/failover-probe"


def read_frame(sock, buf):
    """Returns (command, headers, rest-of-buffer); skips heart-beat EOLs."""
    while True:
        while buf[:1] in (b"\n", b"\r"):
            buf = buf[1:]
        i = buf.find(b"\0")
        if i >= 0:
            frame, buf = buf[:i], buf[i + 1 :]
            head = frame.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n").decode("utf-8", "replace")
            lines = head.split("\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers.setdefault(k, v)
            return lines[0], headers, buf
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed by the broker")
        buf += chunk


def persistent_send(port, seq, timeout):
    """One connection, one persistent SEND; True iff its RECEIPT came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(timeout)
        s.sendall(b"CONNECT\naccept-version:1.2\nhost:localhost\nheart-beat:0,0\n\n\0")
        cmd, _, buf = read_frame(s, b"")
        if cmd != "CONNECTED":
            return False
        body = ("failover probe %d" % seq).encode()
        rid = "probe-%d" % seq
        s.sendall(
            (
                "SEND\ndestination:%s\npersistent:true\nreceipt:%s\n"
                "content-type:text/plain\ncontent-length:%d\n\n" % (DEST, rid, len(body))
            ).encode()
            + body
            + b"\0"
        )
        while True:
            cmd, h, buf = read_frame(s, buf)
            if cmd == "RECEIPT" and h.get("receipt-id") == rid:
                try:
                    s.sendall(b"DISCONNECT\n\n\0")
                except OSError:
                    pass
                return True
            if cmd == "ERROR":
                return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--signal", choices=["KILL", "TERM"], required=True)
    ap.add_argument("--victim-port", type=int, required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("--poll-ms", type=float, default=5.0)
    ap.add_argument("--attempt-timeout", type=float, default=2.0)
    ap.add_argument("--timeout", type=float, default=60.0)
    a = ap.parse_args()
    ports = [int(p) for p in a.ports.split(",")]
    seq = int(time.time() * 1000) % 1000000000

    try:
        ok = persistent_send(a.victim_port, seq, 5.0)
    except (OSError, ConnectionError) as e:
        ok = False
        print("pre-check error: %s" % e, file=sys.stderr)
    if not ok:
        print("precheck-failed")
        return 2

    sig = signal.SIGKILL if a.signal == "KILL" else signal.SIGTERM
    t0 = time.monotonic()
    os.kill(a.pid, sig)
    attempts = victim_receipts = 0
    while time.monotonic() - t0 < a.timeout:
        for port in ports:
            seq += 1
            attempts += 1
            try:
                ok = persistent_send(port, seq, a.attempt_timeout)
            except (OSError, ConnectionError):
                ok = False
            if ok:
                t1 = time.monotonic()
                if port == a.victim_port:
                    victim_receipts += 1
                    continue
                print("%.1f %d attempts=%d victim_receipts=%d"
                      % ((t1 - t0) * 1000.0, port, attempts, victim_receipts))
                return 0
        time.sleep(a.poll_ms / 1000.0)
    print("timeout attempts=%d victim_receipts=%d" % (attempts, victim_receipts))
    return 1


if __name__ == "__main__":
    sys.exit(main())
