#!/usr/bin/env bash
# Benchmark of rvirtd against the targets of issue 5 §5, with the floors measured in the
# same run. Starts its own `rvirtd --root <tmpdir>`, drives it with the real virsh and
# prints one table: what | rvirt (median) | floor (same run) | rvirt − floor | target |
# libvirt 9.0 (../shared/reference/libvirt-9.0-observed.md §5) | met?
#
#   BIN=target/release   where rvirtd and rvirt are (default; `make bench` builds them)
#   RUNS=21              hyperfine runs for the quick commands (start/destroy: START_RUNS=12),
#   ROUNDS=3             split into ROUNDS batches that alternate with their floor's batches
#   RESTARTS=7           daemon restarts per restart measurement
#   N_BULK=1000          domains defined for the list / daemon-start / RSS measurements
#   NICE=-10             run the whole bench (daemon, virsh, QEMU) at this nice level, to
#                        keep other work on a shared machine from dominating the figures
#   RVIRTD_LOG=debug     passed on to rvirtd (its log is kept in $root/rvirtd.log; KEEP=1 keeps $root)
#
# Method (like ../shared/reference/libvirt-9.0-observed.md §5): hyperfine -N, whole virsh
# processes, so each virsh figure includes virsh's own start-up and connection (the
# "virsh version" row). Restart figures are timed from the exec of rvirtd to the first
# wanted answer of virsh (tools/bench/spawn_rvirtd.py). RSS = VmRSS of /proc/PID/status.
# Floors: for start, bare QEMU with the argv rvirt plans (`virsh domxml-to-native`, monitor
# fd replaced by `-qmp unix:`), `-S`, until QMP answers qmp_capabilities, then quit
# (tools/bench/qmp_floor.py) minus python's own start-up, which is measured too; for the
# other virsh figures `virsh version` (client start-up + connection); for the restarts a
# restart of the daemon with nothing defined. Start's target is floor + 25 ms with virsh's
# own start-up inside the 25 ms.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${NICE:-}" ] && [ -z "${BENCH_NICED:-}" ]; then
    BENCH_NICED=1 exec nice -n "$NICE" "$0" "$@"
fi
BIN=${BIN:-target/release}
RUNS=${RUNS:-21}
START_RUNS=${START_RUNS:-12}
ROUNDS=${ROUNDS:-3}
RESTARTS=${RESTARTS:-7}
N_BULK=${N_BULK:-1000}
N_RUN=5
PY=/usr/bin/python3
HERE=$PWD/tools/bench

for b in rvirtd rvirt; do
    [ -x "$BIN/$b" ] || { echo "bench: $BIN/$b missing; build with: cargo build --release -p rvirtd -p rvirt" >&2; exit 1; }
done
for t in hyperfine virsh qemu-system-x86_64 "$PY"; do
    command -v "$t" >/dev/null || { echo "bench: $t not found" >&2; exit 1; }
done

root=$(mktemp -d /tmp/rvirt-bench.XXXXXX)
chmod 755 "$root"
mkdir -p "$root/bench"
W=$root/bench            # the bench's own files (XML, hyperfine JSON, floor argv)
sock=$root/run/rvirt/rvirt-sock
URI="qemu+unix:///system?socket=$sock"
V() { virsh -q -c "$URI" "$@"; }
VC="virsh -q -c $URI"    # for hyperfine -N (split like a shell would, no shell run)
daemon=

