# rvirt — the two commands of the README, plus their parts.
CARGO ?= cargo
GUEST_DIR ?= $(CURDIR)/.guest

.PHONY: all setup build guest demo test lint fuzz bench

all: build

setup:
	./tools/setup-host.sh

build:
	$(CARGO) build --release --workspace

guest:
	./tools/build-test-guest.sh $(GUEST_DIR)

# Main job (until rvirtd lands): validate a passthrough domain, show its canonical
# form, build the test guest and boot it under TCG to its ready marker.
demo: setup build guest
	./tools/demo.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# Tests: unit, golden, property and the live QEMU/guest tests (serial group).
test: setup lint guest
	$(CARGO) nextest run --workspace --profile ci

fuzz:
	cd fuzz && $(CARGO) +nightly fuzz run parse_domain -- -max_total_time=300

# Speed and memory against the floor (bare QEMU) measured in the same run.
bench: setup build
	./tools/bench.sh
