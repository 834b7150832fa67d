#!/usr/bin/env python3
"""Reaction-to-visible-row latency against a fake Slack Web API on loopback (driven by scripts/bench-slack-latency.sh).

Starts a fake of Slack's Web API (this file, http.server, HTTP/1.1 keep-alive, TCP_NODELAY, each answer written in
one send), starts `usero serve` pointed at it, installs the app through the real OAuth flow (install link, then the
callback with a code the fake accepts), then sends COUNT signed `reaction_added` events one after another. For each,
it polls the admin API (`GET /api/feedback?limit=1`) until the new row is listed, and reads the fake's call log to
show where the time went: event -> conversations.replies -> chat.getPermalink -> row visible.

Only loopback is used; every wait is bounded.

    python3 scripts/slack_latency.py USERO_BINARY [COUNT]       (FAKE_WRITES=split|one, default split;
                                                                 FAKE_DELAY_MS=N: each Web API answer N ms late)
    python3 scripts/slack_latency.py fake PORT [SECONDS]         (only the fake)
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "Tests", "AppTests", "Fixtures", "slack")
SECRET = "bench-signing-secret"
CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "bench-client-secret"


def fixture(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


CALLS = []  # (monotonic seconds, method, ts)
CALLS_LOCK = threading.Lock()


# How the fake writes an answer: "split" (http.server's usual way: the head, then the body, in two sends with Nagle
# on, as a plain `BaseHTTPRequestHandler` fake does) or "one" (head and body in one send, TCP_NODELAY).
WRITES = os.environ.get("FAKE_WRITES", "split")
# How long the fake takes to answer a Web API method, in ms (0 by default: loopback only). Real Slack answers across
# the internet; FAKE_DELAY_MS=40 shows what a round trip of that size does to a reaction's way to the inbox.
DELAY = max(0.0, min(float(os.environ.get("FAKE_DELAY_MS", "0")), 5000.0)) / 1000


class FakeSlack(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        if WRITES == "one":
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, *args):
        pass

    def answer(self):
        arrived = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > (1 << 20):
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        query = dict(urllib.parse.parse_qsl(url.query))
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace")))
        method = url.path[len("/api/"):] if url.path.startswith("/api/") else "response_url"
        ts = query.get("ts") or query.get("message_ts") or form.get("ts") or ""
        with CALLS_LOCK:
            CALLS.append((arrived, method, ts))
        if DELAY and method != "response_url":
            time.sleep(DELAY)
        if method == "oauth.v2.access":
            reply = fixture("oauth_v2_access_ok.json")
        elif method == "auth.test":
            reply = (b'{"ok":true,"url":"https://acme-product.slack.com/","team":"Acme Product","user":"usero",'
                     b'"team_id":"T0001","user_id":"U0009","bot_id":"B0001"}')
        elif method in ("conversations.replies", "conversations.history"):
            ts = query.get("ts") or query.get("latest") or ""
            reply = json.dumps({"ok": True, "has_more": False, "messages": [
                {"type": "message", "user": "U0002", "ts": ts, "text": "Export to CSV times out"}]}).encode()
        elif method == "chat.getPermalink":
            reply = json.dumps({"ok": True, "channel": query.get("channel", ""),
                                "permalink": "https://acme-product.slack.com/archives/%s/p%s"
                                % (query.get("channel", ""), ts.replace(".", ""))}).encode()
        else:
            reply = b'{"ok":true}'
        if WRITES == "one":
            head = ("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n\r\n"
                    % len(reply)).encode()
            self.wfile.write(head + reply)
        else:
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

    do_GET = answer
    do_POST = answer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Conn:
    """One keep-alive connection to usero with TCP_NODELAY (like `requests`)."""

    def __init__(self, port):
        self.port = port
        self.c = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                self.c.connect()
                self.c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                self.c.request(method, path, body=body, headers=headers or {})
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = None
                if attempt:
                    raise


def signed(body):
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": "v0=" + sig}


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100 * (len(values) - 1)))))
    return values[k]


def serve_fake(port, seconds):
    """`slack_latency.py fake PORT [SECONDS]`: only the fake, on 127.0.0.1:PORT, for at most SECONDS (600)."""
    fake = ThreadingHTTPServer(("127.0.0.1", port), FakeSlack)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    time.sleep(seconds)
    fake.shutdown()


def main():
    if sys.argv[1] == "fake":
        serve_fake(int(sys.argv[2]), min(float(sys.argv[3]) if len(sys.argv) > 3 else 600, 3600))
        return
    binary = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 40
    count = max(1, min(count, 1000))
    fake_port = free_port()
    fake = ThreadingHTTPServer(("127.0.0.1", fake_port), FakeSlack)
    fake.daemon_threads = True
    threading.Thread(target=fake.serve_forever, daemon=True).start()

    work = tempfile.mkdtemp(prefix="usero-slack-latency.")
    port = free_port()
    env = dict(os.environ)
    env.update({
        "USERO_DATABASE": os.path.join(work, "usero.sqlite"), "USERO_DATA_DIR": os.path.join(work, "data"),
        "USERO_PORT": str(port), "SLACK_SIGNING_SECRET": SECRET, "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET, "SLACK_API_URL": "http://127.0.0.1:%d/api/" % fake_port,
        "SLACK_AUTHORIZE_URL": "http://127.0.0.1:%d/oauth/v2/authorize" % fake_port,
        "USERO_TOKEN_KEY": base64.b64encode(bytes(range(32))).decode(), "LOG_LEVEL": env.get("LOG_LEVEL", "warning"),
        "USERO_PUBLIC_RATE_LIMIT": "0",
    })
    created = json.loads(subprocess.run([binary, "clients", "create", "--name", "latency"], env=env, check=True,
                                        capture_output=True, timeout=60).stdout)
    key = created["adminKey"]
    server = subprocess.Popen([binary, "serve"], env=env, stderr=open(os.path.join(work, "server.log"), "wb"))
    try:
        conn = Conn(port)
        deadline = time.monotonic() + 30
        while True:
            try:
                if conn.request("GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("usero did not start")
            time.sleep(0.05)
        admin = {"Authorization": "Bearer " + key}
        status, body = conn.request("POST", "/api/slack/install-link", headers=admin)
        assert status == 200, (status, body)
        state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(json.loads(body)["url"]).query))["state"]
        status, body = conn.request("GET", "/slack/oauth/callback?code=bench-code&state=" + urllib.parse.quote(state))
        assert status == 200, (status, body[:200])

        template = json.loads(fixture("event_reaction_added_wrench.json"))
        poll = Conn(port)
        totals, timelines, polls = [], [], []
        for i in range(count):
            event = json.loads(json.dumps(template))
            ts = "1700100000.%06d" % i
            event["event_id"] = "EvLatency%06d" % i
            event["event"]["item"]["ts"] = ts
            body = json.dumps(event, separators=(",", ":")).encode()
            headers = signed(body)
            t0 = time.monotonic()
            status, _ = conn.request("POST", "/slack/events", body=body, headers=headers)
            acked = time.monotonic()
            assert status == 200, status
            visible = None
            give_up = t0 + 10
            while time.monotonic() < give_up:
                asked = time.monotonic()
                status, listed = poll.request("GET", "/api/feedback?limit=1", headers=admin)
                polls.append((time.monotonic() - asked) * 1000)
                if status == 200 and b'"messageTs":"%s"' % ts.encode() in listed:
                    visible = time.monotonic()
                    break
                time.sleep(0.0005)
            if visible is None:
                raise SystemExit("reaction %d: row not visible within 10 s" % i)
            totals.append((visible - t0) * 1000)
            with CALLS_LOCK:
                mine = [(t, m) for (t, m, s) in CALLS if s == ts and t >= t0]
            steps = {m: (t - t0) * 1000 for (t, m) in mine if m not in ("chat.postEphemeral",)}
            timelines.append({"ack": (acked - t0) * 1000, **steps, "visible": (visible - t0) * 1000})
            # Let the notify job go out before the next reaction: it holds the workspace's Slack lane until answered.
            time.sleep(0.02 + DELAY)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        fake.shutdown()

    print("== reaction_added -> row visible in GET /api/feedback (%d reactions in a row, fake Slack on loopback, "
          "writes: %s, answering after %d ms)" % (count, WRITES, DELAY * 1000))
    print("p50 %.1f ms   p90 %.1f ms   min %.1f ms   max %.1f ms" % (
        pct(totals, 50), pct(totals, 90), min(totals), max(totals)))
    print("== per-call timeline, ms after the event was sent (median over %d reactions)" % count)
    for step in ["ack", "conversations.replies", "conversations.history", "chat.getPermalink", "visible"]:
        values = [t[step] for t in timelines if step in t]
        if values:
            print("  %-24s %7.1f ms   (p90 %.1f)" % (step, statistics.median(values), pct(values, 90)))
    print("  (one poll of GET /api/feedback?limit=1 takes %.1f ms at the median, p90 %.1f: a row is seen up to that "
          "long after it is committed)" % (statistics.median(polls), pct(polls, 90)))
    first = timelines[len(timelines) // 2]
    print("one reaction (#%d): %s" % (len(timelines) // 2, ", ".join("%s +%.1f" % kv for kv in first.items())))
    print("RESULT reaction_to_row_p50_ms=%.1f reaction_to_row_p90_ms=%.1f" % (pct(totals, 50), pct(totals, 90)))


if __name__ == "__main__":
    main()
