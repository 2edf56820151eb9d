#!/usr/bin/env bash
# build-test-guest.sh [OUTDIR] - build the tiny x86_64 guest used by rvirt's end-to-end tests.
#
# Everything comes from Debian packages: a stock kernel (following the meta-package
# linux-image-amd64) and busybox-static.  Neither is installed; both are fetched with
# `apt-get download` into OUTDIR/.debs and unpacked in a scratch directory.
#
# Output (OUTDIR defaults to <repo>/.guest):
#   vmlinuz        the kernel's bzImage, as shipped
#   vmlinux        the ELF inside the bzImage (has a PVH note; `-kernel vmlinux` skips the
#                  in-guest decompressor, which halves a TCG boot)
#   initramfs.gz   busybox, a few modules, /init and an acpid power-button handler
#   disk.raw       1 MiB of zeros
#   disk.qcow2     1 MiB qcow2 image, only when qemu-img is available
#   .stamp         what the files were built from; a re-run with a matching stamp and
#                  intact files only verifies
#
# Serial console protocol of the guest (every line ends with its marker / fields):
#   GUEST-BLOCK: <dev> sectors=<n> serial=<s>    one per block device
#   GUEST-9P: <tag> mounted on /mnt/<tag>        one per virtio-9p share
#   GUEST-NET: <ifname> <mac>                    one per network interface
#   GUEST-READY                                  /init is done, power button is armed
#   GUEST-POWEROFF                               the ACPI power button was pressed
#
# Environment:
#   KERNEL_PKG       kernel package or meta-package to follow (default linux-image-amd64)
#   KERNEL_VERSION   pin KERNEL_PKG to this version (default: apt's candidate)
#   GUEST_VMLINUX    1 (default) builds vmlinux and fails if it cannot; 0 skips it
#   GUEST_EXTRA_MODULES  more module names to put into the initramfs and load at boot
#   SOURCE_DATE_EPOCH    mtime for files in the initramfs (default 0)
#
# Pin example: KERNEL_PKG=linux-image-6.1.0-56-amd64 KERNEL_VERSION=6.1.192-2
set -euo pipefail

PROG=build-test-guest
die() {
    echo "$PROG: error: $*" >&2
    exit 1
}
warn() { echo "$PROG: warning: $*" >&2; }
note() { echo "$PROG: $*" >&2; }

# need TOOL PACKAGE: fail with the Debian package that provides a missing tool.
need() {
    command -v "$1" >/dev/null 2>&1 ||
        die "required tool '$1' not found; install the Debian package '$2' (apt-get install $2)"
}

START_NS=$(date +%s%N)
elapsed() { echo "$(((($(date +%s%N) - START_NS) / 1000000)))ms"; }

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
OUT_ARG=${1:-$SCRIPT_DIR/../.guest}
mkdir -p "$OUT_ARG" || die "cannot create output directory '$OUT_ARG'"
OUT=$(cd "$OUT_ARG" && pwd)

KERNEL_PKG=${KERNEL_PKG:-linux-image-amd64}
KERNEL_VERSION=${KERNEL_VERSION:-}
BUSYBOX_PKG=busybox-static
GUEST_VMLINUX=${GUEST_VMLINUX:-1}
GUEST_EXTRA_MODULES=${GUEST_EXTRA_MODULES:-}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
STAMP=$OUT/.stamp
DISK_BYTES=1048576

# Modules the guest cannot work without (power button, virtio-blk) and nice-to-haves
# (virtio-net, 9p: the cloud kernels have no 9p) that are skipped with a warning.
# Dependencies are added automatically.
REQUIRED_MODULES="button evdev virtio_pci virtio_blk $GUEST_EXTRA_MODULES"
OPTIONAL_MODULES="virtio_net 9pnet_virtio 9p"

for t in apt-cache:apt apt-get:apt dpkg-deb:dpkg gzip:gzip sha256sum:coreutils \
    od:coreutils dd:coreutils truncate:coreutils stat:coreutils find:findutils \
    sort:coreutils tr:coreutils sed:sed; do
    need "${t%%:*}" "${t#*:}"
done

# One builder at a time per OUTDIR.  (testkit holds OUTDIR/.lock around calling us, so
# this is a different file on purpose.)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$OUT/.build.lock"
    flock 9
