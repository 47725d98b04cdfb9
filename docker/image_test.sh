#!/usr/bin/env bash
# `make image-test`: build the image without any container registry and run the mesh from it.
#   1. docker.io + debootstrap from Debian's packages if missing (needs root), dockerd if not
#      running (stopped again at the end unless KEEP_DOCKERD=1)
#   2. the base image gridtwin-base:bookworm by debootstrap + docker import (cached: skipped
#      when it exists; FORCE=1 docker/build-base.sh rebuilds it)
#   3. the gridtwin image on that base (BASE_IMAGE=gridtwin-base:bookworm)
#   4. docker/image_smoke.py: every service from the image, health, probes, one Assess
# IMAGE_TEST_REGISTRY=registry also layers that trained registry onto the image (make
# image-models) and runs the smoke test again on it: then all 16 models must load.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE="${IMAGE_TEST_BASE:-gridtwin-base:bookworm}"
IMAGE="${IMAGE_TEST_IMAGE:-gridtwin:image-test}"
PY="${PY:-.venv/bin/python}"
LOGS=var/image-test
mkdir -p "$LOGS"
t0=$(date +%s)
stamp() { echo "[image-test] $1 ($(( $(date +%s) - t0 )) s)"; }

if ! command -v dockerd >/dev/null || ! command -v debootstrap >/dev/null; then
    stamp "installing docker.io and debootstrap from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker.io debootstrap >"$LOGS/apt.log" 2>&1 \
      || { apt-get -o DPkg::Lock::Timeout=600 update -qq \
           && apt-get -o DPkg::Lock::Timeout=600 install -y -qq docker.io debootstrap >"$LOGS/apt.log" 2>&1; }
fi

dockerd_pid=""
cleanup() {
    if [[ -n "$dockerd_pid" && "${KEEP_DOCKERD:-0}" != 1 ]]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
        echo "[image-test] stopped the dockerd it started"
    fi
}
trap cleanup EXIT
if ! docker info >/dev/null 2>&1; then
    stamp "starting dockerd (log: $LOGS/dockerd.log)"
    dockerd >"$LOGS/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
    docker info >/dev/null 2>&1 || { tail -20 "$LOGS/dockerd.log"; exit 1; }
fi

stamp "base image"
bash docker/build-base.sh "$BASE"

stamp "building $IMAGE on $BASE (log: $LOGS/build.log)"
if ! DOCKER_BUILDKIT=0 docker build --build-arg BASE_IMAGE="$BASE" -t "$IMAGE" . >"$LOGS/build.log" 2>&1; then
    tail -40 "$LOGS/build.log"
    exit 1
fi
stamp "image built: $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1/1e6}')"

"$PY" docker/image_smoke.py --image "$IMAGE"
if [[ -n "${IMAGE_TEST_REGISTRY:-}" ]]; then
    stamp "layering $IMAGE_TEST_REGISTRY onto the image (make image-models)"
    bash docker/build-models.sh "$IMAGE" "$IMAGE-models" "$IMAGE_TEST_REGISTRY" >"$LOGS/models.log" 2>&1 \
      || { tail -20 "$LOGS/models.log"; exit 1; }
    "$PY" docker/image_smoke.py --image "$IMAGE-models" --models
fi
stamp "image-test passed"
