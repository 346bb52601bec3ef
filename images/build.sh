#!/usr/bin/env bash
# Build, on this machine and without any image registry, the images the docker backend uses:
#
#   apache/kafka:<version>     the apache/kafka layout (/opt/kafka/{bin,config,libs}) with the
#                              jars of kafkalab/locks/kafka-<version>.json, on Debian bookworm
#                              (debootstrap --variant=minbase) with OpenJDK 17
#   mongo:7                    FerretDB 1.x (MongoDB wire protocol, SQLite) on port 27017
#   testcontainers/ryuk:0.8.1  images/ryuk, a reaper that speaks Ryuk's protocol
#
# They stand in for the official images (see images/README.md for the differences). The
# Debian root file system is cached as a tarball in <kafkalab cache>/images, so a rebuild
# takes seconds. Needs: docker (engine running), debootstrap, go, and `make setup` done
# (the jars and the FerretDB binary come from the kafkalab cache).
#
# Usage: images/build.sh [--force]   (--force rebuilds the root file system too)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=openjdk-17-jre-headless
RYUK_TAG=$("$PYTHON" -c 'from testcontainers.core.config import testcontainers_config as c; print(c.ryuk_image)')
MONGO_TAG=mongo:7
CACHE="${KAFKALAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafkalab}/images"
mkdir -p "$CACHE"

log() { printf '[images %(%T)T] %s\n' -1 "$*"; }
# docker build, quiet unless it fails (the legacy builder also warns that it is deprecated).
build() {
  docker build -q "$@" >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
}
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/kafkalab-images.XXXXXX")
trap 'rm -rf "$work"' EXIT

# --- 1. Debian root file system with a JRE, cached ----------------------------------------
FORCE=${1:-}
. images/debian-base.sh
base=$(debian_base debian-jre17 "$PACKAGES")

# --- 2. apache/kafka:<version> ---------------------------------------------------------
"$PYTHON" images/stage.py kafka "$work/kafka" >"$work/kafka-version"
kafka_tag="apache/kafka:$(cat "$work/kafka-version")"
log "docker build $kafka_tag"
build --build-arg "BASE=$base" -t "$kafka_tag" "$work/kafka"

# --- 3. testcontainers/ryuk -------------------------------------------------------------
mkdir -p "$work/ryuk"
(cd images/ryuk && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' \
  -o "$work/ryuk/ryuk" .)
cp images/ryuk/Dockerfile "$work/ryuk/"
log "docker build $RYUK_TAG"
build -t "$RYUK_TAG" "$work/ryuk"

# --- 4. mongo:7 --------------------------------------------------------------------------
"$PYTHON" images/stage.py mongo "$work/mongo"
log "docker build $MONGO_TAG"
build -t "$MONGO_TAG" "$work/mongo"

docker image prune -f --filter "label=org.kafkalab.image" >/dev/null
log "done in $((SECONDS - started)) s: $kafka_tag, $MONGO_TAG, $RYUK_TAG"
