# shellcheck shell=bash
# Command line of scripts/deploy_model.sh (sourced by it; not run alone): the --help
# text, the option defaults, and parse_args, which sets the option variables from the
# arguments or exits (0 after --help, 2 on a bad argument). Uses the deploy script's
# ROOT and PY.

usage() {
  cat <<EOF
usage: scripts/deploy_model.sh [options]

Train a model from the bot's BoltDB, validate it, switch models/current to it and
hot-reload the running sidecar; roll back automatically if the sidecar refuses it.

data and training:
  -b, --db-path FILE      BoltDB to export (env SIGMAGATE_DB; default data/features.db)
  -d, --days N            export only the last N days (default: all)
  -s, --symbol SYM        export and train on one symbol only
      --data PATH         skip the export; train on this JSON Lines/Parquet file or directory
                          of Parquet files
      --from DIR          skip export and training; deploy this existing model directory
      --search MODE       train fit --search (grid|fast; default: train's default)
      --lookahead S       train fit --lookahead (label horizon, seconds)
      --sigma X           train fit --sigma (label reversion threshold)
      --train-arg ARG     pass ARG through to train fit (repeatable)
validation:
      --min-auc X         floor for the manifest's metrics.test.auc (default: train's
                          DEFAULT_MIN_AUC, 0.55; 'none' skips the floor, and train fit
                          gets --min-auc 0)
      --skip-smoke        do not serve the new model in a throw-away sidecar first
freshness check (docs/ML_PIPELINE.md, "The freshness check"):
      --fresh-window D    before current is switched, score the candidate and the current
                          model on the last D of outcomes (e.g. 6h, 90m; default 6h; 0: off)
                          and refuse a candidate significantly worse (train compare). A
                          trained candidate never sees that window (held out of the export);
                          with --from/--promote it is read from -b/--db-path or --data if
                          one is given, else the check is skipped
      --force             deploy although the candidate is worse on the fresh window, cannot
                          be judged on it, or takes another feature order than current (also
                          with --rollback; with --promote, also although the shadow criteria
                          do not hold); logged
deployment:
      --models-dir DIR    versions + current symlink (env SIGMAGATE_MODELS_DIR; default models/;
                          only a deploy or --shadow creates it)
      --keep N            keep the newest N versions, never current or previous (default 5)
      --keep-backups N    archives kept in MODELS_DIR/.backup/ (default 10)
      --no-backup         do not archive the outgoing version to MODELS_DIR/.backup/
      --no-restart        switch current but do not signal the sidecar
      --pidfile FILE      the sidecar's --pidfile (env SIGMAGATE_PIDFILE; default run/infer.pid)
      --status-file FILE  the sidecar's --status-file (env SIGMAGATE_STATUS_FILE;
                          default run/infer.status.json)
      --reload-timeout S  how long to wait for the sidecar to confirm (default 30)
      --rollback [VER]    switch current back to VER (default: the previous version);
                          works without Python
shadow deployment (docs/ML_PIPELINE.md, "Shadow deployment"):
      --shadow            validate and publish the model as usual, but point models/shadow
                          at it instead of current: the predictor scores it on live
                          decisions (never changing them) and writes shadow-report.json
      --promote           switch current to the shadow model (backup, reload, automatic
                          rollback as a deploy) if its shadow-report.json shows enough
                          decisions and the criteria below hold; else refuse with the figures
      --min-decisions N   decisions the shadow must have answered (default 1000)
      --min-agreement X   share of decisions where shadow and live agree (default 0.8)
      --approval-band L,H shadow's live approval rate within L..H x its test-split rate
                          (manifest reference; the live model's rate if it has none; default 0.5,2)
      --allow-simulated   deploy, shadow, promote or roll back to a model trained on
                          simulated data (manifest data.provenance) in a models directory
                          that has no .sandbox file; without it such a model is refused
                          there, so made-up data never decides real trades
      --dry-run           do every check, change nothing, say what would happen
      --log-dir DIR       where deploy-<timestamp>-<pid>.log goes (env SIGMAGATE_LOG_DIR; default logs/)
  -h, --help
The last line on stdout is the version now in models/current.
EOF
}

