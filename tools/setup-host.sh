#!/usr/bin/env bash
# Prepares this host for rvirt: the packages QEMU and the tests need, the QEMU
# account (rvirt-qemu:rvirt-qemu, plus the kvm group), and /dev/kvm as udev would
# leave it (root:kvm 0660). Idempotent; needs root.
#
# QEMU: a host that already has a consistent QEMU (qemu-system-x86, -common and
# qemu-utils at one version: 7.2, 8.x, 10.x) keeps it. Otherwise the system
# emulator is installed at the version of the qemu-utils already there (a machine
# may arrive with a backports qemu-utils and no backports source), from the suite
# that has that version; bookworm-backports is added for that in a file of our
# own under /etc/apt/sources.list.d/, never by editing the host's own sources.
# The libvirt clients (virsh, python3-libvirt, virt-install) come from the same
# suite as QEMU, so a QEMU 10 host tests against libvirt 11 clients.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host.sh: must run as root (it installs packages and creates the QEMU account)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
QEMU_PKGS=(qemu-system-x86 qemu-system-common qemu-utils)
CLIENT_PKGS=(libvirt-clients python3-libvirt virtinst)
OTHER_PKGS=(busybox-static xz-utils cpio python3 iproute2 strace hyperfine util-linux procps
            golang-go golang-github-digitalocean-go-libvirt-dev ovmf swtpm swtpm-tools)
SOURCES_FILE=/etc/apt/sources.list.d/rvirt-backports.sources
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
backports="${codename}-backports"

installed_version() { # prints the installed version of $1, or nothing
    dpkg-query -W -f='${db:Status-Status} ${Version}\n' "$1" 2>/dev/null |
        awk '$1 == "installed" { print $2 }' || true
}

# Whether suite $2 offers package $1.
suite_has() {
    apt-cache madison "$1" | grep -q " $2/"
}

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq
        apt_updated=1
    fi
}

# The suite (bookworm, bookworm-backports, …) apt would fetch version $2 of $1 from.
suite_of() {
    apt-cache policy "$1" 2>/dev/null | awk -v v="$2" '
        $1 == "***" { $1 = "" ; sub(/^ /, "") }
        $1 == v { found = 1; next }
        found && /^ +[0-9]+ / { if ($2 != "/var/lib/dpkg/status") { split($3, s, "/"); print s[1]; exit } }
        found && !/^ +[0-9]+ / { found = 0 }'
}

# bookworm-backports in our own sources file, on the same Debian mirror the host
# already uses for its release (read from its own sources, so nothing is guessed).
add_backports() {
    [ -n "$codename" ] || { echo "setup-host: no VERSION_CODENAME in /etc/os-release" >&2; exit 1; }
    local uri
    uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
        awk -v c="$codename" '$2 == c { print $1; exit }')
    if [ -z "$uri" ]; then
        echo "setup-host: no configured apt source serves '$codename'; cannot add $backports" >&2
        exit 1
    fi
    local want
    want=$(printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "${uri%/}" "$backports" "$KEYRING")
    if [ ! -f "$SOURCES_FILE" ] || [ "$(grep -v '^#' "$SOURCES_FILE")" != "$want" ]; then
        echo "setup-host: adding $backports ($SOURCES_FILE)"
        printf '# Added by rvirt tools/setup-host.sh: QEMU and libvirt clients from %s.\n%s\n' \
            "$backports" "$want" >"$SOURCES_FILE"
        apt_updated=0
    fi
    apt_update
}

utils_ver=$(installed_version qemu-utils)
sys_ver=$(installed_version qemu-system-x86)
common_ver=$(installed_version qemu-system-common)

install_args=()
if [ -n "$sys_ver" ] && [ "$sys_ver" = "$common_ver" ] && [ "$sys_ver" = "$utils_ver" ]; then
    qemu_ver=$sys_ver
    qemu_action="kept"