fi

# ---------------------------------------------------------------------------------------
# Package resolution

# Debian's container images switch apt's binary package cache off, which makes every
# apt-cache call parse all lists (~1 s).  Keep a private cache next to the .debs; apt
# rebuilds it by itself whenever the lists change.
mkdir -p "$OUT/.debs"
APT_CACHE_OPTS=(-o "Dir::Cache::pkgcache=$OUT/.debs/pkgcache.bin")

# apt_record SPEC: print the apt-cache record for SPEC (pkg or pkg=version).
APT_UPDATED=0
apt_record() {
    local rec
    rec=$(apt-cache "${APT_CACHE_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null) && [[ -n $rec ]] && {
        printf '%s\n' "$rec"
        return 0
    }
    # Lists may be missing on a fresh machine; refresh once if we are allowed to.
    if [[ $APT_UPDATED == 0 && $EUID == 0 ]]; then
        APT_UPDATED=1
        note "apt-cache knows nothing about '$1'; running apt-get update"
        apt-get update -qq >&2 || warn "apt-get update failed"
        rec=$(apt-cache "${APT_CACHE_OPTS[@]}" show --no-all-versions "$1" 2>/dev/null) && [[ -n $rec ]] && {
            printf '%s\n' "$rec"
            return 0
        }
    fi
    return 1
}

# field NAME: read a field of the first record on stdin.
field() { sed -n "s/^$1: //p" | head -n1; }

# resolve_packages: sets KPKG KVER BBVER, following meta-packages (at most 4 hops).
# Returns 1 (with a message in RESOLVE_ERR) instead of exiting, so a cached build can
# still be used when apt has no answer.
resolve_packages() {
    local pkg=$KERNEL_PKG ver=$KERNEL_VERSION rec dep hop
    for hop in 1 2 3 4 5; do
        if ! rec=$(apt_record "$pkg${ver:+=$ver}"); then
            RESOLVE_ERR="package '$pkg${ver:+=$ver}' not found by apt-cache (run apt-get update as root, or check KERNEL_PKG/KERNEL_VERSION)"
            return 1
        fi
        ver=$(field Version <<<"$rec")
        # A meta-package depends on the real image: "linux-image-6.1.0-56-amd64 (= 6.1.192-2)".
        dep=$(field Depends <<<"$rec" | tr ',|' '\n\n' | sed 's/^ *//' | grep -E '^linux-image-' | head -n1 || true)
        if [[ -z $dep ]]; then
            KPKG=$pkg
            KVER=$ver
            break
        fi
        [[ $hop == 5 ]] && {
            RESOLVE_ERR="too many meta-package hops from '$KERNEL_PKG'"
            return 1
        }
        pkg=${dep%% *}
        if [[ $dep =~ \(=\ *([^\)]+)\) ]]; then ver=${BASH_REMATCH[1]}; else ver=""; fi
    done
    if ! rec=$(apt_record "$BUSYBOX_PKG"); then
        RESOLVE_ERR="package '$BUSYBOX_PKG' not found by apt-cache (run apt-get update as root)"
        return 1
    fi
    BBVER=$(field Version <<<"$rec")
    return 0
}

# ---------------------------------------------------------------------------------------
# Stamp and verification

stamp_get() { if [[ -f $STAMP ]]; then sed -n "s/^$1=//p" "$STAMP" | head -n1; fi; }

file_size() { stat -c %s "$1" 2>/dev/null || echo 0; }

is_elf() { [[ $(od -An -tx1 -N4 "$1" 2>/dev/null | tr -d ' \n') == 7f454c46 ]]; }

