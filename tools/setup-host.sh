#!/usr/bin/env bash
# Prepares this host for rvirt: the packages QEMU and the tests need, the QEMU
# account (rvirt-qemu:rvirt-qemu, plus the kvm group), and /dev/kvm as udev would
# leave it (root:kvm 0660). Idempotent; needs root.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup-host.sh: must run as root (it installs packages and creates the QEMU account)" >&2
    exit 1
fi

PACKAGES=(qemu-system-x86 qemu-utils busybox-static xz-utils cpio libvirt-clients python3-libvirt
          python3 iproute2 strace hyperfine util-linux procps)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ] || [ "${RVIRT_FORCE_APT:-0}" = 1 ]; then
    echo "setup-host: installing ${missing[*]:-(forced)}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
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

echo "setup-host: ok (qemu account: $(id rvirt-qemu); /dev/kvm: $(stat -c '%U:%G %a' /dev/kvm 2>/dev/null || echo absent))"
