#!/usr/bin/env bash
# Front door of Ghost Story Factory: sets itself up on a fresh machine, then shows a menu in the
# language chosen once (or passes its arguments to `ghost-story`, e.g. ./start_pregenerated_game.sh list).
# Its words, in zh and en, are in start_pregenerated_game.tsv.
set -uo pipefail
cd "$(dirname "$0")" || exit 1

VENV=".venv"
PY="${PYTHON:-python3}"
GS="$VENV/bin/ghost-story"
STRINGS="start_pregenerated_game.tsv"

# -- words ---------------------------------------------------------------------------------------
load_strings() {  # load_strings zh|en: every key of the table becomes S_<key>
  local key zh en
  while IFS=$'\t' read -r key zh en; do
    case "$key" in '' | '#'*) continue ;; esac
    if [ "$1" = zh ]; then printf -v "S_$key" '%s' "$zh"; else printf -v "S_$key" '%s' "$en"; fi
  done <"$STRINGS"
}
t() {  # t KEY [ARGS...]: the text of KEY in the chosen language, formatted, no newline
  local name="S_$1"
  shift
  # shellcheck disable=SC2059  # the format comes from our own table
  printf -- "${!name:-$name}" "$@"
}
say() { t "$@"; echo; }
err() { t "$@" >&2; echo >&2; }

lang_of() { case "${1:-}" in zh* | ZH* | Zh*) echo zh ;; *) echo en ;; esac; }
LOCALE_LANG=$(lang_of "${LC_ALL:-${LC_MESSAGES:-${LANG:-zh}}}")
UI_LANG=$(lang_of "${GSF_LANG:-$LOCALE_LANG}")
load_strings "$UI_LANG"

# -- the terminal --------------------------------------------------------------------------------
# A progress bar hides the cursor; a child that dies (kill -9) cannot show it again, so the menu does,
# after every child and on every way out.
show_cursor() { if [ -t 1 ]; then printf '\033[?25h'; fi; }
ERRFILE=""
on_exit() {
  show_cursor
  if [ -n "$ERRFILE" ]; then rm -f "$ERRFILE"; fi
}
trap on_exit EXIT

# The language, asked once when nothing chose it, before anything is installed.
if [ $# -eq 0 ] && [ -z "${GSF_LANG:-}" ]; then
  default=1
  [ "$LOCALE_LANG" = en ] && default=2
  while true; do
    if ! IFS= read -r -p "$(t lang_prompt "$default")" answer; then echo; exit 0; fi
    case "${answer:-$default}" in
      1 | zh | 中文) UI_LANG=zh; break ;;
      2 | en | English | english) UI_LANG=en; break ;;
      *) say lang_invalid ;;
    esac
  done
  load_strings "$UI_LANG"
fi
export GSF_LANG="$UI_LANG"  # every screen of every command speaks it

# -- set-up on a fresh machine -------------------------------------------------------------------
if ! command -v "$PY" >/dev/null 2>&1; then err need_python; exit 1; fi
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  err old_python "$("$PY" --version 2>&1)"
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  say venv_setup "$VENV"
  "$PY" -m venv "$VENV" || { err venv_failed "$VENV"; exit 1; }
fi