DB_PATH="${SIGMAGATE_DB:-$ROOT/data/features.db}"
DAYS=""; SYMBOL=""; DATA=""; FROM=""; MIN_AUC=""; SKIP_SMOKE=0
MODELS_DIR="${SIGMAGATE_MODELS_DIR:-$ROOT/models}"
KEEP=5; KEEP_BACKUPS=10; BACKUP=1; RESTART=1; DRY_RUN=0; ROLLBACK=0; ROLLBACK_TO=""
PIDFILE="${SIGMAGATE_PIDFILE:-$ROOT/run/infer.pid}"
STATUS_FILE="${SIGMAGATE_STATUS_FILE:-$ROOT/run/infer.status.json}"
RELOAD_TIMEOUT=30
LOG_DIR="${SIGMAGATE_LOG_DIR:-$ROOT/logs}"
TRAIN_ARGS=()
ALLOW_SIMULATED=0
# The promotion defaults are modelformat/defaults.py's PROMOTE_*, copied because a rollback
# must work without Python; tests/scripts/test_deploy_defaults.py proves the copies equal.
SHADOW=0; PROMOTE=0; FORCE=0; MIN_DECISIONS=1000; MIN_AGREEMENT=0.8; APPROVAL_BAND=0.5,2
# The freshness check: the last FRESH_WINDOW of outcomes; a DB counts as given with -b or
# SIGMAGATE_DB (a --from deploy exports it only then).
FRESH_WINDOW=6h; DB_GIVEN=0
if [[ -n "${SIGMAGATE_DB:-}" ]]; then DB_GIVEN=1; fi

