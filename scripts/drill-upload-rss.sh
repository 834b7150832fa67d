#!/usr/bin/env bash
# Drill: memory under concurrent screenshot uploads (issue 11, item 9).
#
#   scripts/drill-upload-rss.sh [UPLOADS] [MEGABYTES]        (defaults: 20 uploads of 10 MB at once)
#
# Starts a release `usero serve` on a temporary store, measures its idle RSS, then sends UPLOADS concurrent uploads
# of a MEGABYTES-sized PNG (each retried after its Retry-After when the concurrent-upload cap answers 503), samples
# the server's RSS every 10 ms and reads its VmHWM. Prints the peak RSS (target < 150 MB), the ratio to idle RSS,
# and how many uploads landed (all of them must). Then downloads every uploaded file at once (each must come back
# whole) and prints the peak RSS while they are served.
#   DRILL_DATABASE=postgres://… scripts/drill-upload-rss.sh   # the same on PostgreSQL (an empty database)
set -euo pipefail
cd "$(dirname "$0")/.."
uploads=${1:-20}
megabytes=${2:-10}
bin=$(scripts/release-bin.sh usero)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
export USERO_DATABASE="${DRILL_DATABASE:-$work/usero.sqlite}" USERO_DATA_DIR="$work/data" LOG_LEVEL=warning USERO_PUBLIC_RATE_LIMIT=0 \
    USERO_UPLOAD_QUOTA_MB=0 USERO_TOKEN_KEY="${USERO_TOKEN_KEY:-$(head -c 32 /dev/urandom | base64)}"
client=$("$bin" clients create --name drill | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" serve --port "$port" &
server=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

python3 - "$port" "$client" "$server" "$uploads" "$megabytes" <<'PY'
import http.client, json, os, struct, sys, threading, time, zlib
port, client, pid, uploads, megabytes = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

def rss_kb(field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0

# A few requests first, so idle means "warmed up and waiting".
for _ in range(5):
    c = http.client.HTTPConnection("127.0.0.1", port); c.request("GET", "/healthz"); c.getresponse().read(); c.close()
time.sleep(0.5)
idle = rss_kb()

ihdr = struct.pack(">IIBBBBB", 1280, 800, 8, 6, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
size = min(megabytes * 1024 * 1024, 10 * 1024 * 1024) - len(png)
image = png + os.urandom(size)
boundary = "drill-boundary-7d1f"
body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n{client}\r\n"
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\n"
        f"Content-Type: image/png\r\n\r\n").encode() + image + f"\r\n--{boundary}--\r\n".encode()

peak = idle
stop = False
def sample():
    global peak
    while not stop:
        peak = max(peak, rss_kb())
        time.sleep(0.01)

landed, refused, failed = 0, 0, 0
names = []
lock = threading.Lock()
def upload():
    global landed, refused, failed
    for attempt in range(200):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            c.request("POST", "/api/screenshots", body=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
            r = c.getresponse(); data = r.read(); c.close()
        except (ConnectionError, OSError):
            # Refused before its body was read: the server may close while we still send.
            with lock: refused += 1
            time.sleep(1); continue
        if r.status == 200:
            with lock:
                landed += 1
                names.append(json.loads(data)["screenshot"]["fileName"])
            return
        if r.status == 503:
            with lock: refused += 1
            time.sleep(float(r.getheader("Retry-After") or 1)); continue
        with lock: failed += 1
        print("unexpected status", r.status, file=sys.stderr)
        return

sampler = threading.Thread(target=sample); sampler.start()
start = time.time()
threads = [threading.Thread(target=upload) for _ in range(uploads)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - start
stop = True; sampler.join()
hwm = rss_kb("VmHWM")
peak = max(peak, hwm)
print(f"uploads: {uploads} x {len(image)/1048576:.1f} MB at once; landed {landed}, failed {failed}, "
      f"503s retried {refused}, in {elapsed:.1f} s")
print(f"idle RSS {idle/1024:.1f} MB; peak RSS {peak/1024:.1f} MB (VmHWM); ratio {peak/idle:.1f}x; "
      f"target < 150 MB: {'met' if peak < 150*1024 else 'MISSED'}")

# Then every uploaded file downloaded at once: streamed from the file (SQLite) or a chunk at a time (PostgreSQL).
served = 0
def download(name):
    global served
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("GET", f"/api/screenshots/{name}")
    r = c.getresponse(); data = r.read(); c.close()
    if r.status == 200 and data == image:
        with lock: served += 1
    else:
        print("download", name, "status", r.status, "bytes", len(data), file=sys.stderr)
stop = False
peak_down = rss_kb()
def sample_down():
    global peak_down
    while not stop:
        peak_down = max(peak_down, rss_kb())
        time.sleep(0.01)
sampler = threading.Thread(target=sample_down); sampler.start()
start = time.time()
threads = [threading.Thread(target=download, args=(n,)) for n in names]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.time() - start
stop = True; sampler.join()
print(f"downloads: {len(names)} at once; served whole {served}, in {elapsed:.1f} s; "
      f"peak RSS while serving {peak_down/1024:.1f} MB (sampled); target < 150 MB: "
      f"{'met' if peak_down < 150*1024 else 'MISSED'}")
ok = landed == uploads and peak < 150 * 1024 and served == len(names) and peak_down < 150 * 1024
sys.exit(0 if ok else 1)
PY
