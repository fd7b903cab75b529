#!/usr/bin/env bash
# Export → train → validate → deploy → reload → verify, with automatic rollback.
# A failure exits non-zero and says where models/current is (unchanged, or what it is now).
# Full reference: docs/ML_PIPELINE.md ("Deploying a model").
# The command line is in deploy_args.sh, the switch of models/current (reload, backup,
# automatic rollback, repair, pruning, stale scratch) in deploy_switch.sh,
# --shadow/--promote in deploy_shadow.sh, the freshness check (champion vs challenger on
# the last --fresh-window of outcomes) in deploy_fresh.sh.
set -euo pipefail

ROOT="${SIGMAGATE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PY="${SIGMAGATE_PYTHON:-$ROOT/.venv/bin/python}"
SCRIPTS="$ROOT/scripts"

# The libraries are read from this script's own directory (symlinks resolved), whatever
# the cwd or SIGMAGATE_ROOT.
LIB_DIR="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
source "$LIB_DIR/deploy_args.sh"
source "$LIB_DIR/deploy_switch.sh"
source "$LIB_DIR/deploy_fresh.sh"
parse_args "$@"

# Only a deploy creates the models directory: a rollback or promotion (or a dry run)
# into a directory that does not exist is a mistyped path.
if [[ ! -d "$MODELS_DIR" ]]; then
  if [[ $ROLLBACK -eq 1 || $PROMOTE -eq 1 || $DRY_RUN -eq 1 ]]; then
    echo "error: --models-dir $MODELS_DIR does not exist (only a deploy or --shadow creates it)" >&2
    exit 2
  fi
  mkdir -p "$MODELS_DIR"
fi
MODELS_DIR="$(cd "$MODELS_DIR" && pwd -P)"

# --- logging: everything goes to stderr and the log file; stdout gets only the result line.
mkdir -p "$LOG_DIR"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOG="$LOG_DIR/deploy-$STAMP-$$.log"
exec 3>&1
exec 1> >(tee -a "$LOG" >&2) 2>&1
TEE_PID=$!
TMPBASE="${TMPDIR:-/tmp}"
TMPBASE="${TMPBASE%/}"
START_CURRENT="$(current_version || true)"
cleanup() {
  # Every scratch name carries this pid: remove them whichever way the script ends.
  local f
  for f in "$TMPBASE"/sigmagate-deploy."$$".* "$MODELS_DIR"/.*.tmp."$$" "$MODELS_DIR"/.incoming-"$$" \
    "$MODELS_DIR"/.restore-"$$" "$MODELS_DIR"/.backup/.*.tmp."$$" \
    "$MODELS_DIR"/.sums/.*.tmp."$$"; do
    if [[ -e "$f" || -L "$f" ]]; then chmod -R u+w -- "$f" 2>/dev/null || true; rm -rf -- "$f"; fi
  done
  # Let tee drain, so every line is out before the caller sees the exit status.
  exec 1>&- 2>&-
  wait "$TEE_PID" 2>/dev/null || true
}
trap cleanup EXIT
# printf's own clock: no child process (see the lock note in deploy_switch.sh).
log() { TZ=UTC printf '%(%H:%M:%S)T deploy: %s\n' -1 "$*"; }
# The last words of every failure: where current is now, never a guess.
report_current() {
  local cur
  cur="$(current_version || true)"
  if [[ "$cur" == "$START_CURRENT" ]]; then
    log "models/current is unchanged: ${cur:-none}"
  else
    log "models/current is now: ${cur:-none} (was ${START_CURRENT:-none})"
  fi
}
die() { log "FAILED: $*"; report_current; exit 1; }
# A training outlives a deploy killed by SIGKILL (no trap runs): it would go on
# competing for the CPU with the next deploy's and writing into a scratch directory
# that deploy removes. setpriv (util-linux, like flock) gives it SIGTERM when this
# script dies; the subshell running it execs, so this script is its parent.
ORPHAN_GUARD=()
command -v setpriv >/dev/null 2>&1 && ORPHAN_GUARD=(setpriv --pdeathsig TERM --)
# A model trained on simulated data (manifest data.provenance, docs/MODEL_FORMAT.md)
# goes only into a sandbox: a models directory holding a .sandbox file (the demo's
# build/demo/models), or anywhere with --allow-simulated. Read as JSON with Python, and
# with grep when a rollback runs without it (grep would miss an escaped spelling).
SANDBOX_MARK=".sandbox"
guard_simulated() { # what model_dir version
  local provenance
  if ! { [[ $HAVE_PY -eq 1 ]] && provenance="$(exec 9>&-; checks provenance "$2")"; }; then
    provenance=""
    grep -Eq '"provenance"[[:space:]]*:[[:space:]]*"simulated"' "$2/manifest.json" 2>/dev/null && provenance=simulated
  fi
  [[ "$provenance" == simulated ]] || return 0
  if [[ -f "$MODELS_DIR/$SANDBOX_MARK" ]]; then
    log "$3 was trained on simulated data; $MODELS_DIR is a sandbox ($SANDBOX_MARK)"
  elif [[ $ALLOW_SIMULATED -eq 1 ]]; then
    log "WARNING: $3 was trained on simulated data; putting it in $MODELS_DIR anyway (--allow-simulated)"
  else
    die "$1: $3 was trained on simulated data (manifest data.provenance) and $MODELS_DIR" \
      "has no $SANDBOX_MARK file, so it may serve real trades; use a sandbox models directory" \
      "(touch DIR/$SANDBOX_MARK), or pass --allow-simulated"
  fi
}
# Anything that fails without its own message still says what failed and where current is.
set -E
trap 'rc=$?; log "FAILED: exit $rc at line $LINENO: $BASH_COMMAND"; report_current; exit $rc' ERR
trap 'log "interrupted (SIGINT)"; report_current; exit 130' INT
trap 'log "terminated (SIGTERM)"; report_current; exit 143' TERM
log "log file $LOG"
clean_stale_tmp
# The names deploy switches must be links (or absent): a real directory put there by
# hand would make the switch fail half-way with mv's own message, or be taken for a
# version.
for name in current previous shadow; do
  if [[ -e "$MODELS_DIR/$name" && ! -L "$MODELS_DIR/$name" ]]; then
    die "$MODELS_DIR/$name is a $(if [[ -d "$MODELS_DIR/$name" ]]; then echo directory; else echo file; fi)," \
      "not a symbolic link: deploy manages $name as a link to a version directory in $MODELS_DIR." \
      "Move it aside (a model directory goes to $MODELS_DIR/<its version>, then" \
      "--rollback <its version> serves it) and run again; nothing was changed"
  fi