install_progress() {  # reads pip's output and tells each step in one short line, with the seconds so far
  local line name count=0 packages
  local start=$SECONDS
  while IFS= read -r line; do
    case "$line" in
      "Obtaining "* | "Processing "*) say install_project $((SECONDS - start)) ;;
      *"Installing build dependencies"*started*) say install_build_tools $((SECONDS - start)) ;;
      "Collecting "*)
        count=$((count + 1))
        name=${line#Collecting }
        name=${name%% *}
        name=${name%%[<>=!~;[]*}  # "rich>=13" -> "rich"
        say install_collect $((SECONDS - start)) "$count" "$name"
        ;;
      "Building "* | *"Building editable"*started*) say install_building $((SECONDS - start)) ;;
      "Installing collected packages: "*)
        packages=${line#Installing collected packages: }
        packages=${packages//[^,]/}
        say install_installing $((SECONDS - start)) $((${#packages} + 1))
        ;;
      "Successfully installed"*) say install_done $((SECONDS - start)) ;;
    esac
  done
}

# Reinstall only when the project description changed since the last install.
STAMP="$VENV/.ghost-story-installed"
if [ ! -f "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
  say install_start "$VENV"
  LOG="$VENV/install.log"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -e . 2>&1 \
    | tee "$LOG" | install_progress
  if [ "${PIPESTATUS[0]}" -ne 0 ]; then
    err install_failed "$LOG"
    # This machine's pip may warn about unused local index folders; those lines are noise here.
    grep -v "^WARNING: Location '.*' is ignored" "$LOG" | tail -n 15 >&2
    exit 1
  fi
  touch "$STAMP"
fi

if [ $# -gt 0 ]; then
  exec "$GS" "$@"
fi

# -- the menu ------------------------------------------------------------------------------------
INTERRUPTED=0
trap 'INTERRUPTED=1' INT  # a child stops on Ctrl+C by itself; the menu only notes it and stays
ERRFILE=$(mktemp "${TMPDIR:-/tmp}/ghost-story-menu.XXXXXX")

prompt_read() {  # prompt_read PROMPT VAR [read options]: 0 = an answer, 1 = end of input, 2 = Ctrl+C
  # bash goes on reading after a trapped Ctrl+C; a subshell (whose Ctrl+C is not trapped) stops.
  local prompt=$1 var=$2 reply code
  shift 2
  INTERRUPTED=0
  reply=$(IFS= read -r "$@" -p "$prompt" line && printf '%s' "$line")
  code=$?
  if [ "$code" -gt 128 ] || [ "$INTERRUPTED" -eq 1 ]; then echo; return 2; fi
  if [ "$code" -ne 0 ]; then echo; return 1; fi
  printf -v "$var" '%s' "$reply"
}

ask() {  # ask PROMPT VAR: 0 = an answer, 2 = Ctrl+C (back to the menu); end of input leaves
  prompt_read "$1" "$2"
  case $? in
    0) return 0 ;;
    2) return 2 ;;
    *) say bye; exit 0 ;;
  esac
}

wait_key() {  # a key on a terminal, a line from a pipe (so a script's next answer is not eaten)
  local key
  if [ -t 0 ]; then
    prompt_read "$(t any_key)" key -s -n 1
    [ $? -eq 0 ] && echo
  else
    IFS= read -r key || true
  fi
  return 0
}

run() {  # run ARGS...: a ghost-story command; the cursor is shown again however it ended
  INTERRUPTED=0
  "$GS" "$@"
  local code=$?
  show_cursor
  return "$code"
}

# Checks an answer as the command will: "ok<TAB>name as stored" or "<problem><TAB>detail...".
# shellcheck disable=SC2016
CHECK='
import sys
from ghost_story_factory.config import (CHARACTER_SEPARATORS, MAX_CHARACTERS, MAX_NAME_LENGTH,
    MAX_ROLE_LENGTH, check_name, parse_characters)
from ghost_story_factory.errors import InputError

def problem(name):
    import unicodedata
    name = unicodedata.normalize("NFC", name).strip()
    if not any(unicodedata.category(ch)[0] in "LNPS" for ch in name):
        return ("empty",)
    if len(name) > MAX_NAME_LENGTH:
        return ("long", str(MAX_NAME_LENGTH))
    if "/" in name or "\\" in name:
        return ("separator", name[:40])
    if ".." in name:
        return ("dots", name[:40])
    return ("control", name[:40])

what, raw = sys.argv[1], sys.argv[2]
try:
    if what == "city":
        print("ok\t" + check_name(raw, "city"))
        sys.exit()
    characters = parse_characters(raw)
    print("ok\t" + ",".join(name for name, _ in characters))
except InputError as exc:
    if what == "city":
        print("city_" + "\t".join(problem(raw)))
        sys.exit()
    text = raw
    for separator in CHARACTER_SEPARATORS[1:]:
        text = text.replace(separator, ",")
    seen = set()
    parts = text.split(",")
    for part in parts:
        name, _, role = part.replace("\uff1a", ":").partition(":")
        try:
            name = check_name(name, "character")
        except InputError:
            print("character_" + "\t".join(problem(name)))
            sys.exit()
        if len(" ".join(role.split())) > MAX_ROLE_LENGTH:
            print(f"role_long\t{name}\t{MAX_ROLE_LENGTH}")
            sys.exit()
        if any(ch < " " or ch == "\x7f" for ch in role):
            print(f"role_control\t{name}")
            sys.exit()
        if name in seen:
            print(f"character_twice\t{name}")
            sys.exit()
        seen.add(name)
    if len(parts) > MAX_CHARACTERS:
        print(f"character_many\t{MAX_CHARACTERS}")
    else:
        print(f"input_invalid\t{exc}")
'

ask_checked() {  # ask_checked city|characters PROMPT VAR: asks until the answer is usable (2 = Ctrl+C)
  local answer verdict key
  local -a detail
  while true; do
    ask "$2" answer || return 2
    if [ "$1" = characters ] && [ -z "${answer//[[:space:]]/}" ]; then
      printf -v "$3" '%s' ""
      return 0
    fi
    verdict=$("$VENV/bin/python" -c "$CHECK" "$1" "$answer")
    IFS=$'\t' read -r -a detail <<<"$verdict"
    key=${detail[0]:-input_invalid}
    if [ "$key" = ok ]; then  # a city as stored (to find its story); characters as typed (roles kept)
      if [ "$1" = city ]; then printf -v "$3" '%s' "${detail[1]:-}"; else printf -v "$3" '%s' "$answer"; fi
      return 0
    fi
    t "$key" "${detail[@]:1}" >&2
    echo >&2
  done
}

finished_story_of() {  # the id of a finished story of this city (as generate matches it: case and form folded), or nothing
  "$GS" list --json 2>/dev/null | "$VENV/bin/python" -c \
    'import json,sys,unicodedata as u; f=lambda t: u.normalize("NFC", str(t)).strip().casefold(); c=f(sys.argv[1]); print(next((str(s["id"]) for s in json.load(sys.stdin) if f(s.get("city",""))==c), ""))' \
    "$1"
}

has_checkpoints() {
  "$GS" status --json 2>/dev/null | "$VENV/bin/python" -c \
    'import json,sys; c=sys.argv[1]; sys.exit(0 if any(i.get("city")==c for i in json.load(sys.stdin)) else 1)' \
    "$1"
}

play_menu() {
  local listing lines ids id
  listing=$("$GS" list --json) || return
  lines=$(printf '%s' "$listing" | "$VENV/bin/python" -m ghost_story_factory.player stories "$UI_LANG") || return
  ids=${lines%%$'\n'*}
  if [ -z "$ids" ]; then
    say library_empty
    return
  fi
  say story_menu
  printf '%s\n' "${lines#*$'\n'}"
  while true; do
    ask "$(t story_prompt)" id || return
    id=${id//[[:space:]#]/}
    [ -z "$id" ] && return
    case " $ids " in *" $id "*) break ;; esac
    err story_invalid "$id"
  done
  run play "$id"
  local code=$?
  # A game that ended (or was quit) stays on the screen until the player is ready; Ctrl+C left it.
  if [ "$code" -ne 130 ] && [ "$INTERRUPTED" -eq 0 ]; then wait_key; fi
}

generate_menu() {
  local city characters existing go
  local -a new=()
  ask_checked city "$(t city_prompt)" city || return
  if has_checkpoints "$city"; then
    say resuming "$city"
  else
    existing=$(finished_story_of "$city")
    if [ -n "$existing" ]; then
      ask "$(t existing_story "$city" "$existing")" go || return
      case "$go" in
        y | Y | yes | Yes | 是 | 好) new=(--new) ;;
        *) say not_new; return ;;
      esac
      # Older versions generate a second story without being asked to; they do not know --new.
      if ! "$GS" generate --help 2>/dev/null | grep -q -- '--new'; then new=(); fi
    fi
  fi
  ask_checked characters "$(t characters_prompt)" characters || return
  # Know the cost before paying it: the estimate (calls, tokens, cost, time), then a confirmation.
  run generate --city "$city" --characters "$characters" ${new[@]+"${new[@]}"} --estimate || return
  ask "$(t start_prompt)" go || return
  case "$go" in
    n | N | no | No | 否 | 不) say not_started; return ;;
  esac
  run generate --city "$city" --characters "$characters" ${new[@]+"${new[@]}"} 2>"$ERRFILE"
  local code=$?
  if [ "$code" -eq 130 ] || [ "$INTERRUPTED" -eq 1 ]; then
    # The command's own advice ("run the same command again") means nothing in a menu: say ours.
    echo
    say paused "$city"
  elif [ "$code" -gt 128 ]; then
    cat "$ERRFILE" >&2
    say ended "$code" "$city"
  else
    cat "$ERRFILE" >&2
  fi
  : >"$ERRFILE"
}

while true; do
  echo
  say title
  say menu_play
  say menu_generate
  say menu_status
  say menu_quit
  if ! prompt_read "$(t menu_prompt)" choice; then  # end of input or Ctrl+C at the menu: leave
    say bye
    exit 0
  fi
  case "$choice" in
    1) play_menu ;;
    2) generate_menu ;;
    3) run status ;;
    q | Q | quit | exit | 退出) say bye; exit 0 ;;
    "") ;;
    *) say menu_invalid ;;
  esac
done