# verify: the files of a finished build are present and sane.  Prints the first problem.
verify() {
    local f
    [[ -f $STAMP ]] || {
        echo "no stamp file"
        return 1
    }
    for f in vmlinuz initramfs.gz disk.raw; do
        [[ -s $OUT/$f ]] || {
            echo "$f is missing"
            return 1
        }
    done
    if [[ $(stamp_get vmlinux) == 1 ]]; then
        [[ -s $OUT/vmlinux ]] && is_elf "$OUT/vmlinux" || {
            echo "vmlinux is missing or not an ELF file"
            return 1
        }
    fi
    [[ $(dd if="$OUT/vmlinuz" bs=1 skip=514 count=4 status=none) == HdrS ]] || {
        echo "vmlinuz is not a bzImage"
        return 1
    }
    gzip -t "$OUT/initramfs.gz" 2>/dev/null || {
        echo "initramfs.gz is corrupt"
        return 1
    }
    [[ $(file_size "$OUT/disk.raw") == "$DISK_BYTES" ]] || {
        echo "disk.raw is not $DISK_BYTES bytes"
        return 1
    }
    return 0
}

# make_qcow2 DIR: create DIR/disk.qcow2 if qemu-img exists.
make_qcow2() {
    if command -v qemu-img >/dev/null 2>&1; then
        rm -f "$1/disk.qcow2"
        qemu-img create -q -f qcow2 "$1/disk.qcow2" "$DISK_BYTES" ||
            die "qemu-img create failed for $1/disk.qcow2"
    fi
}

summary() {
    local how=$1 f
    echo "test guest in $OUT: $how in $(elapsed)"
    echo "  kernel    $(stamp_get kernel_package) $(stamp_get kernel_version) (release $(stamp_get kernel_release))"
    echo "  busybox   $BUSYBOX_PKG $(stamp_get busybox_version)"
    echo "  modules   $(stamp_get modules)"
    for f in vmlinuz vmlinux initramfs.gz disk.raw disk.qcow2; do
        if [[ -f $OUT/$f ]]; then
            printf '  %-13s %11s bytes\n' "$f" "$(file_size "$OUT/$f")"
        elif [[ $f == disk.qcow2 ]]; then
            echo "  disk.qcow2    not built: qemu-img missing (apt-get install qemu-utils)"
        else
            echo "  $f  not built"
        fi
    done
}

BUILDER_HASH=$(sha256sum "$SCRIPT_PATH" | cut -c1-16)
REQUEST="$KERNEL_PKG${KERNEL_VERSION:+=$KERNEL_VERSION}"

RESOLVE_ERR=""
if ! resolve_packages; then
    # Offline or no apt lists: a complete build made for the same request is still fine.
    if [[ $(stamp_get kernel_request) == "$REQUEST" && $(stamp_get builder) == "$BUILDER_HASH" ]] &&
        problem=$(verify); then
        warn "$RESOLVE_ERR; using the cached build"
        summary "cached (not re-resolved), verified"
        exit 0
    fi
    die "$RESOLVE_ERR"
fi

# The stamp keys that decide whether the cached build is still current.
declare -A WANT=(
    [kernel_request]=$REQUEST
    [kernel_package]=$KPKG
    [kernel_version]=$KVER
    [busybox_version]=$BBVER
    [vmlinux]=$GUEST_VMLINUX
    [extra_modules]=$GUEST_EXTRA_MODULES
    [builder]=$BUILDER_HASH
)

reason=""
for k in "${!WANT[@]}"; do
    if [[ $(stamp_get "$k") != "${WANT[$k]}" ]]; then
        reason="$k changed ('$(stamp_get "$k")' -> '${WANT[$k]}')"
        break
    fi
done
[[ -f $STAMP ]] || reason="no previous build"
if [[ -z $reason ]]; then
    if problem=$(verify); then
        # A cheap top-up: qemu-img may have been installed since the build.
        if [[ ! -f $OUT/disk.qcow2 ]] && command -v qemu-img >/dev/null 2>&1; then
            make_qcow2 "$OUT"
        fi
        summary "cached, verified"
        exit 0
    fi
    reason=$problem
fi
note "building ($reason)"

# ---------------------------------------------------------------------------------------
# Build

