#!/usr/bin/env bash
# Installs what the export tests need on a fresh machine: the pinned node packages in tools/export-check
# (npm ci), Mermaid 11 (npm, into a cache folder outside the repo: ${GSF_MERMAID_DIR:-~/.cache/
# ghost-story-factory/mermaid-VERSION}) and, when running as root, Debian's chromium, graphviz and fonts for
# CJK text and emoji.
# Quiet and idempotent: a second run only checks and returns in about a second. It never fails the run
# because a registry is unreachable; the export tests then skip with the reason instead.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
check_dir="$here/export-check"

warn() { echo "setup_test_tools: warning: $*" >&2; }

# --- node packages -------------------------------------------------------------------------------
if ! command -v npm >/dev/null 2>&1; then
    warn "npm is not installed; the Ink/Yarn/Twee/HTML export tests will skip"
else
    stamp="$check_dir/node_modules/.setup-stamp"
    # Re-run npm ci only when the lockfile changed since the last install (fast path otherwise).
    if [[ ! -f "$stamp" ]] || ! cmp -s "$check_dir/package-lock.json" "$stamp"; then
        echo "setup_test_tools: npm ci in tools/export-check (inkjs, yarn-bound, extwee, playwright-core:" \
             "the export tests compile and play the exports with them)" >&2
        if (cd "$check_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
            cp "$check_dir/package-lock.json" "$stamp"
        else
            warn "npm ci in tools/export-check failed (registry unreachable?); node-based export tests will skip"
        fi
    fi
    # Mermaid, pinned: the map tests render every exported Mermaid diagram with it in headless Chromium,
    # loading dist/mermaid.min.js from this folder (no network). Keep the version in step with
    # tests/test_map_mermaid.py.
    mermaid_version="11.17.2"
    mermaid_dir="${GSF_MERMAID_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ghost-story-factory/mermaid-$mermaid_version}"
    if [[ ! -f "$mermaid_dir/node_modules/mermaid/dist/mermaid.min.js" ]]; then
        echo "setup_test_tools: installing mermaid@$mermaid_version into $mermaid_dir" \
             "(the map tests render the Mermaid export with it in headless Chromium)" >&2
        mkdir -p "$mermaid_dir"
        if ! npm install --prefix "$mermaid_dir" --no-save --no-audit --no-fund --ignore-scripts \
                --loglevel=error "mermaid@$mermaid_version" >/dev/null 2>&1; then
            warn "npm install mermaid@$mermaid_version failed (registry unreachable?); the Mermaid render test will skip"
        fi
    fi
fi

# --- Debian packages (root only) -----------------------------------------------------------------
missing=()
command -v chromium >/dev/null 2>&1 || [[ -x /usr/bin/chromium ]] || missing+=(chromium)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
# Fonts so screenshots and PNG maps show Chinese and emoji instead of empty boxes (a CJK face, colour emoji);
# a machine that already has such fonts (fontconfig knows them) needs neither package.
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
have_font() { command -v fc-list >/dev/null 2>&1 && fc-list "$@" 2>/dev/null | grep -q .; }
have_font :lang=zh || have_pkg fonts-wqy-microhei || missing+=(fonts-wqy-microhei)
have_font :charset=1f47b || have_pkg fonts-noto-color-emoji || missing+=(fonts-noto-color-emoji)

if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        warn "not root, cannot apt-get install ${missing[*]}; tests needing them will skip"
    elif ! command -v apt-get >/dev/null 2>&1; then
        warn "apt-get is not available, cannot install ${missing[*]}; tests needing them will skip"
    else
        echo "setup_test_tools: apt-get install ${missing[*]} (headless Chromium plays the HTML export," \
             "Graphviz draws the maps, the fonts show Chinese and emoji in them)" >&2
        export DEBIAN_FRONTEND=noninteractive
        # Update the package lists once per run; an install straight from stale lists can 404.
        if ! apt-get update -qq >/dev/null 2>&1; then
            warn "apt-get update failed (Debian mirror unreachable?)"
        fi
        if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
            warn "apt-get install ${missing[*]} failed; tests needing them will skip"
        fi
    fi
fi
exit 0
