#!/usr/bin/env bash
# Drill: Slack answering 429, 5xx, or hanging (issue 11). Every capture must land exactly once after Slack
# recovers, and an uninstall during the outage must still be scrubbed within its 60 s deadline.
#
#   scripts/drill-slack-faults.sh [MODE: 429|500|hang (hang)] [OUTAGE_SECONDS (30)] [CAPTURES (20)]
#
# Runs a fake Slack (python, any /api/<method>) and a release `usero serve` pointed at it; installs two workspaces
# (T0001, T0002) through the OAuth flow; then turns the fake to MODE (429 with Retry-After: 5, 500, or accepting
# and never answering), sends CAPTURES signed `reaction_added` events for distinct messages of T0001 and one
# `app_uninstalled` for T0002, waits OUTAGE_SECONDS, turns the fake back to normal and waits until the captures
# land. Prints captures landed / duplicates, and the scrub's time against its deadline (from the audit trail).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-hang}
outage=${2:-30}
captures=${3:-20}
swift build -c release --product usero >/dev/null
bin=$(swift build -c release --show-bin-path)/usero
fixtures=Tests/AppTests/Fixtures/slack

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
server=; fake=
cleanup() {
    for p in $server $fake; do kill $p 2>/dev/null || true; wait $p 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
secret="drill-signing-secret-$$"
fake_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
echo ok > "$work/mode"

python3 - "$fake_port" "$work/mode" "$fixtures" <<'PY' &
import json, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, mode_path, fixtures = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def fixture(name): return json.load(open(f"{fixtures}/{name}"))
class Fake(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json"); self.send_header("Content-Length", str(len(data)))
        for k, v in headers: self.send_header(k, v)
        self.end_headers(); self.wfile.write(data)
    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        params = dict(urllib.parse.parse_qsl(url.query)); params.update(urllib.parse.parse_qsl(body))
        method = url.path.rsplit("/", 1)[-1]
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        team = "T0002" if "T0002" in token else "T0001"
        mode = open(mode_path).read().strip()
        if method != "oauth.v2.access" and mode != "ok":
            if mode == "429": return self.reply(429, {"ok": False, "error": "ratelimited"}, [("Retry-After", "5")])
            if mode == "500": return self.reply(500, {"ok": False, "error": "internal_error"})
            time.sleep(3600); return
        if method == "oauth.v2.access":
            team = "T0002" if params.get("code") == "code-T0002" else "T0001"
            r = fixture("oauth_v2_access_ok.json")
            r["team"] = {"id": team, "name": f"Drill {team}"}; r["access_token"] = f"xoxb-{team}-drill-token"
            r["bot_user_id"] = "U0009" if team == "T0001" else "U0109"
            return self.reply(200, r)
        if method == "auth.test":
            return self.reply(200, {"ok": True, "team": "Drill", "user": "usero", "team_id": team,
                                    "user_id": "U0009" if team == "T0001" else "U0109", "bot_id": "B0001"})
        if method in ("conversations.history", "conversations.replies"):
            ts = params.get("ts") or params.get("latest") or params.get("oldest") or "1700000000.000100"
            r = fixture("conversations_history_ok.json")
            r["messages"][0]["ts"] = ts; r["messages"][0]["text"] = f"drill message {ts}"
            r["messages"][0]["blocks"] = []
            return self.reply(200, r)
        if method == "chat.getPermalink":
            return self.reply(200, {"ok": True, "channel": params.get("channel", "C0001"),
                                    "permalink": f"https://drill.slack.com/archives/C0001/p{params.get('message_ts','').replace('.','')}"})
        if method == "users.conversations":
            return self.reply(200, {"ok": True, "channels": [], "response_metadata": {"next_cursor": ""}})
        if method == "chat.postMessage": return self.reply(200, {"ok": True, "channel": "D0001", "ts": "1700000999.000100"})
        return self.reply(200, {"ok": True})
    do_GET = do_POST = handle_any
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", port), Fake).serve_forever()
PY
fake=$!

export USERO_DATABASE="$work/usero.sqlite" USERO_DATA_DIR="$work/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0 \
    SLACK_SIGNING_SECRET="$secret" SLACK_CLIENT_ID=1234.5678 SLACK_CLIENT_SECRET=drill-client-secret \
    SLACK_API_URL="http://127.0.0.1:$fake_port/api/" SLACK_AUTHORIZE_URL="http://127.0.0.1:$fake_port/oauth/v2/authorize" \
    USERO_TOKEN_KEY=$(openssl rand -base64 32)
a=$("$bin" clients create --name drill-a); b=$("$bin" clients create --name drill-b)
"$bin" serve --port "$port" 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$secret" "$work/mode" "$mode" "$outage" "$captures" "$USERO_DATABASE" "$fixtures" "$a" "$b" <<'PY'
import hashlib, hmac, http.client, json, sqlite3, sys, time, urllib.parse
port, secret, mode_path, mode, outage, captures, db, fixtures = (int(sys.argv[1]), sys.argv[2], sys.argv[3],
    sys.argv[4], float(sys.argv[5]), int(sys.argv[6]), sys.argv[7], sys.argv[8])
a, b = json.loads(sys.argv[9]), json.loads(sys.argv[10])
def request(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, body=body, headers=headers); r = c.getresponse(); data = r.read(); c.close()
    return r.status, data
def install(client, code):
    status, data = request("POST", "/api/slack/install-link", headers={"Authorization": f"Bearer {client['adminKey']}"})
    assert status == 200, (status, data)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(json.loads(data)["url"]).query))["state"]
    status, data = request("GET", f"/slack/oauth/callback?code={code}&state={urllib.parse.quote(state)}")
    assert status == 200, (status, data[:300])