rm -f "$STAMP"
rm -rf "$OUT"/.work.* # left behind by a killed build (we hold the build lock)
WORK=$(mktemp -d "$OUT/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

DEBS=$OUT/.debs
mkdir -p "$DEBS"

# fetch PKG VERSION: print the path of the .deb in $DEBS, downloading it if needed.
fetch() {
    local pkg=$1 ver=$2 enc deb
    enc=${ver//:/%3a}
    deb=$(find "$DEBS" -maxdepth 1 -name "${pkg}_${enc}_*.deb" | head -n1)
    if [[ -n $deb ]] && dpkg-deb --info "$deb" >/dev/null 2>&1; then
        echo "$deb"
        return
    fi
    if [[ -n $deb ]]; then rm -f "$deb"; fi
    note "downloading $pkg=$ver"
    local -a opts=(-q)
    [[ $EUID == 0 ]] && opts+=(-o APT::Sandbox::User=root)
    (cd "$DEBS" && apt-get download "${opts[@]}" "$pkg=$ver" >&2) ||
        die "apt-get download $pkg=$ver failed (is the Debian mirror reachable?)"
    deb=$(find "$DEBS" -maxdepth 1 -name "${pkg}_${enc}_*.deb" | head -n1)
    [[ -n $deb ]] || die "apt-get download $pkg=$ver produced no .deb in $DEBS"
    echo "$deb"
}

KDEB=$(fetch "$KPKG" "$KVER")
BBDEB=$(fetch "$BUSYBOX_PKG" "$BBVER")
# Old kernels and busyboxes are large; keep only what this build uses.
for f in "$DEBS"/linux-image-*.deb "$DEBS"/"$BUSYBOX_PKG"_*.deb; do
    if [[ -e $f && $f != "$KDEB" && $f != "$BBDEB" ]]; then rm -f "$f"; fi
done

note "unpacking $(basename "$KDEB")"
dpkg-deb -x "$KDEB" "$WORK/kernel" || die "dpkg-deb -x $KDEB failed"
dpkg-deb -x "$BBDEB" "$WORK/busybox" || die "dpkg-deb -x $BBDEB failed"

BB=$WORK/busybox/bin/busybox
[[ -x $BB ]] || die "$BUSYBOX_PKG has no /bin/busybox"
"$BB" true 2>/dev/null || die "the busybox from $BUSYBOX_PKG does not run on this host"

shopt -s nullglob
kimages=("$WORK"/kernel/boot/vmlinuz-*)
shopt -u nullglob
[[ ${#kimages[@]} == 1 ]] || die "expected exactly one /boot/vmlinuz-* in $KPKG, found ${#kimages[@]}"
KIMAGE=${kimages[0]}
KREL=${KIMAGE##*/vmlinuz-}
MODDIR=""
for d in "$WORK/kernel/lib/modules/$KREL" "$WORK/kernel/usr/lib/modules/$KREL"; do
    [[ -d $d ]] && MODDIR=$d
done
[[ -n $MODDIR ]] || die "no modules directory for $KREL in $KPKG"

# ---- modules: index, then depth-first dependency resolution from modinfo depends= ----
declare -A MODPATH=() BUILTIN=() STATE=()
MODORDER=()
while IFS= read -r p; do
    n=${p##*/}
    n=${n%%.ko*}
    MODPATH[${n//-/_}]=$p
done < <(find "$MODDIR" -type f \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \))
if [[ -f $MODDIR/modules.builtin ]]; then
    while IFS= read -r p; do
        n=${p##*/}
        n=${n%%.ko*}
        BUILTIN[${n//-/_}]=1
    done <"$MODDIR/modules.builtin"
fi

STAGE=$WORK/root
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,run,tmp,mnt,root,var/log,lib/modules,etc/acpi/PWRF}

# unpack_module NAME SRC DEST: store an uncompressed .ko.
unpack_module() {
    case $2 in
    *.ko) cp "$2" "$3" ;;
    *.ko.xz)
        if command -v xz >/dev/null 2>&1; then xz -dc "$2" >"$3"; else "$BB" xz -dc "$2" >"$3"; fi
        ;;
    *.ko.zst)
        need zstd zstd
        zstd -dcq "$2" >"$3"
        ;;
    *.ko.gz) gzip -dc "$2" >"$3" ;;
    esac || die "cannot decompress module $1 ($2)"
}

# add_module NAME: add NAME after its dependencies.  Returns 1 if it does not exist.
add_module() {
    local name=${1//-/_} ko deps dep
    case ${STATE[$name]:-} in
    done) return 0 ;;
    active) die "module dependency cycle through $name" ;;
    esac
    if [[ -z ${MODPATH[$name]:-} ]]; then
        [[ -n ${BUILTIN[$name]:-} ]] && {
            STATE[$name]=done
            return 0
        }
        return 1
    fi
    STATE[$name]=active
    ko=$STAGE/lib/modules/$name.ko
    unpack_module "$name" "${MODPATH[$name]}" "$ko"
    # The .modinfo section is a list of NUL-terminated key=value strings.
    deps=$(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | head -n1)
    for dep in ${deps//,/ }; do
        add_module "$dep" || die "module $name depends on $dep, which $KPKG does not have"
    done
    STATE[$name]=done
    MODORDER+=("$name")
}

for m in $REQUIRED_MODULES; do
    add_module "$m" || die "required module '$m' is neither a module nor built into $KPKG"
done
for m in $OPTIONAL_MODULES; do
    add_module "$m" || warn "optional module '$m' is not available in $KPKG; skipped"
done
printf '%s\n' "${MODORDER[@]}" >"$STAGE/etc/modules.load"

# ---- busybox ----
cp "$BB" "$STAGE/bin/busybox"
while IFS= read -r applet; do
    [[ -z $applet || $applet == bin/busybox ]] && continue
    mkdir -p "$STAGE/$(dirname "$applet")"
    ln -sf /bin/busybox "$STAGE/$applet"
done < <("$BB" --list-full)
for a in sh acpid insmod poweroff mount cpio; do
    [[ -L $STAGE/bin/$a || -L $STAGE/sbin/$a || -L $STAGE/usr/bin/$a || -L $STAGE/usr/sbin/$a ]] ||
        die "busybox from $BUSYBOX_PKG lacks the '$a' applet"
done

# ---- /init ----
cat >"$STAGE/init" <<'EOF'
#!/bin/sh
# PID 1 of the rvirt test guest.  Everything it says goes to the serial console.
MARKER=GUEST-READY
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
# With `quiet`, SeaBIOS's last line has no newline: finish it.
echo

while read -r m; do
    [ -n "$m" ] || continue
    insmod "/lib/modules/$m.ko" || echo "guest: insmod $m failed"
done </etc/modules.load

# acpid stops at the first missing /dev/input/eventN, so wait for event0 (<= 2 s).
i=0
while [ ! -e /dev/input/event0 ] && [ $i -lt 20 ]; do usleep 100000; i=$((i + 1)); done
[ -e /dev/input/event0 ] || echo "guest: no /dev/input/event0, the power button will not work"

# acpid writes its pid file after opening the event devices; wait for it (<= 5 s) so that
# a power button press right after the marker is not lost.
acpid -d -p /run/acpid.pid &
i=0
while [ ! -s /run/acpid.pid ] && [ $i -lt 50 ]; do usleep 100000; i=$((i + 1)); done
[ -s /run/acpid.pid ] || echo "guest: acpid did not start"

for d in /sys/block/*; do
    [ -e "$d" ] || continue
    n=${d##*/}
    case $n in loop* | ram* | zram*) continue ;; esac
    echo "GUEST-BLOCK: $n sectors=$(cat "$d/size" 2>/dev/null) serial=$(cat "$d/serial" 2>/dev/null)"
done

for t in /sys/bus/virtio/drivers/9pnet_virtio/virtio*/mount_tag; do
    [ -e "$t" ] || continue
    tag=$(tr -d '\000' <"$t")
    mkdir -p "/mnt/$tag"
    if mount -t 9p -o trans=virtio,version=9p2000.L "$tag" "/mnt/$tag"; then
        echo "GUEST-9P: $tag mounted on /mnt/$tag"
    else
        echo "guest: mounting 9p tag $tag failed"
    fi
done

for n in /sys/class/net/*; do
    [ -e "$n" ] || continue
    [ "${n##*/}" = lo ] && continue
    echo "GUEST-NET: ${n##*/} $(cat "$n/address")"
done

echo "guest: kernel $(uname -r) up $(cut -d' ' -f1 /proc/uptime)s"
echo "$MARKER"

# `guest.shell` on the kernel command line: a debug shell on the console.
if grep -qw guest.shell /proc/cmdline; then
    (while :; do setsid cttyhack sh; done) &
fi

while :; do sleep 3600; done
EOF

# ---- power button handler: acpid maps KEY_POWER to PWRF/00000080 and execs the file ----
cat >"$STAGE/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
exec </dev/null >/dev/console 2>&1
echo GUEST-POWEROFF
sync
for m in $(awk '$3 == "9p" || $3 ~ /^ext[234]$/ || $3 == "vfat" { print $2 }' /proc/mounts | sort -r); do
    umount "$m" 2>/dev/null || mount -o remount,ro "$m" 2>/dev/null
done
# Plain poweroff would signal PID 1, which is a shell here and ignores it.
poweroff -f
EOF
chmod 0755 "$STAGE/init" "$STAGE/etc/acpi/PWRF/00000080"

# ---- pack the initramfs with busybox cpio (owner 0:0, fixed mtimes) ----
find "$STAGE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null) |
    gzip -9 -n >"$WORK/initramfs.gz" || die "packing the initramfs failed"

# ---- vmlinuz and vmlinux ----
cp "$KIMAGE" "$WORK/vmlinuz"

# extract_vmlinux BZIMAGE OUT: decompress the payload of a bzImage (boot protocol >= 2.08).
extract_vmlinux() {
    local img=$1 out=$2 sects poff plen start magic len
    local -a cmd
    [[ $(dd if="$img" bs=1 skip=514 count=4 status=none) == HdrS ]] || die "$img is not a bzImage"
    sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$img" | tr -d ' ')
    ((sects == 0)) && sects=4
    poff=$(od -An -tu4 -j $((0x248)) -N4 "$img" | tr -d ' ')
    plen=$(od -An -tu4 -j $((0x24c)) -N4 "$img" | tr -d ' ')
    start=$(((sects + 1) * 512 + poff))
    magic=$(od -An -tx1 -j "$start" -N6 "$img" | tr -d ' \n')
    # All formats but gzip have the decompressed size appended as 4 bytes: drop them.
    len=$((plen - 4))
    case $magic in
    fd377a585a00)
        need xz xz-utils
        cmd=(xz -dc --single-stream)
        ;;
    28b52ffd*)
        need zstd zstd
        cmd=(zstd -dcq)
        ;;
    02214c18*)
        need lz4 lz4
        cmd=(lz4 -dcq)
        ;;
    1f8b*)
        cmd=(gzip -dc)
        len=$plen
        ;;
    425a68*)
        need bzip2 bzip2
        cmd=(bzip2 -dc)
        ;;
    5d0000*)
        need xz xz-utils
        cmd=(xz -dc --format=lzma)
        ;;
    *) die "unknown bzImage payload compression (magic $magic) in $img" ;;
    esac
    dd if="$img" iflag=skip_bytes,count_bytes skip="$start" count="$len" bs=1M status=none |
        "${cmd[@]}" >"$out" 2>/dev/null || die "decompressing the bzImage payload with ${cmd[0]} failed"
    is_elf "$out" || die "the bzImage payload of $img is not an ELF file"
    if command -v readelf >/dev/null 2>&1 && ! readelf -n "$out" 2>/dev/null | grep -q '^ *Xen '; then
        warn "vmlinux has no Xen/PVH ELF note; QEMU cannot boot it with -kernel"
    fi
}

if [[ $GUEST_VMLINUX == 1 ]]; then
    note "extracting vmlinux"
    extract_vmlinux "$WORK/vmlinuz" "$WORK/vmlinux"
fi

# ---- disks ----
truncate -s "$DISK_BYTES" "$WORK/disk.raw"
make_qcow2 "$WORK"

# ---- install: move into place, stamp last ----
rm -f "$OUT/vmlinux" "$OUT/disk.qcow2"
for f in vmlinuz vmlinux initramfs.gz disk.raw disk.qcow2; do
    if [[ -f $WORK/$f ]]; then mv -f "$WORK/$f" "$OUT/$f"; fi
done
{
    for k in "${!WANT[@]}"; do echo "$k=${WANT[$k]}"; done | LC_ALL=C sort
    echo "kernel_release=$KREL"
    echo "modules=${MODORDER[*]}"
} >"$STAMP.tmp"
mv -f "$STAMP.tmp" "$STAMP"
problem=$(verify) || die "the fresh build does not verify: $problem"
summary "built"
