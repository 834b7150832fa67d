# usero: two commands set up everything on a fresh Debian machine with Swift.
#   make run    installs missing Debian packages, builds (release) and starts `usero serve` on data/usero.sqlite
#   make test   installs missing Debian packages and runs every test
SHELL := /bin/bash
.PHONY: run test build deps bench drills profile

deps:
	@scripts/install-deps.sh

build: deps
	swift build -c release --product usero

run: build
	"$$(swift build -c release --show-bin-path)/usero" serve

test:
	scripts/test.sh

bench: deps
	scripts/bench-floor.sh
	scripts/bench-slack-latency.sh
	scripts/bench-feedback.sh
	scripts/bench-slack.sh
	scripts/bench-retention.sh
	scripts/bench-inbox.sh

# The fault drills of RELIABILITY.md (the disk drill needs root for its tmpfs; the soak runs 10 minutes).
drills: deps
	scripts/drill-kill9.sh
	scripts/drill-slack-faults.sh hang
	scripts/drill-slack-faults.sh 429
	scripts/drill-slack-faults.sh 500
	scripts/drill-disk-full.sh
	scripts/drill-upload-rss.sh
	scripts/drill-postgres-outage.sh
	SENDERS=16 scripts/drill-postgres-outage.sh 10
	scripts/drill-soak.sh 600 200

# Where each route's time goes (perf record; needs linux-perf): see BENCHMARKS.md.
profile: deps
	scripts/profile-routes.sh
