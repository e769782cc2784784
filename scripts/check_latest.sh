#!/usr/bin/env bash
# Drift check: installs the newest versions pyproject.toml allows into a throw-away virtual environment
# (nothing from the lock), runs the unit and integration suites there and says what broke and which
# packages were newer than the lock. Run it before refreshing the lock (bash scripts/lock.sh), and
# now and then on its own: a new release that breaks Estate Mapper shows up here before users meet it.
#   bash scripts/check_latest.sh          the unit and integration suites
#   bash scripts/check_latest.sh -k ssh   extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test >/dev/null  # the system packages and daemons the integration tests start

venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
quiet() { grep -v '^WARNING: Location' || true; }
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip setuptools 2>&1 | quiet  # setuptools: the locked build tool
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade ".[test]" 2>&1 | quiet

echo "== Newest allowed versions that differ from requirements-test.lock =="
"$venv/bin/python" - requirements-test.lock <<'PY'
import re, sys
from importlib import metadata

def norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()

locked = {}
for line in open(sys.argv[1], encoding="utf-8"):
    found = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([^ ;\\]+)", line)
    if found:
        locked.setdefault(norm(found[1]), set()).add(found[2])
newer = [(name, ", ".join(sorted(locked[name])), dist.version) for dist in metadata.distributions()
         if (name := norm(dist.metadata["Name"])) in locked and dist.version not in locked[name]]
for name, was, now in sorted(newer):
    print(f"  {name}: locked {was}, newest allowed {now}")
print("  (none: the lock holds the newest allowed versions)" if not newer else f"  {len(newer)} package(s)")
PY

echo "== Unit and integration suites on the newest allowed versions =="
status=0
"$venv/bin/python" -m pytest -p no:cacheprovider -q -rfE tests/unit tests/integration "$@" || status=$?
if [ "$status" -eq 0 ]; then
    echo "Drift check passed: the newest allowed versions work; bash scripts/lock.sh may move the lock to them."
else
    echo "Drift check FAILED (pytest exit $status): the tests above break on the newest allowed versions." \
         "Fix the code, or exclude the broken release in pyproject.toml with a comment saying why."
fi
exit "$status"
