#!/usr/bin/env bash
# Export → train → validate → deploy → reload → verify, with automatic rollback.
# Every failure leaves models/current where it was and exits non-zero.
# Full reference: docs/ML_PIPELINE.md ("Deploying a model").
set -euo pipefail

ROOT="${SIGMAGATE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PY="${SIGMAGATE_PYTHON:-$ROOT/.venv/bin/python}"
SCRIPTS="$ROOT/scripts"

usage() {
  cat <<EOF
usage: scripts/deploy_model.sh [options]

Train a model from the bot's BoltDB, validate it, switch models/current to it and
hot-reload the running sidecar; roll back automatically if the sidecar refuses it.

data and training:
  -b, --db-path FILE      BoltDB to export (env SIGMAGATE_DB; default data/features.db)
  -d, --days N            export only the last N days (default: all)
  -s, --symbol SYM        export and train on one symbol only
      --data FILE         skip the export; train on this JSON Lines/Parquet file
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
deployment:
      --models-dir DIR    versions + current symlink (env SIGMAGATE_MODELS_DIR; default models/)
      --keep N            keep the newest N versions, never current or previous (default 5)
      --keep-backups N    archives kept in MODELS_DIR/.backup/ (default 10)
      --no-backup         do not archive the outgoing version to MODELS_DIR/.backup/
      --no-restart        switch current but do not signal the sidecar
      --pidfile FILE      the sidecar's --pidfile (env SIGMAGATE_PIDFILE; default run/infer.pid)
      --status-file FILE  the sidecar's --status-file (env SIGMAGATE_STATUS_FILE;
                          default run/infer.status.json)
      --reload-timeout S  how long to wait for the sidecar to confirm (default 30)
      --rollback [VER]    switch current back to VER (default: the previous version)
shadow deployment (docs/ML_PIPELINE.md, "Shadow deployment"):
      --shadow            validate and publish the model as usual, but point models/shadow
                          at it instead of current: the predictor scores it on live
                          decisions (never changing them) and writes shadow-report.json
      --promote           switch current to the shadow model (backup, reload, automatic
                          rollback as a deploy) if its shadow-report.json shows enough
                          decisions and the criteria below hold; else refuse with the figures
      --force             with --promote: promote even if the criteria do not hold (logged)
      --min-decisions N   decisions the shadow must have answered (default 1000)
      --min-agreement X   share of decisions where shadow and live agree (default 0.8)
      --approval-band L,H shadow's live approval rate within L..H x its test-split rate
                          (manifest reference; the live model's rate if it has none; default 0.5,2)
      --dry-run           do every check, change nothing, say what would happen
      --log-dir DIR       where deploy-<timestamp>.log goes (env SIGMAGATE_LOG_DIR; default logs/)
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
SHADOW=0; PROMOTE=0; FORCE=0; MIN_DECISIONS=1000; MIN_AGREEMENT=0.8; APPROVAL_BAND=0.5,2

need() { [[ $# -ge 2 && -n "$2" ]] || { echo "error: $1 needs a value (see --help)" >&2; exit 2; }; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    -b|--db-path) need "$@"; DB_PATH="$2"; shift ;;
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
    --shadow) SHADOW=1 ;;
    --promote) PROMOTE=1 ;;
    --force) FORCE=1 ;;
    --min-decisions) need "$@"; MIN_DECISIONS="$2"; shift ;;
    --min-agreement) need "$@"; MIN_AGREEMENT="$2"; shift ;;
    --approval-band) need "$@"; APPROVAL_BAND="$2"; shift ;;
    --log-dir) need "$@"; LOG_DIR="$2"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "error: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ "$KEEP" =~ ^[0-9]+$ && "$KEEP" -ge 2 ]] || { echo "error: --keep must be an integer >= 2, got '$KEEP'" >&2; exit 2; }