need() { [[ $# -ge 2 && -n "$2" ]] || { echo "error: $1 needs a value (see --help)" >&2; exit 2; }; }

# parse_args "$@": set the variables above from the command line and check them.
parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -b|--db-path) need "$@"; DB_PATH="$2"; DB_GIVEN=1; shift ;;
      -d|--days) need "$@"; DAYS="$2"; shift ;;
      -s|--symbol) need "$@"; SYMBOL="$2"; shift ;;
      --data) need "$@"; DATA="$2"; shift ;;
      --from) need "$@"; FROM="$2"; shift ;;
      --search) need "$@"; TRAIN_ARGS+=(--search "$2"); shift ;;
      --lookahead) need "$@"; TRAIN_ARGS+=(--lookahead "$2"); shift ;;
      --sigma) need "$@"; TRAIN_ARGS+=(--sigma "$2"); shift ;;
      --train-arg) need "$@"; TRAIN_ARGS+=("$2"); shift ;;
      --min-auc) need "$@"; MIN_AUC="$2"; shift ;;
      --skip-smoke) SKIP_SMOKE=1 ;;
      --models-dir) need "$@"; MODELS_DIR="$2"; shift ;;
      --keep) need "$@"; KEEP="$2"; shift ;;
      --keep-backups) need "$@"; KEEP_BACKUPS="$2"; shift ;;
      --no-backup) BACKUP=0 ;;
      --no-restart) RESTART=0 ;;
      --pidfile) need "$@"; PIDFILE="$2"; shift ;;
      --status-file) need "$@"; STATUS_FILE="$2"; shift ;;
      --reload-timeout) need "$@"; RELOAD_TIMEOUT="$2"; shift ;;
      --rollback)
        ROLLBACK=1
        if [[ $# -ge 2 && "$2" != -* ]]; then ROLLBACK_TO="$2"; shift; fi ;;
      --dry-run) DRY_RUN=1 ;;
      --allow-simulated) ALLOW_SIMULATED=1 ;;
      --shadow) SHADOW=1 ;;
      --promote) PROMOTE=1 ;;
      --force) FORCE=1 ;;
      --min-decisions) need "$@"; MIN_DECISIONS="$2"; shift ;;
      --min-agreement) need "$@"; MIN_AGREEMENT="$2"; shift ;;
      --approval-band) need "$@"; APPROVAL_BAND="$2"; shift ;;
      --log-dir) need "$@"; LOG_DIR="$2"; shift ;;
      --fresh-window) need "$@"; FRESH_WINDOW="$2"; shift ;;
      -h|--help) usage; exit 0 ;;
      *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  # The training and freshness steps run in the checkout: a relative --data means here.
  [[ -z "$DATA" || "$DATA" == /* ]] || DATA="$PWD/$DATA"
  [[ "$KEEP" =~ ^[0-9]+$ && "$KEEP" -ge 2 ]] || { echo "error: --keep must be an integer >= 2, got '$KEEP'" >&2; exit 2; }
  [[ "$KEEP_BACKUPS" =~ ^[0-9]+$ ]] || { echo "error: --keep-backups must be an integer, got '$KEEP_BACKUPS'" >&2; exit 2; }
  [[ -z "$DAYS" || "$DAYS" =~ ^[0-9]+$ ]] || { echo "error: --days must be a whole number of days, got '$DAYS'" >&2; exit 2; }
  [[ -z "$MIN_AUC" || "$MIN_AUC" == none || "$MIN_AUC" =~ ^(0|1)?(\.[0-9]+)?$ ]] || { echo "error: --min-auc must be a number in [0, 1] or 'none', got '$MIN_AUC'" >&2; exit 2; }
  [[ $((SHADOW + PROMOTE + ROLLBACK)) -le 1 ]] || { echo "error: --shadow, --promote and --rollback exclude each other" >&2; exit 2; }
  [[ "$FRESH_WINDOW" =~ ^(0|[0-9]+(\.[0-9]+)?[smhdw])$ ]] || { echo "error: --fresh-window must be a duration such as 6h, 90m or 1d (0: off), got '$FRESH_WINDOW'" >&2; exit 2; }
  [[ "$MIN_DECISIONS" =~ ^[0-9]+$ ]] || { echo "error: --min-decisions must be a whole number, got '$MIN_DECISIONS'" >&2; exit 2; }
  [[ "$MIN_AGREEMENT" =~ ^(0(\.[0-9]*)?|1(\.0*)?|\.[0-9]+)$ ]] || { echo "error: --min-agreement must be a number in [0, 1], got '$MIN_AGREEMENT'" >&2; exit 2; }
  # Checked here, not only when --promote reads it: a typo in a nightly job's flags should fail
  # the night it is written, not the day a promotion needs it.
  local lo hi
  if [[ "$APPROVAL_BAND" =~ ^([0-9]+(\.[0-9]*)?|\.[0-9]+),([0-9]+(\.[0-9]*)?|\.[0-9]+)$ ]]; then
    lo="${BASH_REMATCH[1]}"; hi="${BASH_REMATCH[3]}"
  fi
  [[ -n "${lo:-}" ]] && awk -v a="$lo" -v b="$hi" 'BEGIN { exit !(a + 0 <= b + 0) }' \
    || { echo "error: --approval-band must be LO,HI with 0 <= LO <= HI (e.g. 0.5,2), got '$APPROVAL_BAND'" >&2; exit 2; }
  [[ "$RELOAD_TIMEOUT" =~ ^[0-9]+(\.[0-9]{1,6})?$ ]] || { echo "error: --reload-timeout must be a number of seconds, got '$RELOAD_TIMEOUT'" >&2; exit 2; }
  # A rollback only switches links, signals and reads the status file: it runs without
  # Python (and then checks files against the checksum list written at publication).
  HAVE_PY=0
  if [[ -x "$PY" ]]; then HAVE_PY=1; fi
  [[ $HAVE_PY -eq 1 || $ROLLBACK -eq 1 ]] || { echo "error: Python not found at $PY; run scripts/setup.sh or set SIGMAGATE_PYTHON" >&2; exit 2; }
}
