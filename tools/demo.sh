#!/usr/bin/env bash
# The main job: rvirtd on an embedded root (--root in a temp dir), driven by the real
# virsh over libvirt's remote protocol. Defines a guest with a <qemu:commandline>
# passthrough, boots it confined (TCG), shows the serial marker and the confinement
# facts read from /proc, shuts it down over ACPI and stops the daemon.
set -euo pipefail
cd "$(dirname "$0")/.."
GUEST_DIR=${GUEST_DIR:-$PWD/.guest}
BIN=${BIN:-target/release}
root=$(mktemp -d /tmp/rvirt-demo.XXXXXX)
daemon=
cleanup() {
    if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null || true; wait "$daemon" 2>/dev/null || true; fi
    # Nothing may outlive the demo: a guest left running (e.g. after a failure) goes too.
    pkill -f "guest=rvirt-demo," 2>/dev/null || true
    rm -rf "$root"
}
trap cleanup EXIT
sock="$root/run/rvirt/rvirt-sock"
V() { virsh -q -c "qemu+unix:///system?socket=$sock" "$@"; }
VV() { virsh -c "qemu+unix:///system?socket=$sock" "$@"; }

echo "== rvirtd --root $root"
"$BIN/rvirtd" --root "$root" 2>"$root/rvirtd.log" &
daemon=$!
for _ in $(seq 1 100); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || { cat "$root/rvirtd.log"; echo "rvirtd did not start"; exit 1; }
V version

sed -e "s#GUEST_DIR#$GUEST_DIR#g" -e "s#SERIAL_LOG#$root/serial.log#g" examples/demo.xml > "$root/demo.xml"
echo "== rvirt validate (namespace declared at use; written back on <domain>)"
"$BIN/rvirt" validate "$root/demo.xml"
echo "== virsh define + start"
VV define "$root/demo.xml"
VV start rvirt-demo
start=$(date +%s%N)
for _ in $(seq 1 900); do
    { tr -d '\r' < "$root/serial.log"; } 2>/dev/null | grep -q 'GUEST-READY$' && break
    sleep 0.1
done
tr -d '\r' < "$root/serial.log" | grep -q 'GUEST-READY$' || { echo "guest did not become ready"; cat "$root/serial.log"; exit 1; }
echo "   serial: $(tr -d '\r' < "$root/serial.log" | grep 'GUEST-READY$' | tail -1) ($(( ($(date +%s%N) - start) / 1000000 )) ms after start)"
V domstate --reason rvirt-demo

pid=$(sed -n "s/.*<domstatus [^>]*pid='\([0-9]*\)'.*/\1/p" "$root/run/rvirt/qemu/rvirt-demo.xml")
echo "== confinement of QEMU pid $pid, read from /proc"
field() { awk -v k="$1:" '$1==k {$1=""; print substr($0,2)}' "/proc/$pid/status"; }
printf '   %-16s %s\n' \
    "uid/gid" "$(field Uid | cut -d' ' -f1)/$(field Gid | cut -d' ' -f1) ($(getent passwd "$(field Uid | cut -d' ' -f1)" | cut -d: -f1))" \
    "groups" "$(field Groups)" \
    "Seccomp" "$(field Seccomp) (2 = filter)" \
    "NoNewPrivs" "$(field NoNewPrivs)" \
    "mount ns" "$(readlink "/proc/$pid/ns/mnt") (host: $(readlink /proc/self/ns/mnt))" \
    "/dev" "$(ls "/proc/$pid/root/dev" | tr '\n' ' ')" \
    "cgroup" "$(grep '^0::' "/proc/$pid/cgroup" | cut -d: -f3)" \
    "passthrough env" "$(tr '\0' '\n' < "/proc/$pid/environ" | grep RVIRT_DEMO)" \
    "passthrough arg" "$(tr '\0' ' ' < "/proc/$pid/cmdline" | grep -o -- '-fw_cfg [^ ]*')"
grep -h "tainted\|Landlock" "$root/var/log/rvirt/qemu/rvirt-demo.log" | sed 's/^/   log: /'

echo "== virsh shutdown (ACPI)"
V shutdown rvirt-demo
for _ in $(seq 1 300); do [ "$(V domstate rvirt-demo)" = "shut off" ] && break; sleep 0.1; done
V domstate --reason rvirt-demo
tr -d '\r' < "$root/serial.log" | grep GUEST-POWEROFF | sed 's/^/   serial: /'
V undefine rvirt-demo
kill "$daemon"; wait "$daemon" || true; daemon=
echo "== done"