else
    [ "${RVIRT_FORCE_APT:-0}" = 1 ] && apt_update
    # The version to settle on: the qemu-utils already here, else what apt offers.
    qemu_ver=${utils_ver:-${sys_ver:-}}
    if [ -z "$qemu_ver" ]; then
        apt_update
        qemu_ver=$(apt-cache policy qemu-system-x86 | awk '$1 == "Candidate:" { print $2 }')
    fi
    suite=$(suite_of qemu-system-x86 "$qemu_ver")
    if [ -z "$suite" ]; then
        apt_update
        suite=$(suite_of qemu-system-x86 "$qemu_ver")
    fi
    if [ -z "$suite" ] && [[ "$qemu_ver" == *bpo* ]]; then
        add_backports
        suite=$(suite_of qemu-system-x86 "$qemu_ver")
    fi
    if [ -z "$suite" ]; then
        echo "setup-host: no apt source has qemu-system-x86 $qemu_ver (to match the installed" \
            "qemu-utils); install a consistent QEMU by hand" >&2
        exit 1
    fi
    for p in "${QEMU_PKGS[@]}"; do install_args+=("$p=$qemu_ver"); done
    install_args+=(-t "$suite")
    qemu_action="installed from $suite"
fi

# The suite the QEMU in use came from decides the clients' suite: backports QEMU,
# backports clients (when that suite has them), else the release's.
client_suite=""
if [[ "$qemu_ver" == *bpo* ]]; then
    add_backports
    if suite_has libvirt-clients "$backports"; then
        client_suite=$backports
    fi
fi

missing=()
for p in "${CLIENT_PKGS[@]}" "${OTHER_PKGS[@]}"; do
    [ -n "$(installed_version "$p")" ] || missing+=("$p")
done
if [ -n "$client_suite" ]; then
    # Clients from backports: upgrade the ones that suite has and that came from the release.
    for p in "${CLIENT_PKGS[@]}"; do
        v=$(installed_version "$p")
        if [ -n "$v" ] && [ "$(suite_of "$p" "$v")" != "$client_suite" ] &&
            suite_has "$p" "$client_suite"; then
            missing+=("$p")
        fi
    done
fi

if [ "${#install_args[@]}" -gt 0 ] || [ "${#missing[@]}" -gt 0 ] || [ "${RVIRT_FORCE_APT:-0}" = 1 ]; then
    apt_update
    echo "setup-host: installing ${install_args[*]:-} ${missing[*]:-}"
    if [ "${#install_args[@]}" -gt 0 ]; then
        apt-get install -y -qq --no-install-recommends "${install_args[@]}" >/dev/null
    fi
    client_args=("${CLIENT_PKGS[@]}")
    [ -n "$client_suite" ] && client_args+=(-t "$client_suite")
    apt-get install -y -qq --no-install-recommends "${client_args[@]}" >/dev/null
    apt-get install -y -qq --no-install-recommends "${OTHER_PKGS[@]}" >/dev/null
fi

# The kvm group exists on hosts with udev; create it where there is none.
getent group kvm >/dev/null || groupadd --system kvm
getent group rvirt-qemu >/dev/null || groupadd --system rvirt-qemu
if ! getent passwd rvirt-qemu >/dev/null; then
    useradd --system --gid rvirt-qemu --groups kvm --home-dir /var/lib/rvirt \
        --no-create-home --shell /usr/sbin/nologin --comment "rvirt QEMU" rvirt-qemu
else
    id -nG rvirt-qemu | tr ' ' '\n' | grep -qx kvm || usermod -a -G kvm rvirt-qemu
fi

# Without udev /dev/kvm stays root:root 0600; QEMU's private /dev copies the host
# node's owner and mode, so give it what udev's rule gives it.
if [ -c /dev/kvm ]; then
    chgrp kvm /dev/kvm
    chmod 0660 /dev/kvm
fi

echo "setup-host: QEMU $(qemu-system-x86_64 --version | head -n1 | sed 's/^QEMU emulator version //') ($qemu_action);" \
    "virsh $(virsh --version) ($(installed_version libvirt-clients));" \
    "virt-install $(virt-install --version 2>/dev/null || echo absent)"
echo "setup-host: ok (qemu account: $(id rvirt-qemu); /dev/kvm: $(stat -c '%U:%G %a' /dev/kvm 2>/dev/null || echo absent))"