[[ "$KEEP_BACKUPS" =~ ^[0-9]+$ ]] || { echo "error: --keep-backups must be an integer, got '$KEEP_BACKUPS'" >&2; exit 2; }
[[ -z "$DAYS" || "$DAYS" =~ ^[0-9]+$ ]] || { echo "error: --days must be a whole number of days, got '$DAYS'" >&2; exit 2; }
[[ -z "$MIN_AUC" || "$MIN_AUC" == none || "$MIN_AUC" =~ ^(0|1)?(\.[0-9]+)?$ ]] || { echo "error: --min-auc must be a number in [0, 1] or 'none', got '$MIN_AUC'" >&2; exit 2; }
[[ $((SHADOW + PROMOTE + ROLLBACK)) -le 1 ]] || { echo "error: --shadow, --promote and --rollback exclude each other" >&2; exit 2; }
[[ $FORCE -eq 0 || $PROMOTE -eq 1 ]] || { echo "error: --force goes with --promote" >&2; exit 2; }
[[ "$MIN_DECISIONS" =~ ^[0-9]+$ ]] || { echo "error: --min-decisions must be a whole number, got '$MIN_DECISIONS'" >&2; exit 2; }
[[ -x "$PY" ]] || { echo "error: Python not found at $PY; run scripts/setup.sh or set SIGMAGATE_PYTHON" >&2; exit 2; }

# --- logging: everything goes to stderr and the log file; stdout gets only the result line.
mkdir -p "$LOG_DIR" "$MODELS_DIR"
MODELS_DIR="$(cd "$MODELS_DIR" && pwd -P)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$LOG_DIR/deploy-$STAMP-$$.log"
exec 3>&1
exec 1> >(tee -a "$LOG" >&2) 2>&1
TEE_PID=$!
CLEANUP=()
cleanup() {
  rm -rf -- "${CLEANUP[@]}"
  # Let tee drain, so every line is out before the caller sees the exit status.
  exec 1>&- 2>&-
  wait "$TEE_PID" 2>/dev/null || true
}
trap cleanup EXIT
log() { printf '%s deploy: %s\n' "$(date -u +%H:%M:%S)" "$*"; }
die() { log "FAILED: $*"; log "models/current is unchanged: $(current_version || echo none)"; exit 1; }
# Anything that fails without its own message still says what failed and where current is.
set -E
trap 'rc=$?; log "FAILED: exit $rc at line $LINENO: $BASH_COMMAND"; log "models/current is now: $(current_version || echo none)"; exit $rc' ERR
log "log file $LOG"
if [[ $DRY_RUN -eq 1 ]]; then
  log "dry run: nothing will be changed"
else
  # One deploy at a time per models directory.
  exec 9>"$MODELS_DIR/.deploy.lock"
  flock -n 9 || { log "FAILED: another deploy holds $MODELS_DIR/.deploy.lock"; exit 1; }
fi

TMP="$(mktemp -d "${TMPDIR:-/tmp}/sigmagate-deploy.XXXXXX")"
CLEANUP+=("$TMP")

checks() { "$PY" "$SCRIPTS/deploy_checks.py" "$@"; }
current_version() { [[ -L "$MODELS_DIR/current" ]] && basename "$(readlink "$MODELS_DIR/current")"; }
shadow_version() { [[ -L "$MODELS_DIR/shadow" ]] && basename "$(readlink "$MODELS_DIR/shadow")"; }
previous_version() { [[ -L "$MODELS_DIR/previous" ]] && basename "$(readlink "$MODELS_DIR/previous")"; }
record_history() { printf '%s\t%s\t%s\t%s\t%s\n' "$STAMP" "$1" "${2:-none}" "$3" "$4" >>"$MODELS_DIR/.deploy_history"; }
[[ -n "$MIN_AUC" ]] || MIN_AUC="$(checks default-min-auc)" || die "cannot read the default --min-auc"

# Atomic symlink switch: a new link under a temporary name, renamed over the old one.
switch_link() { # name version
  ln -s "$2" "$MODELS_DIR/.$1.tmp.$$"
  mv -T "$MODELS_DIR/.$1.tmp.$$" "$MODELS_DIR/$1"
}

sidecar_pid() {
  [[ -f "$PIDFILE" ]] || return 1
  local pid; pid="$(tr -dc '0-9' <"$PIDFILE")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  # A pidfile left by a killed sidecar may name a pid the system has since reused.
  if [[ -r "/proc/$pid/cmdline" ]] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q infer; then
    return 1
  fi
  echo "$pid"
}

