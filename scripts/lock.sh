#!/usr/bin/env bash
# Refreshes the locks scripts/setup.sh installs from: exact versions and hashes of every dependency.
#   bash scripts/lock.sh             the newest versions pyproject.toml allows (review the diff, run the tests)
#   bash scripts/lock.sh -P NAME     move only NAME to its newest allowed version
# requirements.lock holds what the program needs (plus setuptools, which builds it); requirements-test.lock
# adds the test tools, with every shared package at the same version. Both are universal: one lock serves
# Linux, Windows and macOS on every Python that pyproject.toml allows.
set -euo pipefail
cd "$(dirname "$0")/.."

uv_version=0.13.9
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
quiet() { grep -v '^WARNING: Location' || true; }  # find-links a machine's pip.conf names but lacks
"$tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version" 2>&1 | quiet

upgrade=(--upgrade)
[ "$#" -gt 0 ] && upgrade=()
compile=("$tools/bin/uv" pip compile --quiet --universal --generate-hashes --python-version 3.11
         --custom-compile-command "bash scripts/lock.sh" "${upgrade[@]}" "$@")
echo 'setuptools>=68' | "${compile[@]}" pyproject.toml - -o requirements.lock
echo 'setuptools>=68' | "${compile[@]}" pyproject.toml - --extra test -c requirements.lock -o requirements-test.lock
echo "Locked $(grep -c '^[a-z0-9]' requirements.lock) packages in requirements.lock," \
     "$(grep -c '^[a-z0-9]' requirements-test.lock) in requirements-test.lock."
