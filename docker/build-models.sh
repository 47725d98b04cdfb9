#!/usr/bin/env bash
# Layer a trained model registry onto the gridtwin image: IMAGE -> TAG with /app/registry.
# Usage: docker/build-models.sh IMAGE TAG REGISTRY_DIR      (make image-models)
# The registry goes in as a tar stream with normalised owners and modes: the registry writer
# leaves model folders 0700 (private temporary directories renamed into place), which the
# image's user 10001 could not read.
set -euo pipefail
image="$1"; tag="$2"; registry="$(realpath "$3")"  # absolute: tar -C is relative to the previous -C
[[ -n "$(ls -A "$registry" 2>/dev/null)" ]] || { echo "$registry/ is empty: run make train first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'ARG IMAGE\nFROM ${IMAGE}\nCOPY registry/ /app/registry/\n' >"$tmp/Dockerfile"
tar -c --owner=0 --group=0 --numeric-owner --mode='a+rX,go-w' \
    -C "$tmp" Dockerfile \
    --transform 's,^\./,registry/,' -C "$registry" . \
  | DOCKER_BUILDKIT=0 docker build --build-arg IMAGE="$image" -t "$tag" -
