# usero: two commands set up everything on a fresh Debian machine with Swift.
#   make run    installs missing Debian packages, builds (release) and starts `usero serve` on data/usero.sqlite
#   make test   installs missing Debian packages and runs every test
SHELL := /bin/bash
.PHONY: run test build deps bench profile

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

# Where each route's time goes (perf record; needs linux-perf): see BENCHMARKS.md.
profile: deps
	scripts/profile-routes.sh