alive() { # pid -> true while the process exists and is not a zombie
    local s
    s=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$s" ] && [ "$s" != Z ]
}
stop_daemon() {
    [ -n "$daemon" ] || return 0
    kill -TERM "$daemon" 2>/dev/null || true
    for _ in $(seq 1 1000); do alive "$daemon" || break; sleep 0.01; done
    if alive "$daemon"; then echo "bench: rvirtd $daemon ignored SIGTERM for 10 s; SIGKILL" >&2; kill -KILL "$daemon" 2>/dev/null || true; fi
    daemon=
}
# Our QEMUs: `guest=bench-` in the command line and our root in the environment (HOME).
bench_qemus() {
    local p
    for p in $(pgrep -f 'guest=bench-' 2>/dev/null || true); do
        tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qF "$root/" && echo "$p"
    done
    return 0
}
cleanup() {
    local rc=$? p names
    set +e
    trap - EXIT INT TERM
    [ "$rc" = 0 ] || echo "bench: stopped (exit status $rc, line ${BASH_LINENO[0]:-?}); cleaning up" >&2
    if [ -n "$daemon" ] && alive "$daemon"; then
        for p in $(timeout 20 virsh -q -c "$URI" list --state-running --name 2>/dev/null); do
            timeout 20 virsh -q -c "$URI" destroy "$p" >/dev/null 2>&1
        done
        names=$(timeout 20 virsh -q -c "$URI" list --all --name 2>/dev/null)
        [ -n "$names" ] && sed 's/^/undefine /' <<<"$names" | timeout 120 virsh -q -c "$URI" >/dev/null 2>&1
    fi
    stop_daemon
    for p in $(bench_qemus); do kill -KILL "$p" 2>/dev/null; done
    if [ -n "${KEEP:-}" ]; then echo "bench: kept $root" >&2; else rm -rf "$root"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- helpers -------------------------------------------------------------------------
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
median() { tr ' ' '\n' | grep . | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6g\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
# hf NAME RUNS WARMUP [hyperfine options...] COMMAND: one hyperfine -N batch; its times are
# added to $W/NAME.times (JSON kept as $W/NAME.<n>.json). The figures are pooled over ROUNDS
# batches that alternate with the batches of the figure they are compared with, so a change
# of load on a shared machine hits both alike.
hf() {
    local name=$1 runs=$2 warm=$3 n=0 f; shift 3
    for f in "$W/$name".*.json; do [ -e "$f" ] && n=$((n + 1)); done
    hyperfine -N --style none --warmup "$warm" --runs "$runs" --export-json "$W/$name.$n.json" "$@" >"$W/$name.$n.txt" 2>&1 \
        || { cat "$W/$name.$n.txt" >&2; echo "bench: hyperfine $name failed" >&2; exit 1; }
    "$PY" -c 'import json,sys; print("\n".join(str(t) for t in json.load(open(sys.argv[1]))["results"][0]["times"]))' "$W/$name.$n.json" >>"$W/$name.times"
}
med() { # NAME -> median of all its pooled times, in ms
    median <"$W/$1.times" | awk '{ printf "%.1f", $1 * 1000 }'
}
per_round() { echo $(( ($1 + ROUNDS - 1) / ROUNDS )); }
# spawn [PREFIX COUNT] -> starts rvirtd; sets $daemon, $T (ms until the wanted answer) and
# $TA (ms until the socket first accepted a connection)
spawn() {
    local out
    out=$("$PY" "$HERE/spawn_rvirtd.py" "$BIN" "$root" "$root/rvirtd.log" "$@") || exit 1
    read -r T daemon TA <<<"$out"
}
restart() { stop_daemon; spawn "$@"; }
rss() { awk '/^VmRSS/ { print $2 }' "/proc/$daemon/status"; }
domxml() { # NAME -> the bench domain: KVM, SeaBIOS, no disk, 128 MiB
    cat <<EOF
<domain type='kvm'>
  <name>$1</name>
  <memory unit='MiB'>128</memory>
  <vcpu>1</vcpu>
  <os><type machine='pc'>hvm</type></os>
</domain>
EOF
}
say() { printf '  %-62s %s\n' "$1" "$2" >&2; }

echo "bench: root $root, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), binaries from $BIN" >&2

# ---- 0 defined: daemon start, RSS idle, client baseline ------------------------------
spawn; first="$T (socket $TA)"   # a fresh root: includes the one-time QEMU capability probe
say "first start of the fresh root -> first list --all (ms)" "$first"
s0= a0=
for _ in $(seq 1 "$RESTARTS"); do restart; s0="$s0 $T"; a0="$a0 $TA"; done
start0=$(median <<<"$s0")
say "daemon start -> first list --all, 0 defined (ms)" "$s0 -> $start0"
sleep 2
rss_idle=$(rss)
say "RSS idle (kB)" "$rss_idle"
# ---- floor (bare QEMU with rvirt's argv), client baseline, start/destroy, define+undefine
domxml bench-start >"$W/bench-start.xml"
domxml bench-cycle >"$W/bench-cycle.xml"
V define "$W/bench-start.xml" >/dev/null
V domxml-to-native qemu-argv "$W/bench-start.xml" >"$W/native.txt"
"$PY" "$HERE/qmp_floor.py" --prepare "$W/native.txt" "$W/qemu-argv.json" >"$W/qemu-argv.txt"
r=$(per_round "$RUNS"); rs=$(per_round "$START_RUNS")
for round in $(seq 1 "$ROUNDS"); do
    hf version "$r" 2 "$VC version"
    hf floor "$r" 2 "$PY $HERE/qmp_floor.py $W/qemu-argv.json"
    hf python "$r" 2 "$PY $HERE/qmp_floor.py --imports-only $W/qemu-argv.json"
    hf start "$rs" 1 --prepare "sh -c '$VC destroy bench-start >/dev/null 2>&1; true'" "$VC start bench-start"
    hf destroy "$rs" 1 --prepare "sh -c '$VC start bench-start >/dev/null 2>&1; true'" "$VC destroy bench-start"
    hf defundef "$r" 2 "sh -c '$VC define $W/bench-cycle.xml >/dev/null && $VC undefine bench-cycle >/dev/null'"
    hf defundef1 "$r" 2 "$VC 'define $W/bench-cycle.xml; undefine bench-cycle'"
    say "round $round of $ROUNDS: version floor python start destroy defundef defundef1" "done"
done
V undefine bench-start >/dev/null
ver=$(med version); floor_py=$(med floor); py=$(med python)
floor=$(awk -v a="$floor_py" -v b="$py" 'BEGIN { printf "%.1f", a - b }')
vstart=$(med start); vdestroy=$(med destroy); defundef=$(med defundef); defundef1=$(med defundef1)
say "virsh version (ms)" "$ver"
say "qmp_floor.py / python alone / floor (ms)" "$floor_py / $py / $floor"
say "virsh start / destroy (ms)" "$vstart / $vdestroy"
say "define+undefine, 2 virsh processes / one virsh (ms)" "$defundef / $defundef1"

# ---- reconnect with 5 running --------------------------------------------------------
for i in $(seq 1 $N_RUN); do
    domxml "bench-run-$i" >"$W/bench-run-$i.xml"
    V define "$W/bench-run-$i.xml" >/dev/null
    V start "bench-run-$i" >/dev/null
done
sleep 2
rss_run=$(rss)
pids_before=$(bench_qemus | sort | tr '\n' ' ')
r5=
a5=
for _ in $(seq 1 "$RESTARTS"); do restart bench-run- $N_RUN; r5="$r5 $T"; a5="$a5 $TA"; done
reconnect=$(median <<<"$r5")
pids_after=$(bench_qemus | sort | tr '\n' ' ')
say "RSS with $N_RUN running (kB)" "$rss_run"
say "reconnect, $N_RUN running (ms)" "$r5 -> $reconnect"
survived=yes
[ "$pids_before" = "$pids_after" ] || { survived="NO (QEMU pids before: $pids_before after: $pids_after)"; }
say "QEMUs survived the restarts with the same pids" "$survived"
for i in $(seq 1 $N_RUN); do V destroy "bench-run-$i" >/dev/null; V undefine "bench-run-$i" >/dev/null; done

# ---- N_BULK defined ------------------------------------------------------------------
mkdir -p "$W/bulk"
: >"$W/define.cmds"; : >"$W/undefine.cmds"
for i in $(seq -f '%04g' 1 "$N_BULK"); do
    domxml "bench-bulk-$i" >"$W/bulk/$i.xml"
    echo "define $W/bulk/$i.xml" >>"$W/define.cmds"
    echo "undefine bench-bulk-$i" >>"$W/undefine.cmds"
done
t0=$EPOCHREALTIME
V <"$W/define.cmds" >/dev/null
t_define=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
n=$(V list --all --name | grep -c '^bench-bulk-' || true)
[ "$n" -eq "$N_BULK" ] || { echo "bench: $n of $N_BULK defined" >&2; exit 1; }
say "define $N_BULK through one virsh session (ms)" "$t_define"
sleep 2
rss_bulk=$(rss)
say "RSS with $N_BULK defined into the running daemon (kB)" "$rss_bulk"
for round in $(seq 1 "$ROUNDS"); do
    hf version1000 "$r" 2 "$VC version"
    hf list "$r" 2 "$VC list --all"
    hf listname "$r" 2 "$VC list --all --name"
done
ver1000=$(med version1000); list=$(med list); listname=$(med listname)
say "virsh version / list --all / list --all --name, $N_BULK defined (ms)" "$ver1000 / $list / $listname"
sb=
ab=
for _ in $(seq 1 "$RESTARTS"); do restart; sb="$sb $T"; ab="$ab $TA"; done
startbulk=$(median <<<"$sb")
say "daemon start -> first list --all, $N_BULK defined (ms)" "$sb -> $startbulk"
sleep 2
rss_bulk_fresh=$(rss)
say "RSS, fresh daemon with $N_BULK defined (kB)" "$rss_bulk_fresh"
t0=$EPOCHREALTIME
V <"$W/undefine.cmds" >/dev/null
t_undefine=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
say "undefine $N_BULK through one virsh session (ms)" "$t_undefine"

# ---- the table -----------------------------------------------------------------------
met() { awk -v v="$1" -v t="$2" 'BEGIN { print (v <= t) ? "yes" : "NO" }'; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%+.1f", a - b }'; }
row() { printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$@"; }
tstart=$(awk -v f="$floor" 'BEGIN { printf "%.1f", f + 25 }')
echo
echo "rvirt bench $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), nice $(nice) ($BIN); medians"
echo "$(qemu-system-x86_64 --version | head -n1); virsh $(virsh --version) (libvirt-clients $(dpkg-query -W -f='${Version}' libvirt-clients 2>/dev/null || echo '?'))"
echo "(every virsh figure is a whole virsh process: it includes virsh's own start-up + connection, the 'virsh version' floor)"
echo
row "what" "rvirt (median)" "floor (same run)" "rvirt − floor" "target" "libvirt 9.0" "met?"
row "---" "---:" "---:" "---:" "---:" "---:" "---"
row "\`virsh start\` (kvm, SeaBIOS, no disk, 128 MiB)" "$vstart ms" "$floor ms bare QEMU -S → QMP" "$(sub "$vstart" "$floor") ms" "≤ $tstart ms (floor + 25)" "~350 ms" "$(met "$vstart" "$tstart")"
row "\`virsh destroy\`" "$vdestroy ms" "$ver ms virsh version" "$(sub "$vdestroy" "$ver") ms" "≤ 40 ms" "~225 ms (1636 w/o reaper)" "$(met "$vdestroy" 40)"
row "define + undefine, 2 virsh processes" "$defundef ms" "$ver ms virsh version" "$(sub "$defundef" "$ver") ms" "≤ 18 ms" "~30 ms" "$(met "$defundef" 18)"
row "define + undefine, one virsh (\`define f; undefine x\`)" "$defundef1 ms" "$ver ms virsh version" "$(sub "$defundef1" "$ver") ms" "≤ 18 ms" "–" "$(met "$defundef1" 18)"
row "\`virsh list --all\`, $N_BULK defined" "$list ms" "$ver1000 ms virsh version" "$(sub "$list" "$ver1000") ms" "≤ 25 ms" "~120 ms" "$(met "$list" 25)"
row "daemon start → first \`list --all\`, $N_BULK defined" "$startbulk ms" "$start0 ms, 0 defined" "$(sub "$startbulk" "$start0") ms" "≤ 100 ms" "~2 s" "$(met "$startbulk" 100)"
row "reconnect: restart → \`list --state-running\` shows $N_RUN" "$reconnect ms" "$start0 ms, 0 defined" "$(sub "$reconnect" "$start0") ms" "≤ 30 ms" "~115 ms" "$(met "$reconnect" 30)"
row "daemon RSS idle" "$rss_idle kB" "–" "–" "≤ 6 MiB (6144 kB)" "28160 kB" "$(met "$rss_idle" 6144)"
row "daemon RSS, $N_BULK defined" "$rss_bulk kB" "–" "–" "≤ 12 MiB (12288 kB)" "36920 kB" "$(met "$rss_bulk" 12288)"
echo
echo "floor parts: qmp_floor.py $floor_py ms − python start-up + imports $py ms = $floor ms; virsh version $ver ms ($ver1000 ms alongside the list runs)"
echo "restarts (ms, exec of rvirtd → wanted virsh answer; in brackets → socket accepts):"
echo "  0 defined [$s0 ] [$a0 ]; the very first start of the fresh root (not counted): $first"
echo "  $N_BULK defined [$sb ] [$ab ]"
echo "  $N_RUN running [$r5 ] [$a5 ]; QEMUs kept their pids over $RESTARTS restarts: $survived"
echo "extra: list --all --name with $N_BULK: $listname ms; RSS fresh daemon with $N_BULK: $rss_bulk_fresh kB, with $N_RUN running: $rss_run kB"
echo "       define $N_BULK in one virsh session: $t_define ms, undefine them: $t_undefine ms"
