#!/usr/bin/env bash
# Export → train → validate → deploy → reload → verify, with automatic rollback.
# Every failure leaves models/current where it was and exits non-zero.
# Full reference: docs/ML_PIPELINE.md ("Deploying a model").
# The command line is in deploy_args.sh, the switch of models/current (reload, backup,
# automatic rollback, pruning) in deploy_switch.sh, --shadow/--promote in deploy_shadow.sh.
set -euo pipefail

ROOT="${SIGMAGATE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
PY="${SIGMAGATE_PYTHON:-$ROOT/.venv/bin/python}"
SCRIPTS="$ROOT/scripts"

# The libraries are read from this script's own directory (symlinks resolved), whatever
# the cwd or SIGMAGATE_ROOT.
LIB_DIR="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
source "$LIB_DIR/deploy_args.sh"
source "$LIB_DIR/deploy_switch.sh"
parse_args "$@"

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

[[ -n "$MIN_AUC" ]] || MIN_AUC="$(checks default-min-auc)" || die "cannot read the default --min-auc"

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
