#!/usr/bin/env bash
# Sets up everything the tests need (system packages, .venv) and runs the whole suite:
# unit, integration (real daemons, run as root) and GUI tests. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest "$@"
