#!/usr/bin/env bash
# The whole system, end to end, on simulated data (what `make demo` runs):
#   simulated bot → BoltDB → export → train → validate → deploy → simulated bot deciding
#   through the sidecar → a second model deployed mid-run (SIGHUP) → the sidecar killed once
#   (fallback, restart) → summary. Generated files go to build/demo/; models to models/.
# Environment: DEMO_HOURS (simulated hours of data, default 6), DEMO_SEARCH (train search
# mode, default fast), DEMO_TRAIN_ARGS (extra `train fit` arguments), DEMO_RATE (decisions/s, default 2000), DEMO_WORKERS (default 8),
# SIGMAGATE_MODELS_DIR (default models/).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export SIGMAGATE_ROOT="$ROOT"
export SIGMAGATE_PYTHON="${SIGMAGATE_PYTHON:-$ROOT/.venv/bin/python}"
PY="$SIGMAGATE_PYTHON"
DEMO="$ROOT/build/demo"
RUN="$DEMO/run"
MODELS="${SIGMAGATE_MODELS_DIR:-$ROOT/models}"
HOURS="${DEMO_HOURS:-6}"
SEARCH="${DEMO_SEARCH:-fast}"
RATE="${DEMO_RATE:-2000}"
WORKERS="${DEMO_WORKERS:-8}"
read -r -a TRAIN_EXTRA <<<"${DEMO_TRAIN_ARGS:-}"  # extra `train fit` arguments, space-separated
TRAIN_EXTRA=(--walk-forward="${DEMO_WALK_FORWARD:-1h}" "${TRAIN_EXTRA[@]}")  # report.md: retrained hourly vs once
BIN="$ROOT/build/bin"
T0=$SECONDS

step() { printf '\n\033[1;36m[%3ds] %s\033[0m\n' "$((SECONDS - T0))" "$*" >&2; }
fail() { printf '\033[1;31mdemo failed: %s\033[0m\n' "$*" >&2; exit 1; }

[[ -x "$PY" ]] || { step "setting up the virtualenv"; make --no-print-directory venv; }
command -v go >/dev/null || fail "Go is not installed (see README.md, Requirements)"

step "1/7  building the Go tools (gendb, export, simbot)"
mkdir -p "$BIN"
for tool in gendb export simbot; do
  (cd go && go build -o "$BIN/$tool" "./cmd/$tool") || fail "go build ./cmd/$tool"
done

step "2/7  simulating the bot: ${HOURS} h of candidate trades for 3 symbols into a BoltDB"
rm -rf "$DEMO"
mkdir -p "$RUN" "$DEMO/logs"
# The data ends an hour ago; step 5 records that last hour, as the live bot would.
"$BIN/gendb" -db "$DEMO/features.db" -hours "$HOURS" -ago 1h -seed 1 -corrupt 3

deploy() {
  local extra=()
  for a in "${TRAIN_EXTRA[@]}"; do extra+=(--train-arg "$a"); done
  scripts/deploy_model.sh -b "$DEMO/features.db" --search "$SEARCH" --models-dir "$MODELS" "${extra[@]}" \
    --pidfile "$RUN/infer.pid" --status-file "$RUN/infer.status.json" --log-dir "$DEMO/logs" "$@" \
    | tail -n1
}
status_field() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2]) or "")' "$RUN/infer.status.json" "$1" 2>/dev/null || true; }
wait_for() { # description timeout-seconds command...
  local what="$1" limit="$2"; shift 2
  local end=$((SECONDS + limit))
  until "$@"; do
    [[ $SECONDS -lt $end ]] || fail "timed out after ${limit}s waiting for $what"
    kill -0 "$SIMBOT" 2>/dev/null || fail "the simulated bot exited early (see $DEMO/simbot.log)"
    sleep 0.2
  done
}

step "3/7  export → train → validate → deploy model #1 to $MODELS/current"
V1="$(deploy)" || fail "first deploy (log in $DEMO/logs)"
[[ -n "$V1" ]] || fail "first deploy printed no version"

step "4/7  starting the simulated bot: $WORKERS goroutines, $RATE decisions/s, sidecar via go/predictor"
"$BIN/simbot" -db "$DEMO/features.db" -model "$MODELS/current" -workers "$WORKERS" -rate "$RATE" \
  -pidfile "$RUN/infer.pid" -status-file "$RUN/infer.status.json" -log "$DEMO/simbot.log" \
  -json "$DEMO/summary.json" -metrics-file "$DEMO/metrics.prom" >"$DEMO/summary.txt" &
SIMBOT=$!
trap 'kill -TERM "$SIMBOT" 2>/dev/null || true; wait "$SIMBOT" 2>/dev/null || true' EXIT
serving() { [[ "$(status_field version)" == "$1" ]]; }
wait_for "the sidecar to serve $V1" 120 serving "$V1"
sleep 5

step "5/7  the bot records one more hour; retrain and deploy model #2 while the bot runs (SIGHUP)"
"$BIN/gendb" -db "$DEMO/features.db" -hours 1 -seed 2
V2="$(deploy)" || fail "second deploy (log in $DEMO/logs)"
[[ "$V2" != "$V1" ]] || fail "the second deploy produced the same version $V1"
sleep 5

step "6/7  killing the sidecar (SIGKILL): the bot's decisions continue from the verified in-process replica of the same model while predictor restarts it"
OLD_PID="$(status_field pid)"
kill -KILL "$OLD_PID"
echo "killed sidecar pid $OLD_PID" >&2
restarted() { local p; p="$(status_field pid)"; [[ -n "$p" && "$p" != "$OLD_PID" && "$(status_field version)" == "$V2" ]]; }
wait_for "the sidecar to restart" 120 restarted
echo "sidecar restarted as pid $(status_field pid), serving $(status_field version)" >&2
sleep 5

step "7/7  stopping the bot"
kill -TERM "$SIMBOT"
wait "$SIMBOT" || fail "the simulated bot failed (see $DEMO/simbot.log)"
trap - EXIT
cat "$DEMO/summary.txt"
echo "the predictor's Prometheus metrics at exit ($DEMO/metrics.prom, excerpt):"
grep -E '^sigmagate_predictor_((predictions|fallbacks|replica_answers|replica_checks|restarts|timeouts)_total|model_info|sidecar_up)' \
  "$DEMO/metrics.prom" | sed 's/^/  /' || true
grep -q '^sigmagate_predictor_replica_answers_total{reason="child_down"}' "$DEMO/metrics.prom" ||
  fail "no decision was answered by the replica while the sidecar was down (see $DEMO/simbot.log)"

REPORT="$MODELS/$V2/report.md"
echo
"$PY" scripts/model_summary.py "$MODELS/$V2" || true
echo
echo "models deployed: $V1 → $V2   (models/current → $(readlink "$MODELS/current"))"
echo "deploy logs:     $DEMO/logs/"
echo "bot summary:     $DEMO/summary.json"
echo "model report:    $REPORT"
echo "demo finished in $((SECONDS - T0)) s"
