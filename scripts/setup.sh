#!/usr/bin/env bash
# Set up a sigmagate checkout: virtualenv with the pinned dependencies, the Go tools in
# build/bin, and an end-to-end check. Safe to run again; it only redoes what changed.
#
#   scripts/setup.sh           full check: simulated BoltDB → export → train → deploy → serve
#   scripts/setup.sh --quick   fast check: a tiny fixture model served by infer and queried from Go
#   scripts/setup.sh --no-check
# Environment: PYTHON (interpreter for the venv, default python3.11 or python3), GOFLAGS/GOPROXY
# as usual for Go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE=full
case "${1:-}" in
  --quick) MODE=quick ;;
  --no-check) MODE=none ;;
  "") ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "error: unknown option '$1' (try --help)" >&2; exit 2 ;;
esac

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- Python 3.11+
if [[ -z "${PYTHON:-}" ]]; then
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
  done
fi
[[ -n "${PYTHON:-}" ]] || fail "no Python found. Install Python 3.11+ (e.g. apt install python3.11 python3.11-venv,
  or pyenv install 3.11) and run again, or point PYTHON=/path/to/python3.11 at one."
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || fail "$PYTHON is $("$PYTHON" -V 2>&1); sigmagate needs Python 3.11+. Set PYTHON=/path/to/python3.11."
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
  || fail "$PYTHON cannot create virtualenvs (module venv/ensurepip missing); on Debian/Ubuntu: apt install python3.11-venv"

# --- bash 4.4+ and the shell tools the deploy script relies on (atomic symlink switch, one
# deploy at a time)
(( BASH_VERSINFO[0] > 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] >= 4) )) \
  || fail "bash $BASH_VERSION is too old: the deploy script needs bash 4.4+"
command -v flock >/dev/null 2>&1 || fail "flock not found; install util-linux (apt install util-linux)"
mv --version 2>/dev/null | grep -q GNU || fail "GNU mv (coreutils) is required for 'mv -T'; install coreutils"

# --- Go (the version go/go.mod asks for)
command -v go >/dev/null 2>&1 || fail "Go is not installed. Install Go $(awk '/^go /{print $2}' go/go.mod)+ from the official
  downloads or your package manager, make sure 'go' is on PATH, and run again."
say "Python: $("$PYTHON" -V 2>&1) ($PYTHON); Go: $(go env GOVERSION)"

# --- virtualenv + pinned dependencies (the Makefile's venv target; it is stamped and idempotent)
say "virtualenv .venv with pinned dependencies (pyproject.toml)"
if ! make --no-print-directory venv PYTHON="$PYTHON"; then
  fail "installing the Python dependencies failed. If this machine cannot reach the Python package
  index, point pip at a mirror (PIP_INDEX_URL=… or a pip.conf) or a wheel directory
  (PIP_FIND_LINKS=/path/to/wheels PIP_NO_INDEX=1), then run again."
fi

# --- Go tools
say "building Go tools into build/bin"
mkdir -p build/bin
tools=()
for d in go/cmd/*/; do tools+=("$(basename "$d")"); done
for t in "${tools[@]}"; do
  if ! (cd go && go build -o "../build/bin/$t" "./cmd/$t"); then
    fail "building go/cmd/$t failed. If the Go module download failed, this machine cannot reach the
  Go module proxy: set GOPROXY to a reachable proxy (or GOFLAGS=-mod=vendor with a vendored tree)."
  fi
done
say "built: ${tools[*]}"

PY="$ROOT/.venv/bin/python"
CHECK="$ROOT/build/setup-check"
case "$MODE" in
  none) say "done (no check)"; exit 0 ;;
  quick)
    say "quick check: tiny model → infer smoke test"
    rm -rf "$CHECK"; mkdir -p "$CHECK"
    dir="$("$PY" tests/fixtures/tiny_model.py --out "$CHECK/models" --link-current)"
    "$PY" scripts/smoke_test.py "$dir" --python "$PY" >/dev/null || fail "the infer sidecar could not serve a model (see above)"
    say "quick check: Go predictor → sidecar, 3 s of simulated decisions"
    build/bin/gendb -db "$CHECK/features.db" -hours 0.2 -symbols BTCUSDT 2>/dev/null
    SIGMAGATE_ROOT="$ROOT" SIGMAGATE_PYTHON="$PY" build/bin/simbot -db "$CHECK/features.db" \
      -model "$CHECK/models/current" -duration 3s -rate 500 -progress 0 -json "$CHECK/simbot.json" >/dev/null \
      || fail "the Go predictor could not run the sidecar (see above)"
    "$PY" -c 'import json,sys; s=json.load(open(sys.argv[1])); sys.exit(s["model_decisions"] == 0)' "$CHECK/simbot.json" \
      || fail "the Go predictor got no answer from the model (all fallbacks); see $CHECK/simbot.json"
    say "quick check passed: infer serves a model and the Go predictor gets its answers; run 'make demo' next"
    ;;
  full)
    say "full check: simulated BoltDB → export → train → validate → deploy"
    rm -rf "$CHECK"; mkdir -p "$CHECK"
    build/bin/gendb -db "$CHECK/features.db" -hours 6 -symbols BTCUSDT,ETHUSDT
    # Simulated data: its models may only go to a directory marked as a sandbox.
    mkdir -p "$CHECK/models" && touch "$CHECK/models/.sandbox"
    scripts/deploy_model.sh -b "$CHECK/features.db" --models-dir "$CHECK/models" --log-dir "$CHECK/logs" \
      --no-restart --search fast >/dev/null || fail "the pipeline check failed; the log is in $CHECK/logs"
    say "full check passed: a model was trained, validated and deployed to $CHECK/models/current"
    ;;
esac
