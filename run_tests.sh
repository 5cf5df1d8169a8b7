#!/usr/bin/env bash
# The test command: sets up .venv and the export checkers on a fresh machine, then runs pytest.
# Arguments go to pytest (e.g. ./run_tests.sh -m soak).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ -x tools/setup_test_tools.sh ]; then
  tools/setup_test_tools.sh
fi
# In CI a missing export checker is a failure, not a skip: a broken install must not pass as green.
if [ "${CI:-}" = "true" ]; then export GSF_REQUIRE_EXPORT_TOOLS=1; fi
exec .venv/bin/python -m pytest "$@"
