#!/usr/bin/env bash
# with-bookworm-qemu.sh CMD [ARGS...] - run CMD as on a host that has bookworm's own
# QEMU 7.2 and libvirt 9.0 clients, whatever this host has installed.
#
# The packages (qemu-system-x86, -common, -data, qemu-utils at bookworm's version;
# libvirt-clients and libvirt0 9.0) are fetched with `apt-get download` into
# $RVIRT_OLD_HOST (default /var/cache/rvirt/bookworm-host), unpacked there, and bind-
# mounted over the installed files in a private mount namespace that only CMD sees:
# the emulator, qemu-img/-nbd/-io, QEMU's module and data directories and virsh; the
# libvirt 9.0 client libraries (and libyajl, which they need and libvirt 11 does not)
# come first on LD_LIBRARY_PATH. Nothing installed changes. Needs root.
#
#   tools/with-bookworm-qemu.sh make test-only     # the test suite against QEMU 7.2
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "with-bookworm-qemu: must run as root" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }

DIR=${RVIRT_OLD_HOST:-/var/cache/rvirt/bookworm-host}
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ "$codename" = bookworm ] || { echo "with-bookworm-qemu: needs bookworm's archive (this is '$codename')" >&2; exit 1; }

# The newest version the release itself (not backports) has of a package.
release_version() {
    apt-cache madison "$1" | awk -v s=" $codename/" '$0 ~ s || $0 ~ " '"$codename"'-security/" { print $3; exit }'
}

if [ ! -f "$DIR/.done" ]; then
    qemu_ver=$(release_version qemu-system-x86)
    virt_ver=$(release_version libvirt-clients)
    data_ver=$(release_version qemu-system-data)
    rm -rf "$DIR/debs" "$DIR/root"
    mkdir -p "$DIR/debs" "$DIR/root"
    [ -n "$qemu_ver" ] && [ -n "$virt_ver" ] && [ -n "$data_ver" ] ||
        { echo "with-bookworm-qemu: apt has no $codename QEMU/libvirt (run apt-get update)" >&2; exit 1; }
    (cd "$DIR/debs" && apt-get download -q \
        "qemu-system-x86=$qemu_ver" "qemu-system-common=$qemu_ver" "qemu-utils=$qemu_ver" \
        "qemu-system-data=$data_ver" "libvirt-clients=$virt_ver" "libvirt0=$virt_ver" \
        "libyajl2=$(release_version libyajl2)" 2>&1 |
        grep -v '^W: Download is performed unsandboxed' || true)
    for deb in "$DIR"/debs/*.deb; do dpkg-deb -x "$deb" "$DIR/root"; done
    echo "qemu $qemu_ver, libvirt $virt_ver" >"$DIR/.done"
fi

lib=/usr/lib/x86_64-linux-gnu
# Each pair: the file or directory from the old packages, what it covers.
binds=(
    "$DIR/root/usr/bin/qemu-system-x86_64" /usr/bin/qemu-system-x86_64
    "$DIR/root/usr/bin/qemu-img" /usr/bin/qemu-img
    "$DIR/root/usr/bin/qemu-nbd" /usr/bin/qemu-nbd
    "$DIR/root/usr/bin/qemu-io" /usr/bin/qemu-io
    "$DIR/root$lib/qemu" "$lib/qemu"
    "$DIR/root/usr/share/qemu" /usr/share/qemu
    "$DIR/root/usr/bin/virsh" /usr/bin/virsh
)
script='set -e; mount --make-rprivate /'
for ((i = 0; i < ${#binds[@]}; i += 2)); do
    [ -e "${binds[i]}" ] && [ -e "${binds[i+1]}" ] ||
        { echo "with-bookworm-qemu: missing ${binds[i]} or ${binds[i+1]}" >&2; exit 1; }
    script+="; mount --bind $(printf %q "${binds[i]}") $(printf %q "${binds[i+1]}")"
done
script+='; echo "with-bookworm-qemu: $(qemu-system-x86_64 --version | head -n1), virsh $(virsh --version)" >&2; exec "$@"'
export LD_LIBRARY_PATH="$DIR/root$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
exec unshare --mount -- bash -c "$script" with-bookworm-qemu "$@"