# SIGHUP the sidecar and wait for its status file to report VERSION. Returns 1 on
# refusal or timeout (the message is logged), 0 on success or when nothing runs.
reload_sidecar() { # version
  local pid token
  if ! pid="$(sidecar_pid)"; then
    log "no running sidecar (pidfile $PIDFILE missing or stale); it will load current when it starts"
    return 0
  fi
  token="$(checks status-token "$STATUS_FILE")"
  log "SIGHUP sidecar pid $pid; waiting up to ${RELOAD_TIMEOUT}s for $STATUS_FILE to report $1"
  kill -HUP "$pid"
  local status
  if status="$(checks wait-status "$STATUS_FILE" --version "$1" --since "$token" --timeout "$RELOAD_TIMEOUT")"; then
    log "sidecar reports $status"
    return 0
  fi
  return 1
}

backup_version() { # version: archive the outgoing version so pruning never loses it
  local v="$1" dest="$MODELS_DIR/.backup"
  [[ $BACKUP -eq 1 && -n "$v" && -d "$MODELS_DIR/$v" ]] || return 0
  mkdir -p "$dest"
  if [[ ! -f "$dest/$v.tar.gz" ]]; then
    tar -C "$MODELS_DIR" -czf "$dest/.$v.tar.gz.tmp" "$v"
    mv -T "$dest/.$v.tar.gz.tmp" "$dest/$v.tar.gz"
    log "backup: archived $v to $dest/$v.tar.gz"
  fi
  # Newest archives first; keep KEEP_BACKUPS of them.
  local n=0 f
  while IFS= read -r f; do
    n=$((n + 1))
    if [[ $n -gt $KEEP_BACKUPS ]]; then rm -f -- "$f"; log "backup: pruned $(basename "$f")"; fi
  done < <(ls -1t "$dest"/*.tar.gz 2>/dev/null || true)
  return 0
}

prune_versions() { # keep the newest KEEP model directories, never current or previous
  local cur prev shadow n=0 d name
  cur="$(current_version || true)"; prev="$(previous_version || true)"; shadow="$(shadow_version || true)"
  while IFS= read -r d; do
    name="$(basename "$d")"
    [[ -f "$d/manifest.json" ]] || continue
    n=$((n + 1))
    if [[ $n -le $KEEP || "$name" == "$cur" || "$name" == "$prev" || "$name" == "$shadow" ]]; then continue; fi
    chmod -R u+w "$d"
    rm -rf -- "$d"
    log "pruned old version $name"
  done < <(find "$MODELS_DIR" -mindepth 1 -maxdepth 1 -type d ! -name '.*' -printf '%T@ %p\n' | sort -rn | cut -d' ' -f2-)
  return 0
}

# Switch current to NEW, reload, roll back on refusal. ACTION names it in the history.
activate() { # action new_version
  local action="$1" new="$2" old prev_before
  old="$(current_version || true)"
  prev_before="$(previous_version || true)"
  if [[ "$old" == "$new" ]]; then
    log "$new is already current; nothing to switch"
    echo "$new" >&3
    return 0
  fi
  if [[ $DRY_RUN -eq 1 ]]; then
    log "dry run: would switch current ${old:-<none>} -> $new, set previous -> ${old:-<none>}," \
      "$([[ $RESTART -eq 1 ]] && echo "SIGHUP the sidecar" || echo "not signal the sidecar")," \
      "keep $KEEP versions"
    echo "${old:-none}" >&3
    return 0
  fi
  if [[ $RESTART -eq 1 ]] && sidecar_pid >/dev/null && [[ ! -f "$STATUS_FILE" ]]; then
    die "a sidecar is running (pidfile $PIDFILE) but its status file $STATUS_FILE does not exist;" \
      "start infer with --status-file $STATUS_FILE or pass --status-file, so the reload can be verified"
  fi
  if [[ -n "$old" ]]; then backup_version "$old"; fi
  switch_link current "$new"
  if [[ -n "$old" ]]; then switch_link previous "$old"; fi
  log "switched current: ${old:-<none>} -> $new"
  if [[ $RESTART -eq 1 ]] && ! reload_sidecar "$new"; then
    if [[ -z "$old" ]]; then
      rm -f "$MODELS_DIR/current"
      record_history "$action" "" "$new" "refused"
      log "FAILED: the sidecar refused $new; removed current (there was none before)"
      exit 1
    fi
    log "automatic rollback: switching current back to $old"
    switch_link current "$old"
    if [[ -n "$prev_before" ]]; then switch_link previous "$prev_before"; else rm -f "$MODELS_DIR/previous"; fi
    if reload_sidecar "$old"; then
      log "rolled back: sidecar serves $old again"
    else
      log "WARNING: sidecar did not confirm $old after rollback; check $STATUS_FILE"
    fi
    record_history "$action" "$old" "$new" "rolled-back"
    log "FAILED: the sidecar refused $new; current is $old (automatic rollback)"
    exit 1
  fi
  # Verify: what the sidecar serves and what current points to agree.
  [[ "$(current_version)" == "$new" ]] || die "current does not point to $new after the switch"
  record_history "$action" "$old" "$new" "ok"
  prune_versions
  log "done: current is $new"
  echo "$new" >&3
}

# ---------------------------------------------------------------- rollback mode
if [[ $ROLLBACK -eq 1 ]]; then
  target="$ROLLBACK_TO"
  [[ -n "$target" ]] || target="$(previous_version || true)"
  [[ -n "$target" ]] || die "--rollback: no previous version recorded in $MODELS_DIR/previous; name one: --rollback VERSION"
  if [[ ! -d "$MODELS_DIR/$target" ]]; then
    archive="$MODELS_DIR/.backup/$target.tar.gz"
    [[ -f "$archive" ]] || die "--rollback: $MODELS_DIR/$target does not exist and there is no backup $archive"
    log "restoring $target from $archive"
    # Extract next to the versions (same filesystem), so the final rename is atomic.
    restore="$MODELS_DIR/.restore-$$"
    [[ $DRY_RUN -eq 1 ]] && restore="$TMP/restore"
    CLEANUP+=("$MODELS_DIR/.restore-$$")
    mkdir -p "$restore"
    tar -C "$restore" -xzf "$archive"
    checks verify-files "$restore/$target" || die "backup $archive is corrupt (see above)"
    if [[ $DRY_RUN -eq 0 ]]; then
      mv -T "$restore/$target" "$MODELS_DIR/$target"
    fi
  fi
  if [[ $DRY_RUN -eq 0 || -d "$MODELS_DIR/$target" ]]; then
    checks validate "$MODELS_DIR/$target" >/dev/null || die "--rollback: $target is not servable (see above)"
  fi
  activate rollback "$target"
  exit 0
fi

# ---------------------------------------------------------------- promote mode
if [[ $PROMOTE -eq 1 ]]; then
  source "$SCRIPTS/deploy_shadow.sh"
  promote_shadow
  exit 0
fi

# ---------------------------------------------------------------- obtain a model
if [[ -n "$FROM" ]]; then
  [[ -d "$FROM" ]] || die "--from $FROM is not a directory"
  SRC="$(cd "$FROM" && pwd -P)"
else
  if [[ -z "$DATA" ]]; then
    [[ -f "$DB_PATH" ]] || die "BoltDB $DB_PATH not found; pass -b/--db-path or --data"
    EXPORT_BIN="${SIGMAGATE_EXPORT:-$ROOT/build/bin/export}"
    if [[ -z "${SIGMAGATE_EXPORT:-}" ]]; then
      log "building go/cmd/export"
      (cd "$ROOT/go" && go build -o "$EXPORT_BIN" ./cmd/export) || die "cannot build go/cmd/export (is Go installed?)"
    fi
    DATA="$TMP/export.jsonl"
    args=(-db "$DB_PATH" -output "$DATA")
    [[ -n "$DAYS" ]] && args+=(-days "$DAYS")
    [[ -n "$SYMBOL" ]] && args+=(-symbol "$SYMBOL")
    log "export: ${args[*]}"
    "$EXPORT_BIN" "${args[@]}" || die "export from $DB_PATH failed (exit $?)"
    log "export: $(wc -l <"$DATA") records"
  fi
  [[ -f "$DATA" ]] || die "training data $DATA not found"
  # Train into a scratch directory on the same filesystem, so publishing is a rename.
  OUT="$MODELS_DIR/.incoming-$$"
  [[ $DRY_RUN -eq 1 ]] && OUT="$TMP/models"
  mkdir -p "$OUT"
  CLEANUP+=("$MODELS_DIR/.incoming-$$")
  fit=("$PY" -m train fit --data "$DATA" --out "$OUT")
  if [[ "$MIN_AUC" == none ]]; then fit+=(--min-auc 0); else fit+=(--min-auc "$MIN_AUC"); fi
  [[ -n "$SYMBOL" ]] && fit+=(--symbol "$SYMBOL")
  fit+=("${TRAIN_ARGS[@]}")
  log "train: ${fit[*]}"
  rc=0
  (cd "$ROOT" && "${fit[@]}") >"$TMP/fit.out" || rc=$?
  case $rc in
    0) ;;
    1) die "train fit: a quality gate failed (exit 1); no model was published" ;;
    *) die "train fit failed with exit $rc (bad input or arguments; see above)" ;;
  esac
  SRC="$(tail -n1 "$TMP/fit.out")"
  [[ -d "$SRC" ]] || die "train fit did not print a model directory (last stdout line: '$SRC')"
fi

# ---------------------------------------------------------------- validate
vargs=(); [[ "$MIN_AUC" != none ]] && vargs=(--min-auc "$MIN_AUC")
[[ -n "$FROM" ]] && vargs+=(--any-name)  # e.g. a downloaded artifact; published under its version
VERSION="$(checks validate "$SRC" "${vargs[@]}")" || die "validation of $SRC failed (see above)"
log "validate: $VERSION manifest ok, metrics.test.auc=$(checks field "$SRC" metrics.test.auc) (floor $MIN_AUC)"
if [[ $SKIP_SMOKE -eq 0 ]]; then
  variant=""
  # Smoke-test the variant the running sidecar serves, when we can tell.
  if [[ -f "$STATUS_FILE" ]]; then
    variant="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("variant") or "")' "$STATUS_FILE" 2>/dev/null || true)"
  fi
  log "smoke test: serving $VERSION in a throw-away sidecar${variant:+ (variant $variant)}"
  smoke_args=("$SRC" --python "$PY")
  [[ -n "$variant" ]] && smoke_args+=(--variant "$variant")
  out="$(cd "$ROOT" && "$PY" "$SCRIPTS/smoke_test.py" "${smoke_args[@]}")" || die "smoke test of $VERSION failed (see above)"
  log "smoke test: ok $out"
else
  log "smoke test skipped (--skip-smoke)"
fi

# ---------------------------------------------------------------- publish (immutable)
DEST="$MODELS_DIR/$VERSION"
if [[ $DRY_RUN -eq 1 ]]; then
  log "dry run: would publish $VERSION as $DEST"
elif [[ "$SRC" != "$DEST" ]]; then
  if [[ -e "$DEST" ]]; then
    checks verify-files "$DEST" >/dev/null && cmp -s "$SRC/manifest.json" "$DEST/manifest.json" \
      || die "$DEST already exists with different content; versions are immutable"
    log "$VERSION is already published"
  elif [[ "$SRC" == "$MODELS_DIR/.incoming-$$/"* ]]; then
    mv -T "$SRC" "$DEST"  # same filesystem: the directory appears complete or not at all
    log "published $DEST"
  else
    cp -a "$SRC" "$MODELS_DIR/.publish-$$"
    mv -T "$MODELS_DIR/.publish-$$" "$DEST"
    log "published $DEST"
  fi
fi
# Immutable: the files are read-only from here on (pruning restores write access).
if [[ $DRY_RUN -eq 0 ]]; then chmod a-w "$DEST"/*; fi

if [[ $SHADOW -eq 1 ]]; then
  source "$SCRIPTS/deploy_shadow.sh"
  install_shadow "$VERSION"
  exit 0
fi
activate deploy "$VERSION"
