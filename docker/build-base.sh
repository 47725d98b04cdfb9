#!/usr/bin/env bash
# Build a Debian bookworm base image with Python 3.11 + venv WITHOUT any container registry:
# debootstrap fetches Debian's packages from the apt mirror this machine already uses, and
# `docker import` turns the root filesystem into an image. `make image-test` builds the
# gridtwin image on top of it (BASE_IMAGE=gridtwin-base:bookworm); `make image` uses a public
# python:3.11-slim instead.
#
# Usage: docker/build-base.sh [IMAGE]   (default gridtwin-base:bookworm; skipped if it exists,
#        FORCE=1 rebuilds). Needs root, debootstrap and a running dockerd.
set -euo pipefail

IMAGE="${1:-gridtwin-base:bookworm}"
SUITE=bookworm

if [[ "${FORCE:-0}" != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "==> base image $IMAGE exists (FORCE=1 rebuilds it)"
    exit 0
fi

# The first Debian mirror configured for apt (deb822 .sources or one-line sources.list).
mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}')
fi
if [[ -z "$mirror" ]]; then
    mirror=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        | awk '$2 ~ /\/debian\/?$/ {print $2; exit}')
fi
mirror="${mirror:-http://deb.debian.org/debian}"

rootfs=$(mktemp -d /tmp/gridtwin-base.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT

echo "==> debootstrap $SUITE from $mirror (a few minutes)"
# libgomp1: OpenMP runtime that the xgboost/onnxruntime wheels link against.
debootstrap --variant=minbase \
    --include=python3.11,python3.11-venv,python3-venv,python-is-python3,ca-certificates,libgomp1 \
    "$SUITE" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -30 "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"

# Trust the same extra CAs as this machine (a TLS-inspecting egress proxy, a company CA), so
# that pip inside `docker build` reaches PyPI exactly as the host does.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >/dev/null
fi

# Slim it: no apt lists, docs or caches in the image.
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* \
    "$rootfs"/usr/share/locale/* "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/log/*

echo "==> docker import -> $IMAGE"
tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
docker image ls "$IMAGE"
