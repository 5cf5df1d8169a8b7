#!/usr/bin/env bash
# Front door of Ghost Story Factory: sets itself up on a fresh machine, then shows a menu
# (or passes its arguments to `ghost-story`, e.g. ./start_pregenerated_game.sh list).
set -uo pipefail
cd "$(dirname "$0")" || exit 1

VENV=".venv"
PY="${PYTHON:-python3}"
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: python3 (3.10 or newer) is needed; install it and run this again" >&2
  exit 1
fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: Python 3.10 or newer is needed (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "setting up $VENV (first run only)..."
  "$PY" -m venv "$VENV" || { echo "error: could not create $VENV" >&2; exit 1; }
fi
# Reinstall only when the project description changed since the last install.
STAMP="$VENV/.ghost-story-installed"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  echo "installing Ghost Story Factory into $VENV..."
  # This machine's pip may warn about unused local index folders; those lines are noise here.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e . 2>&1 \
    | grep -v "^WARNING: Location '.*' is ignored" >&2
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "error: installing the project failed (see above)" >&2; exit 1; }
  touch "$STAMP"
fi
GS="$VENV/bin/ghost-story"

if [ $# -gt 0 ]; then
  exec "$GS" "$@"
fi

trap 'echo; echo "bye"; exit 0' INT

ask() {  # ask PROMPT VAR: reads a line; EOF leaves cleanly
  local reply
  if ! IFS= read -r -p "$1" reply; then echo; echo "bye"; exit 0; fi
  printf -v "$2" '%s' "$reply"
}

while true; do
  echo
  echo "👻 Ghost Story Factory"
  echo "  1) 玩故事 / play a story"
  echo "  2) 生成故事 / generate a story"
  echo "  3) 未完成的生成 / unfinished generations"
  echo "  q) 退出 / quit"
  ask "> " choice
  case "$choice" in
    1) "$GS" play ;;
    2)
      ask "城市 / city: " city
      ask "角色（逗号分隔，可写「名字:身份」，如 书生:落第的读书人,船娘；留空由写作器提议）/ characters (comma-separated, name or name:role, e.g. \"Mara:ferrywoman,Tom\"; empty = proposed): " characters
      if "$GS" status --json 2>/dev/null | "$VENV/bin/python" -c \
          'import json,sys; c=sys.argv[1].strip(); sys.exit(0 if any(i.get("city")==c for i in json.load(sys.stdin)) else 1)' \
          "$city"; then
        echo "✅ 发现「$city」的检查点，将从断点继续 / checkpoints found for $city: resuming"
      fi
      # Know the cost before paying it: the estimate (calls, tokens, cost, time), then a confirmation.
      if ! "$GS" generate --city "$city" --characters "$characters" --estimate; then continue; fi
      ask "开始生成？[Y/n] / start generating? [Y/n] " go
      case "$go" in
        n|N|no|No|否) echo "未开始 / not started"; continue ;;
      esac
      "$GS" generate --city "$city" --characters "$characters"
      ;;
    3) "$GS" status ;;
    q|Q) echo "bye"; exit 0 ;;
    "") ;;
    *) echo "1, 2, 3 or q" ;;
  esac
done
