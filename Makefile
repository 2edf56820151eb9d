# rvirt — the two commands of the README, plus their parts.
CARGO ?= cargo
GUEST_DIR ?= $(CURDIR)/.guest

.PHONY: all setup build guest demo test test-bookworm-qemu lint fuzz bench

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

# The same tests as on a host with bookworm's own QEMU 7.2 and virsh 9.0 (bind-mounted
# over the installed ones in a private mount namespace; nothing installed changes).
test-bookworm-qemu: setup guest
	./tools/with-bookworm-qemu.sh $(CARGO) nextest run --workspace --profile ci

# Each fuzz target for FUZZ_SECONDS on its committed corpus (fuzz/corpus/TARGET).
FUZZ_SECONDS ?= 300
FUZZ_TARGETS ?= parse_domain rpc_message qemu_conf
fuzz:
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		$(CARGO) +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# Speed and memory against the floor (bare QEMU) measured in the same run.
bench: setup build
	./tools/bench.sh

# Soak (issue 12): 8 writers (define/start/destroy/undefine) and 8 readers (list,
# lookup, dumpxml, state, info) against one rvirtd, for SOAK_OPS operations per
# writer (20 x as many reads per reader); the suite runs a CI-sized 200. Then the
# crash test CRASH_RUNS times with CRASH_ROUNDS daemon kills each (suite: 1 x 200).
SOAK_OPS ?= 1500
CRASH_RUNS ?= 5
CRASH_ROUNDS ?= 400
.PHONY: soak
soak: setup
	RVIRT_SOAK_OPS=$(SOAK_OPS) $(CARGO) test -p rvirtd --test daemon_soak -- --nocapture
	for i in $$(seq $(CRASH_RUNS)); do \
		RVIRT_CRASH_ROUNDS=$(CRASH_ROUNDS) $(CARGO) test -p rvirtd --test daemon_crash -- --nocapture || exit 1; \
	done
