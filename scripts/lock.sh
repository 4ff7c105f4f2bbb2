#!/usr/bin/env bash
# Regenerate the lock files from pyproject.toml (run by `make lock`).
#
#   requirements-train.lock  runtime + dev + train extras (what `make setup`/`make test` install)
#   requirements.lock        runtime + dev, constrained to the same versions as the train lock
#
# Pins exact versions for CPython 3.11 on Linux x86_64 (glibc 2.36, Debian 12),
# whatever machine runs this. uv does the resolution; it is installed into a
# throw-away tool venv under .cache/ and is not a project dependency.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION="0.13.9"
TOOLS="${ROADSIGHT_CACHE:-.cache}/tools/uv-$UV_VERSION"
if [[ ! -x "$TOOLS/bin/uv" ]]; then
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
fi
compile=("$TOOLS/bin/uv" pip compile pyproject.toml --quiet --python-version 3.11
  --python-platform x86_64-manylinux_2_36 --annotation-style line --no-header --upgrade)
"${compile[@]}" --extra dev --extra train -o requirements-train.lock
"${compile[@]}" --extra dev --constraint requirements-train.lock -o requirements.lock
echo "wrote requirements-train.lock ($(grep -c '==' requirements-train.lock) pins)" \
  "and requirements.lock ($(grep -c '==' requirements.lock) pins)"
