#!/usr/bin/env bash
# Fetches libvirt 11.3's source (Debian's bookworm-backports source package `libvirt`,
# version 11.3.x) into a cache directory, for the conformance test that runs rvirt
# against libvirt's own refused-domain corpus (tests/qemuxmlconfdata/*.err).
#
#   tools/libvirt-corpus.sh [DIR]     DIR: $RVIRT_LIBVIRT_SRC, else .cache/libvirt-src
#
# Prints the unpacked source tree's path. Idempotent: a tree already unpacked is reused
# without touching the network. The host's apt configuration is not changed: a private
# sources list (deb-src bookworm-backports, on the mirror the host already uses) and
# private lists/cache directories live in the cache directory. Fails loudly when it
# cannot: nothing is skipped silently.
set -euo pipefail

WANT_UPSTREAM=11.3
SUITE=bookworm-backports
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-${RVIRT_LIBVIRT_SRC:-$root/.cache/libvirt-src}}

die() {
    echo "libvirt-corpus: $*" >&2
    exit 1
}

# Several tests run this at once (nextest runs test binaries in parallel): one fetch
# at a time, the others wait for it and then find the finished tree.
mkdir -p "$dest" || die "cannot create the cache directory $dest"
exec 9>"$dest/.lock"
flock 9 || die "cannot lock $dest/.lock"

# awk reads its input to the end (no early `exit`): under `pipefail` a writer killed
# by SIGPIPE would end this script without a word.

# The tree is complete once the marker is there (written last, after unpacking).
marker=$dest/.rvirt-corpus-version
if [ -f "$marker" ] && [ -d "$dest/tree/tests/qemuxmlconfdata" ]; then
    echo "$dest/tree"
    exit 0
fi

for tool in apt-get dpkg-source; do
    command -v "$tool" >/dev/null || die "'$tool' is missing (dpkg-source is in dpkg-dev; tools/setup-host.sh installs it)"
done
[ -r "$KEYRING" ] || die "$KEYRING is missing (package debian-archive-keyring)"

# The Debian mirror the host already uses for its release (nothing guessed).
uri=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' 2>/dev/null |
    awk '!found && ($2 == "bookworm" || $2 == "bookworm-backports") { print $1; found = 1 }')
[ -n "$uri" ] || die "no configured apt source serves Debian bookworm; cannot find a mirror for $SUITE sources"

mkdir -p "$dest" || die "cannot create the cache directory $dest"
apt_dir=$dest/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/download"
printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "${uri%/}" "$SUITE" "$KEYRING" >"$apt_dir/libvirt-src.sources"
apt_opts=(
    -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$apt_dir/sources.d"
    -o "Dir::State::Lists=$apt_dir/lists"
    -o "Dir::Cache=$apt_dir"
    -o "Dir::Cache::archives=$apt_dir/archives"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
)
mkdir -p "$apt_dir/sources.d"
mv "$apt_dir/libvirt-src.sources" "$apt_dir/sources.d/libvirt-src.sources"

echo "libvirt-corpus: fetching the $SUITE source index from $uri" >&2
apt-get "${apt_opts[@]}" update -qq >&2 || die "apt-get update of $SUITE sources from $uri failed"

version=$(apt-cache "${apt_opts[@]}" showsrc libvirt 2>/dev/null |
    awk -v w="$WANT_UPSTREAM" '$1 == "Version:" && index($2, w ".") == 1 { print $2 }' |
    sort -V | tail -n1)
[ -n "$version" ] || die "$SUITE has no libvirt source at version $WANT_UPSTREAM.x (apt-cache showsrc libvirt)"

echo "libvirt-corpus: downloading libvirt $version sources" >&2
# apt checks every file it fetches against the signed index; a mirror may lack the
# Debian packaging files (.dsc, .debian.tar.xz) while serving the upstream tarball,
# which is all the corpus needs, so a partial download is judged below, file by file.
(cd "$apt_dir/download" && apt-get "${apt_opts[@]}" source --download-only -qq "libvirt=$version" >&2) ||
    echo "libvirt-corpus: apt-get source did not fetch every file; checking what arrived" >&2

# The upstream tarball's expected SHA-256, from the signed Sources index.
orig_line=$(apt-cache "${apt_opts[@]}" showsrc libvirt 2>/dev/null |
    awk -v v="$version" '/^$/ { ver = "" } $1 == "Version:" { ver = $2 }
         /^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 }
         !found && on && ver == v && $3 ~ /\.orig\.tar\.[a-z0-9]+$/ { print $1, $3; found = 1 }')
[ -n "$orig_line" ] || die "the Sources index lists no upstream tarball for libvirt $version"
orig_sum=${orig_line%% *}
orig_name=${orig_line#* }
orig=$apt_dir/download/$orig_name
[ -f "$orig" ] || die "could not download $orig_name for libvirt $version from $uri"
echo "$orig_sum  $orig" | sha256sum --check --quiet - >&2 ||
    die "$orig_name does not match the SHA-256 in the signed Sources index"

rm -rf "$dest/tree" "$dest/tree.new"
dsc=$apt_dir/download/libvirt_${version#*:}.dsc
if [ -f "$dsc" ] && ls "$apt_dir/download"/*.debian.tar.* >/dev/null 2>&1; then
    echo "libvirt-corpus: unpacking $(basename "$dsc") (with Debian's patches)" >&2
    dpkg-source --no-check -x "$dsc" "$dest/tree.new" >/dev/null ||
        die "dpkg-source -x $dsc failed"
else
    echo "libvirt-corpus: unpacking $orig_name (upstream source; Debian's patches unavailable)" >&2
    mkdir -p "$dest/tree.new"
    tar -xf "$orig" -C "$dest/tree.new" --strip-components=1 || die "unpacking $orig_name failed"
fi
[ -d "$dest/tree.new/tests/qemuxmlconfdata" ] || die "the unpacked source has no tests/qemuxmlconfdata"
mv "$dest/tree.new" "$dest/tree"
# The downloaded archives are not needed once unpacked.
rm -rf "$apt_dir/download" "$apt_dir/archives"
echo "$version" >"$marker"
echo "$dest/tree"
