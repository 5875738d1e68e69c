#!/usr/bin/env bash
# Makes the Debian bookworm root filesystem tarball the base images are built on.
#
#   bash base-images/rootfs.sh OUT.tar
#
# No public image registry is reachable from the build hosts, so the bottom layer comes from
# Debian packages: `mmdebstrap --variant=minbase bookworm` plus ca-certificates, configured the
# way Debian's official container images are, so that it and the layers built on it stay small:
#   - /usr is merged by mmdebstrap's merged-usr hook (usr-is-merged), not by the usrmerge
#     package, which would pull in perl (about 50 MB);
#   - dpkg leaves out man pages, info pages, docs (but keeps every copyright file: the licence
#     report and redistribution need them) and translations;
#   - apt installs no recommends/suggests and fetches no translated package descriptions;
#   - no apt lists and no downloaded .debs in the tarball (mmdebstrap's cleanup); the Dockerfiles
#     use BuildKit cache mounts for /var/cache/apt and /var/lib/apt/lists, so none in the images
#     either;
#   - services never start during a build (/usr/sbin/policy-rc.d, kept in the tarball: mmdebstrap
#     would otherwise remove its temporary one), no host resolv.conf/hostname, no device nodes in
#     /dev (the container runtime provides them).
# The result is imported into dockerd as labforge/debian-rootfs:bookworm (labforge does that).
#
# Idempotent: when OUT.tar exists and is newer than this script, nothing is done.
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian), DEBIAN_SECURITY_MIRROR
# (default http://deb.debian.org/debian-security), SOURCE_DATE_EPOCH (optional: set it for a
# bit-for-bit reproducible tarball, e.g. with a snapshot.debian.org mirror), FORCE=1 to rebuild.
set -euo pipefail

if [ "$#" -ne 1 ]; then
    echo "usage: $0 OUT.tar" >&2
    exit 2
fi
out=$1
script=${BASH_SOURCE[0]}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

if [ "${FORCE:-0}" != 1 ] && [ -s "$out" ] && [ "$out" -nt "$script" ]; then
    echo "rootfs: $out is up to date (newer than $script); nothing to do (FORCE=1 to rebuild)"
    exit 0
fi

if ! command -v mmdebstrap >/dev/null; then
    echo "rootfs: mmdebstrap is not installed (apt-get install mmdebstrap)" >&2
    exit 1
fi

mkdir -p "$(dirname "$out")"
# Written next to the target and renamed at the end: an interrupted run leaves no half tarball
# that a later run would take as up to date.
partial="$out.partial.$$.tar"
trap 'rm -f "$partial"' EXIT

echo "rootfs: building Debian bookworm (minbase + ca-certificates) from $mirror into $out"
start=$(date +%s)
mmdebstrap \
    --variant=minbase \
    --format=tar \
    --include=ca-certificates \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --skip=output/dev \
    --aptopt='APT::Install-Recommends "false"' \
    --aptopt='APT::Install-Suggests "false"' \
    --aptopt='Acquire::Languages "none"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --dpkgopt='force-unsafe-io' \
    --skip=chroot/policy-rc.d \
    --essential-hook='printf "#!/bin/sh\n# Services never start inside a container image build.\nexit 101\n" > "$1/usr/sbin/policy-rc.d" && chmod 0755 "$1/usr/sbin/policy-rc.d"' \
    --customize-hook='mkdir -p "$1/usr/share/man/man1"' \
    --customize-hook=': > "$1/etc/resolv.conf"; : > "$1/etc/hostname"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old' \
    bookworm "$partial" \
    "deb $mirror bookworm main" \
    "deb $mirror bookworm-updates main" \
    "deb $security bookworm-security main"
mv -f "$partial" "$out"
trap - EXIT

echo "rootfs: wrote $out ($(du -h "$out" | cut -f1)) in $(($(date +%s) - start)) s"
echo "rootfs: import it with: docker import $out labforge/debian-rootfs:bookworm"
