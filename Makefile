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

# Main job: rvirtd --root in a temporary directory, driven by the real virsh: a
# passthrough guest booted confined under TCG, its confinement read from /proc.
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
