#!/usr/bin/env bash
# Drill: the disk fills up (issue 11). Writes must be refused cleanly (503, never a 500), no acknowledged row may be
# lost, the store must stay intact, and writes must resume once space is freed.
#
#   scripts/drill-disk-full.sh [TMPFS_MB (48)]
#
# Needs root for a small tmpfs (without it, set TMPDIR to a small filesystem yourself). Two phases on the tmpfs:
#  1. USERO_MIN_FREE_DISK_MB=8: uploads and feedback until the watermark answers 503;
#  2. the watermark off (0): on until the filesystem itself is full (ENOSPC / SQLITE_FULL must answer 503 too);
# then a filler file is removed and a write must succeed again. Prints acknowledged and lost rows, the statuses seen,
# and PRAGMA integrity_check.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-48}
swift build -c release --product usero >/dev/null
bin=$(swift build -c release --show-bin-path)/usero

work=$(mktemp -d "${TMPDIR:-/tmp}/usero-drill.XXXXXX")
server=
mounted=
cleanup() {
    if [ -n "$server" ]; then kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; fi
    if [ -n "$mounted" ]; then umount "$work/disk" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/disk"
if mount -t tmpfs -o "size=${size}m" tmpfs "$work/disk" 2>/dev/null; then mounted=1; else
    echo "no tmpfs (not root?): using $work/disk on $(df -h "$work" | tail -1 | awk '{print $1}') as it is"; fi
export USERO_DATABASE="$work/disk/usero.sqlite" USERO_DATA_DIR="$work/disk/data" LOG_LEVEL=error \
    USERO_PUBLIC_RATE_LIMIT=0 USERO_UPLOAD_QUOTA_MB=0
client=$("$bin" clients create --name drill | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientId"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# Room to give back at the end.
dd if=/dev/zero of="$work/disk/filler" bs=1M count=6 status=none

start() {
    "$bin" serve --port "$port" 2>>"$work/server.log" &
    server=$!
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
}
stop() { kill $server; wait $server 2>/dev/null || true; server=; }

phase() {  # $1: name; prints "acked_ids_file statuses"
    python3 - "$port" "$client" "$work/acked.txt" "$1" <<'PY'
import collections, http.client, json, os, struct, sys, zlib
port, client, acked_path, name = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ihdr = struct.pack(">IIBBBBB", 64, 64, 8, 6, 0, 0, 0)
png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
statuses = collections.Counter()
refused_in_a_row = 0
with open(acked_path, "a") as acked:
    for i in range(100000):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if i % 2 == 0:
            body = (f"--b\r\nContent-Disposition: form-data; name=\"clientId\"\r\n\r\n{client}\r\n--b\r\n"
                    "Content-Disposition: form-data; name=\"screenshot\"; filename=\"s.png\"\r\nContent-Type: image/png\r\n\r\n"
                    ).encode() + png + os.urandom(1024 * 1024) + b"\r\n--b--\r\n"
            c.request("POST", "/api/screenshots", body=body, headers={"Content-Type": "multipart/form-data; boundary=b"})
        else:
            body = json.dumps({"clientId": client, "rating": 2, "comment": "disk drill " + "x" * 20000})
            c.request("POST", "/api/feedback", body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse(); data = r.read(); c.close()
        statuses[r.status] += 1
        if r.status == 200:
            refused_in_a_row = 0
            if i % 2 == 1: acked.write(json.loads(data)["feedbackId"] + "\n")
        else:
            refused_in_a_row += 1
            if r.status >= 500 and r.status != 503: print("unexpected", r.status, data[:200], file=sys.stderr)
            if refused_in_a_row >= 20: break
print(name, " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())))
PY
}

: > "$work/acked.txt"
MIN=8
USERO_MIN_FREE_DISK_MB=$MIN start
echo "phase 1 (watermark ${MIN} MB): $(phase watermark)"
echo "  free at refusal: $(df -m "$work/disk" | tail -1 | awk '{print $4}') MB"
stop
USERO_MIN_FREE_DISK_MB=0 start
echo "phase 2 (no watermark, until ENOSPC): $(phase enospc)"
echo "  free at refusal: $(df -m "$work/disk" | tail -1 | awk '{print $4}') MB"
rm -f "$work/disk/filler"
after=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    -d "{\"clientId\":\"$client\",\"rating\":4}" "http://127.0.0.1:$port/api/feedback")
stop
acked=$(wc -l < "$work/acked.txt")
python3 - "$USERO_DATABASE" "$work/acked.txt" "$after" <<'PY'
import sqlite3, sys
db, acked_path, after = sys.argv[1], sys.argv[2], sys.argv[3]
ids = [l.strip() for l in open(acked_path) if l.strip()]
con = sqlite3.connect(db)
found = sum(con.execute(f"select count(*) from feedback where id in ({','.join('?'*len(c))})", c).fetchone()[0]
            for c in [ids[i:i+500] for i in range(0, len(ids), 500)])
integrity = con.execute("pragma integrity_check").fetchone()[0]
print(f"disk-full drill: {len(ids)} acknowledged feedback rows, {len(ids) - found} lost (target 0); "
      f"integrity_check: {integrity}; a write after freeing 6 MB: {after}")
sys.exit(0 if found == len(ids) and integrity == "ok" and after == "200" else 1)
PY