done
if [[ $DRY_RUN -eq 1 ]]; then
  log "dry run: nothing will be changed"
else
  # One deploy at a time per models directory (fd 9: see deploy_switch.sh). Opened
  # for append, and never through a link: the lock file's content is nobody's.
  [[ ! -L "$MODELS_DIR/.deploy.lock" ]] || die "$MODELS_DIR/.deploy.lock is a symbolic link;" \
    "remove it (deploy creates the lock file itself); nothing was changed"
  exec 9>>"$MODELS_DIR/.deploy.lock"
  flock -n 9 || die "another deploy holds $MODELS_DIR/.deploy.lock"
  clean_stale_models
  START_CURRENT="$(current_version || true)"
fi

TMP="$(mktemp -d "$TMPBASE/sigmagate-deploy.$$.XXXXXX")"

# export_db OUT: the BoltDB's records (--days, --symbol) as JSON Lines in OUT.
export_db() {
  local out="$1" args
  [[ -f "$DB_PATH" ]] || die "BoltDB $DB_PATH not found; pass -b/--db-path or --data"
  EXPORT_BIN="${SIGMAGATE_EXPORT:-$ROOT/build/bin/export}"
  if [[ -z "${SIGMAGATE_EXPORT:-}" ]]; then
    log "building go/cmd/export"
    (exec 9>&-; cd "$ROOT/go" && go build -o "$EXPORT_BIN" ./cmd/export) || die "cannot build go/cmd/export (is Go installed?)"
  fi
  args=(-db "$DB_PATH" -output "$out")
  [[ -n "$DAYS" ]] && args+=(-days "$DAYS")
  [[ -n "$SYMBOL" ]] && args+=(-symbol "$SYMBOL")
  log "export: ${args[*]}"
  "$EXPORT_BIN" "${args[@]}" 9>&- || die "export from $DB_PATH failed (exit $?)"
  local n
  n="$(wc -l <"$out")"
  log "export: $n records"
  [[ "$n" -gt 0 ]] || die "export from $DB_PATH found no records${SYMBOL:+ for symbol $SYMBOL}${DAYS:+ in the last $DAYS days}: nothing to train on"
}

