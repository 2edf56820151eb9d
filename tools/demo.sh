#!/usr/bin/env bash
# The main job as far as it exists today: validate a domain with a qemu:commandline
# passthrough, print its canonical XML, then boot the test guest under TCG to its
# ready marker and power it off over QMP. (rvirtd will take over the boot.)
set -euo pipefail
cd "$(dirname "$0")/.."
GUEST_DIR=${GUEST_DIR:-$PWD/.guest}
RVIRT=${RVIRT:-target/release/rvirt}
work=$(mktemp -d)
qemu_pid=
cleanup() { [ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

sed "s#GUEST_DIR#$GUEST_DIR#g" examples/demo.xml > "$work/demo.xml"
echo "== rvirt validate --canonical (namespace declared at use, written back on <domain>)"
"$RVIRT" validate --canonical "$work/demo.xml"

echo "== booting the test guest under TCG"
start=$(date +%s%N)
qemu-system-x86_64 -machine q35,accel=tcg -m 128 -display none -no-reboot -nic none \
    -kernel "$GUEST_DIR/vmlinux" -initrd "$GUEST_DIR/initramfs.gz" \
    -append 'console=ttyS0 panic=-1 quiet' -serial "file:$work/serial.log" \
    -qmp "unix:$work/qmp.sock,server=on,wait=off" </dev/null &
qemu_pid=$!
for _ in $(seq 1 600); do
    { tr -d '\r' < "$work/serial.log"; } 2>/dev/null | grep -q 'GUEST-READY$' && break
    sleep 0.1
done
tr -d '\r' < "$work/serial.log" | grep -q 'GUEST-READY$' || { echo "guest did not become ready"; cat "$work/serial.log"; exit 1; }
echo "   marker after $(( ($(date +%s%N) - start) / 1000000 )) ms: $(tr -d '\r' < "$work/serial.log" | grep 'GUEST-READY$' | tail -1)"
python3 - "$work/qmp.sock" <<'PY'
import json, socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rw')
f.readline(); f.write('{"execute":"qmp_capabilities"}\n'); f.flush(); f.readline()
s.settimeout(1.0)
for _ in range(20):
    f.write('{"execute":"system_powerdown"}\n'); f.flush()
    try:
        while True:
            line = f.readline()
            if not line: sys.exit(0)
            if '"SHUTDOWN"' in line: print("   QMP:", line.strip()); sys.exit(0)
    except (socket.timeout, OSError):
        pass
sys.exit("guest did not power off")
PY
wait "$qemu_pid"; qemu_pid=
grep -E 'GUEST-POWEROFF' "$work/serial.log" | sed 's/^/   serial: /'
echo "== done"
