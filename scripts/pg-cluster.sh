#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for the tests, the benchmarks and trying usero on PostgreSQL.
#
#   eval "$(scripts/pg-cluster.sh start)"   creates and starts one; prints `export` lines for
#                                            USERO_PG_CLUSTER (its folder) and USERO_TEST_POSTGRES_URL (its URL)
#   scripts/pg-cluster.sh stop [DIR]         stops it and deletes its folder (DIR defaults to $USERO_PG_CLUSTER)
#   scripts/pg-cluster.sh crash [DIR]        stops it in immediate mode: no shutdown checkpoint, like a power cut
#   scripts/pg-cluster.sh restart [DIR]      starts a stopped or crashed cluster again, same port, same data
#   scripts/pg-cluster.sh url [DIR]          prints its URL
#   scripts/pg-cluster.sh install            only installs Debian's postgresql when missing (scripts/test.sh runs it
#                                            while Swift builds)
#
# Debian's postgresql is installed when missing (non-interactively; no standard input needed). initdb refuses to run
# as root, so as root the cluster belongs to the `postgres` user, in a temporary folder it owns. fsync and
# synchronous_commit stay on: durability tests and benchmarks measure the real thing. The superuser `usero` has a
# random password (scram-sha-256, also on the Unix socket in the cluster's folder), so wrong credentials fail as they
# would on a real server.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

log() { echo "pg-cluster: $*" >&2; }

find_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        echo "$PG_BIN"
        return
    fi
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_installed() {
    local bin
    bin=$(find_bin)
    if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
        log "installing Debian's postgresql"
        "$here/install-deps.sh" postgresql >&2
        bin=$(find_bin)
    fi
    [ -n "$bin" ] && [ -x "$bin/initdb" ] || { log "no initdb found under /usr/lib/postgresql"; exit 1; }
    echo "$bin"
}

# Runs a command as the cluster's owner: `postgres` when we are root, ourselves otherwise.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# A free port below Linux's ephemeral range (32768 and up): a cluster that is crashed and restarted by a test gets its
# port back, where one the kernel handed out could meanwhile become some client socket's own end (the test's
# restart then failed with "could not start server" while the whole suite ran beside it). Nor one of another
# cluster of this script that is stopped or crashed for the moment: its test restarts it on that port (once a
# crashed cluster's port went to a cluster started beside it, whose server the restarted one then could not
# displace, and `serve` met the other cluster's password).
free_port() {
    python3 - "${TMPDIR:-/tmp}" <<'PY'
import glob, os, random, socket, sys
held = set()
for name in glob.glob(os.path.join(sys.argv[1], "usero-pg.*", "port")):
    try:
        held.add(int(open(name).read().strip()))
    except (OSError, ValueError):
        pass
for _ in range(200):
    port = random.randint(20000, 32767)
    if port in held:
        continue
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port between 20000 and 32767")
PY
}

cluster_dir() {
    local dir=${1:-${USERO_PG_CLUSTER:-}}
    [ -n "$dir" ] || { log "no cluster folder given (argument or USERO_PG_CLUSTER)"; exit 2; }
    # Its data folder names the cluster too (the path PostgreSQL's own messages give).
    [ ! -f "$dir/url" ] && [ -f "$dir/../url" ] && [ "$(basename "$dir")" = data ] && dir=$(dirname "$dir")
    [ -f "$dir/url" ] || { log "$dir is not a cluster folder this script made (it has no url file)"; exit 2; }
    echo "$dir"
}

start_server() {
    local dir=$1 bin
    bin=$(cat "$dir/bin")
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null
}

case "${1:-}" in
start)
    bin=$(ensure_installed)
    dir=$(mktemp -d "${TMPDIR:-/tmp}/usero-pg.XXXXXX")
    chmod 0755 "$dir"
    password=$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')
    printf '%s\n' "$password" >"$dir/pwfile"
    echo "$bin" >"$dir/bin"
    [ "$(id -u)" -eq 0 ] && chown -R postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U usero --pwfile="$dir/pwfile" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    rm -f "$dir/pwfile"
    # A port picked now may be taken before the server binds it: try a few.
    started=""
    for _ in 1 2 3 4 5; do
        port=$(free_port)
        cat >"$dir/data/postgresql.auto.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 1000
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
        [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/data/postgresql.auto.conf"
        if start_server "$dir" 2>>"$dir/start.log"; then
            started=yes
            break
        fi
    done
    [ -n "$started" ] || { cat "$dir/server.log" >&2; exit 1; }
    PGPASSWORD=$password "$bin/psql" -qAt -h 127.0.0.1 -p "$port" -U usero -d postgres \
        -c "CREATE DATABASE usero" >/dev/null
    url="postgres://usero:$password@127.0.0.1:$port/usero?sslmode=disable"
    echo "$url" >"$dir/url"
    echo "$port" >"$dir/port"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$dir/url" "$dir/port"
    chmod 0644 "$dir/url"
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port, cluster folder $dir"
    echo "export USERO_PG_CLUSTER='$dir'"
    echo "export USERO_TEST_POSTGRES_URL='$url'"
    ;;
stop)
    dir=$(cluster_dir "${2:-}")
    bin=$(cat "$dir/bin")
    as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
crash)
    dir=$(cluster_dir "${2:-}")
    bin=$(cat "$dir/bin")
    as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
    ;;
restart)
    dir=$(cluster_dir "${2:-}")
    start_server "$dir"
    ;;
url)
    dir=$(cluster_dir "${2:-}")
    cat "$dir/url"
    ;;
install)
    ensure_installed >/dev/null
    ;;
*)
    echo "usage: $0 start | stop [DIR] | crash [DIR] | restart [DIR] | url [DIR] | install" >&2
    exit 2
    ;;
esac
