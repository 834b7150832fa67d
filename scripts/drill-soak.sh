#!/usr/bin/env bash
# Drill: soak (issue 11). A steady mixed load for a while: no errors, RSS flat.
#
#   scripts/drill-soak.sh [SECONDS (600)] [REQUESTS_PER_SECOND (200)]
#
# Starts a release `usero serve` and, for SECONDS, sends REQUESTS_PER_SECOND requests a second, spread evenly:
# mostly POST /api/feedback, with a 200 KB screenshot upload and an admin list (GET /api/feedback) every 20th each.
# (The issue asks for half capacity: about 200/s is half of what one core of this 2-core machine sustains with the
# durable writes; raise it on a bigger machine.) Samples the server's RSS every second. Prints the requests, the
# errors (non-2xx or failed; target 0), the achieved rate, and RSS after the first tenth of the run, at the end and
# at its highest (target: end within 10% of the early figure).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
rate=${2:-200}
# USERO_BIN_DIR: a folder holding a release build of usero (default: build it here).
bin=$(scripts/release-bin.sh usero)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export USERO_DATABASE="$work/usero.sqlite" USERO_DATA_DIR="$work/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0 \
    USERO_UPLOAD_QUOTA_MB=0
created=$("$bin" clients create --name soak)
client=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
key=$(echo "$created" | python3 -c 'import json,sys; print(json.load(sys.stdin)["adminKey"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$client" "$key" "$server" "$seconds" "$rate" <<'PY'
import http.client, json, os, struct, sys, threading, time, zlib
port, client, key, pid, seconds, rate = (int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]),
                                         float(sys.argv[5]), float(sys.argv[6]))
def rss():
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"): return int(line.split()[1]) / 1024
ihdr = struct.pack(">IIBBBBB", 640, 480, 8, 6, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
upload = (f"--b\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n{client}\r\n--b\r\n"
          "Content-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\nContent-Type: image/png\r\n\r\n"
          ).encode() + png + os.urandom(200 * 1024) + b"\r\n--b--\r\n"
lock = threading.Lock()
sent = errors = 0
samples = []
start = time.time()
stop = False
workers = 16
def worker(n):
    global sent, errors
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    i = n
    interval = workers / rate
    next_at = start + n / rate
    while True:
        now = time.time()
        if now - start >= seconds: return
        if next_at > now: time.sleep(next_at - now)
        next_at += interval
        try:
            if i % 20 == 7:
                conn.request("POST", "/api/screenshots", body=upload, headers={"Content-Type": "multipart/form-data; boundary=b"})
            elif i % 20 == 13:
                conn.request("GET", "/api/feedback?limit=20", headers={"Authorization": f"Bearer {key}"})
            else:
                conn.request("POST", "/api/feedback", headers={"Content-Type": "application/json"},
                             body=json.dumps({"clientId": client, "rating": 1 + i % 4, "comment": f"soak {n} {i}",
                                              "metadata": {"build": i}}))
            r = conn.getresponse(); r.read()
            ok = 200 <= r.status < 300
        except Exception:
            ok = False
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        with lock:
            sent += 1
            if not ok: errors += 1
        i += workers
def sampler():
    while not stop:
        samples.append((time.time() - start, rss()))
        time.sleep(1)
s = threading.Thread(target=sampler); s.start()
threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
for t in threads: t.start()
for t in threads: t.join()
stop = True; s.join()
elapsed = time.time() - start
early = next((r for t, r in samples if t >= seconds / 10), samples[0][1])
end = samples[-1][1]
peak = max(r for _, r in samples)
drift = (end - early) / early * 100
print(f"soak: {seconds:.0f} s at {rate:.0f}/s asked, {sent/elapsed:.0f}/s done: {sent} requests, {errors} errors (target 0)")
print(f"RSS: {early:.1f} MB after the first tenth, {end:.1f} MB at the end ({drift:+.1f}%), peak {peak:.1f} MB "
      f"(target: within 10%: {'met' if abs(drift) <= 10 else 'MISSED'})")
sys.exit(0 if errors == 0 and abs(drift) <= 10 else 1)
PY