def signed(body):
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return request("POST", "/slack/events", body=body, headers={
        "Content-Type": "application/json", "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
install(a, "code-T0001"); install(b, "code-T0002")
open(mode_path, "w").write(mode)
start = time.time()
base = json.load(open(f"{fixtures}/event_reaction_added_wrench.json"))
for i in range(captures):
    event = json.loads(json.dumps(base))
    event["event"]["item"]["ts"] = f"1700000000.{i+1:06d}"
    event["event_id"] = f"EvDrill{i:04d}"; event["event_time"] = int(time.time())
    status, data = signed(json.dumps(event, separators=(",", ":")).encode())
    assert status == 200, (status, data)
uninstall = json.load(open(f"{fixtures}/event_app_uninstalled.json"))
uninstall["team_id"] = "T0002"; uninstall["authorizations"][0]["team_id"] = "T0002"; uninstall["authorizations"][0]["user_id"] = "U0109"
uninstall["event_id"] = "EvDrillUninstall"; uninstall["event_time"] = int(time.time())
sent_uninstall = time.time()
status, data = signed(json.dumps(uninstall, separators=(",", ":")).encode())
assert status == 200, (status, data)
time.sleep(max(0, outage - (time.time() - start)))
open(mode_path, "w").write("ok")
recovered = time.time()
con = sqlite3.connect(db, timeout=30)
rows = distinct = 0
for _ in range(600):
    rows, distinct = con.execute("select count(*), count(distinct comment) from feedback where client_id=? and source='slack'",
                                 (a["clientId"],)).fetchone()
    if rows >= captures: break
    time.sleep(1)
landed_after = time.time() - recovered
time.sleep(3)  # room for a duplicate to show up
rows, distinct = con.execute("select count(*), count(distinct comment) from feedback where client_id=? and source='slack'",
                             (a["clientId"],)).fetchone()
scrub = con.execute("select due_at, finished_at from audit_entry where kind='slack_uninstall_scrub' and client_id=?",
                    (b["clientId"],)).fetchone()
print(f"slack {mode} for {outage:.0f} s: {captures} captures sent, {distinct} landed once, {rows - distinct} duplicates, "
      f"last landed {landed_after:.1f} s after recovery (target: all once)")
if scrub:
    took = scrub[1] / 1000 - sent_uninstall
    print(f"uninstall during the outage: scrubbed {took:.1f} s after the event; deadline "
          f"{'held' if scrub[1] <= scrub[0] else 'MISSED'} ({(scrub[0] - scrub[1]) / 1000:.1f} s to spare)")
else:
    print("uninstall during the outage: NOT scrubbed")
sys.exit(0 if distinct == captures and rows == captures and scrub and scrub[1] <= scrub[0] else 1)
PY