# ---------------------------------------------------------------- rollback mode
# Pure shell: Python only makes the file check stronger (verify_version).
if [[ $ROLLBACK -eq 1 ]]; then
  target="$ROLLBACK_TO"
  [[ -n "$target" ]] || target="$(previous_version || true)"
  [[ -n "$target" ]] || die "--rollback: no previous version recorded in $MODELS_DIR/previous; name one: --rollback VERSION"
  plain_name "$target" || die "--rollback: '$target' is not a version name (one plain name in $MODELS_DIR)"
  [[ ! -L "$MODELS_DIR/$target" ]] || die "--rollback: $MODELS_DIR/$target is a symbolic link;" \
    "a version is a directory of $MODELS_DIR"
  if [[ ! -d "$MODELS_DIR/$target" ]]; then
    archive="$MODELS_DIR/.backup/$target.tar.gz"
    [[ -f "$archive" ]] || die "--rollback: $MODELS_DIR/$target does not exist and there is no backup $archive"
    log "restoring $target from $archive"
    # Extract next to the versions (same filesystem), so the final rename is atomic.
    restore="$MODELS_DIR/.restore-$$"
    [[ $DRY_RUN -eq 1 ]] && restore="$TMP/restore"
    mkdir -p "$restore"
    tar -C "$restore" -xzf "$archive" 9>&- || die "cannot extract $archive"
    [[ -d "$restore/$target" ]] || die "backup $archive does not hold a directory $target"
    verify_version "$restore/$target" "$target" || die "backup $archive is corrupt (see above)"
    guard_simulated --rollback "$restore/$target" "$target"
    guard_feature_order "$restore/$target" "$target"
    if [[ $DRY_RUN -eq 0 ]]; then
      mv -T "$restore/$target" "$MODELS_DIR/$target"
    fi
  else
    verify_version "$MODELS_DIR/$target" "$target" || die "--rollback: $target is not servable (see above)"
    guard_simulated --rollback "$MODELS_DIR/$target" "$target"
    guard_feature_order "$MODELS_DIR/$target" "$target"
  fi
  activate rollback "$target"
  exit 0
fi

# ---------------------------------------------------------------- promote mode
if [[ $PROMOTE -eq 1 ]]; then
  source "$SCRIPTS/deploy_shadow.sh"
  fresh_source
  promote_shadow
  exit 0
fi

# ---------------------------------------------------------------- obtain a model
if [[ -n "$FROM" ]]; then
  [[ -d "$FROM" ]] || die "--from $FROM is not a directory"
  # Checked, and published, as a private copy: a change to --from's files while the
  # checks run cannot reach models/. The copy holds plain files only: a link would
  # publish a file outside models/, which no checksum or backup would then hold.
  SRC="$MODELS_DIR/.incoming-$$/$(basename -- "$(cd "$FROM" && pwd -P)")"
  [[ $DRY_RUN -eq 1 ]] && SRC="$TMP/incoming/${SRC##*/}"
  mkdir -p "$SRC"
  cp -R -- "$FROM/." "$SRC/" 9>&- || die "cannot copy --from $FROM to $SRC"
  odd="$(find "$SRC" -mindepth 1 ! -type f ! -type d -printf '%P' -quit)"
  [[ -z "$odd" ]] || die "--from $FROM: $odd is not a regular file (a symbolic link or special" \
    "file); a model directory holds plain files"
  [[ $SHADOW -eq 1 ]] || fresh_source
else
  if [[ -z "$DATA" ]]; then
    DATA="$TMP/export.jsonl"
    export_db "$DATA"
  fi
  # A file, or a directory of Parquet files (train fit reads both; it names what is wrong).
  [[ -f "$DATA" || -d "$DATA" ]] || die "training data $DATA not found"
  fresh_holdout
  # Train into a scratch directory on the same filesystem, so publishing is a rename.
  OUT="$MODELS_DIR/.incoming-$$"
  [[ $DRY_RUN -eq 1 ]] && OUT="$TMP/models"
  mkdir -p "$OUT"
  fit=("$PY" -m train fit --data "$DATA" --out "$OUT")
  # No --min-auc: train's default is the floor (modelformat's DEFAULT_MIN_AUC).
  if [[ "$MIN_AUC" == none ]]; then fit+=(--min-auc 0); elif [[ -n "$MIN_AUC" ]]; then fit+=(--min-auc "$MIN_AUC"); fi
  [[ -n "$SYMBOL" ]] && fit+=(--symbol "$SYMBOL")
  fit+=("${TRAIN_ARGS[@]}")
  log "train: ${fit[*]}"
  rc=0
  (exec 9>&-; cd "$ROOT" && exec "${ORPHAN_GUARD[@]}" "${fit[@]}") >"$TMP/fit.out" || rc=$?
  case $rc in
    0) ;;
    1) die "train fit: a quality gate failed (exit 1); no model was published" ;;
    2) die "train fit failed with exit 2 (bad input or arguments; see above)" ;;
    4) die "train fit crashed (exit 4: an unexpected error, its traceback is above); no model was published" ;;
    *) die "train fit failed with exit $rc (see above); no model was published" ;;
  esac
  SRC="$(tail -n1 "$TMP/fit.out")"
  [[ -d "$SRC" ]] || die "train fit did not print a model directory (last stdout line: '$SRC')"
fi

# ---------------------------------------------------------------- validate
# The manifest, the version and file names (plain names), every file's sha256 and the
# metric floor: on every path, smoke test or not.
vargs=(--sums "$TMP/sums")
[[ "$MIN_AUC" != none ]] && vargs+=(--min-auc "${MIN_AUC:-default}")
[[ -n "$FROM" ]] && vargs+=(--any-name)  # e.g. a downloaded artifact; published under its version
line="$(exec 9>&-; checks validate "$SRC" "${vargs[@]}")" || die "validation of ${FROM:-$SRC} failed (see above)"
IFS=$'\t' read -r VERSION auc floor <<<"$line"
plain_name "$VERSION" || die "validation of $SRC: '$VERSION' is not a version name"
log "validate: $VERSION manifest ok, every file matches its sha256, metrics.test.auc=$auc (floor $floor)"
if [[ $SHADOW -eq 1 ]]; then guard_simulated --shadow "$SRC" "$VERSION"; else guard_simulated deploy "$SRC" "$VERSION"; fi
guard_feature_order "$SRC" "$VERSION"
if [[ $SKIP_SMOKE -eq 0 ]]; then
  # Smoke-test the variant the running sidecar serves, when we can tell.
  read_status
  variant="$(status_field variant || true)"
  log "smoke test: serving $VERSION in a throw-away sidecar${variant:+ (variant $variant)}"
  smoke_args=("$SRC" --python "$PY")
  [[ -n "$variant" ]] && smoke_args+=(--variant "$variant")
  out="$(exec 9>&-; cd "$ROOT" && "$PY" "$SCRIPTS/smoke_test.py" "${smoke_args[@]}")" || die "smoke test of $VERSION failed (see above)"
  log "smoke test: ok $out"
else
  log "smoke test skipped (--skip-smoke)"
fi

# ---------------------------------------------------------------- freshness (current vs candidate)
[[ $SHADOW -eq 1 ]] || fresh_check "$SRC" "$VERSION"

# ---------------------------------------------------------------- publish (immutable)
DEST="$MODELS_DIR/$VERSION"
if [[ $DRY_RUN -eq 1 ]]; then
  log "dry run: would publish $VERSION as $DEST"
else  # SRC is this deploy's scratch copy (.incoming-PID), never DEST itself
  if [[ -e "$DEST" || -L "$DEST" ]]; then
    if ! { [[ -d "$DEST" && ! -L "$DEST" ]] && cmp -s "$SRC/manifest.json" "$DEST/manifest.json" \
      && verify_version "$DEST" "$VERSION" quick; }; then
      die "$DEST already exists with different content; versions are immutable"
    fi
    log "$VERSION is already published"
  else
    keep_sums "$TMP/sums" "$VERSION" "$SRC"
    mv -T "$SRC" "$DEST"  # same filesystem: the directory appears complete or not at all
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
