# shellcheck shell=bash
# The freshness check for scripts/deploy_model.sh (sourced by it; not run alone): before
# a deploy or --promote switches models/current, the candidate and the current model
# score the last FRESH_WINDOW of outcomes (`train compare`); a candidate significantly
# worse is refused with the figures unless --force. A trained candidate never sees that
# window: fresh_holdout splits it off the training data. Uses log and die
# (deploy_model.sh), current_version and checks' conventions (deploy_switch.sh).
# Reference: docs/ML_PIPELINE.md, "The freshness check".

FRESH=""    # the window's records, once there is one to check on
HELD_OUT=0  # 1: the candidate was trained here without the window (it cannot have seen it)
FRESH_SUMMARY=""  # the comparison's verdict line, for promote_shadow's log line

# fresh_holdout: with a current model to compare with, split the last FRESH_WINDOW off
# $DATA (the training data) into $FRESH.
fresh_holdout() {
  local ext line rc=0 cut n_train n_fresh
  if [[ "$FRESH_WINDOW" == 0 ]]; then log "freshness check off (--fresh-window 0)"; return 0; fi
  if [[ $SHADOW -eq 1 ]]; then
    log "freshness check: not for --shadow (current is not switched); --promote runs it"
    return 0
  fi
  if [[ -z "$(current_version || true)" ]]; then
    log "freshness check skipped: no current model to compare with (first deploy); training on every record"
    return 0
  fi
  ext="${DATA##*.}"
  [[ "$ext" == parquet || "$ext" == pq ]] || ext=jsonl
  [[ -d "$DATA" ]] && ext=d  # a directory of Parquet files: split into two directories
  line="$(exec 9>&-; cd "$ROOT" && "$PY" "$SCRIPTS/fresh_window.py" "$DATA" --window "$FRESH_WINDOW" \
    --train "$TMP/train.$ext" --fresh "$TMP/fresh.$ext")" || rc=$?
  case $rc in
    0)
      IFS=$'\t' read -r cut n_train n_fresh <<<"$line"
      log "freshness: holding out the last $FRESH_WINDOW of $DATA ($n_fresh records from $cut on) for the check; training on the $n_train before it"
      DATA="$TMP/train.$ext"; FRESH="$TMP/fresh.$ext"; HELD_OUT=1 ;;
    3)
      # A current model is there to be compared with: a candidate trained on too little
      # data to hold the window out is the weakest kind, so it is not deployed unjudged.
      if [[ $FORCE -eq 1 ]]; then
        log "FORCED (--force): freshness check skipped: $line; training on every record"
      else
        die "freshness: cannot judge the candidate against $(current_version): $line; give more data (-d DAYS), a shorter --fresh-window, or --force"
      fi ;;
    *) die "cannot hold out the last $FRESH_WINDOW of $DATA (see above)" ;;
  esac
}

# fresh_source: for --from and --promote, the freshest outcomes: --data if given, else an
# export of the DB if one was given (-b/--db-path or SIGMAGATE_DB), else none (logged).
fresh_source() {
  if [[ "$FRESH_WINDOW" == 0 ]]; then log "freshness check off (--fresh-window 0)"; return 0; fi
  if [[ -z "$(current_version || true)" ]]; then
    log "freshness check skipped: no current model to compare with (first deploy)"
    return 0
  fi
  if [[ -n "$DATA" ]]; then
    [[ -f "$DATA" || -d "$DATA" ]] || die "--data $DATA not found"
    FRESH="$DATA"
  elif [[ $DB_GIVEN -eq 1 ]]; then
    export_db "$TMP/fresh.jsonl"
    FRESH="$TMP/fresh.jsonl"
  else
    log "freshness check skipped: no recent outcomes to score (give -b/--db-path or --data)"
  fi
}

# fresh_check DIR VERSION: compare current (champion) with the candidate in DIR on the
# last FRESH_WINDOW of $FRESH; refuse it (die) if it is significantly worse, unless --force.
fresh_check() {
  local cand="$1" version="$2" cur out rc=0
  [[ -n "$FRESH" ]] || return 0
  cur="$(current_version || true)"
  if [[ -z "$cur" || "$cur" == "$version" ]]; then
    log "freshness check skipped: ${cur:+$cur is already current}${cur:-no current model}"
    return 0
  fi
  log "freshness: $version (challenger) vs $cur (champion) on the last $FRESH_WINDOW of $FRESH"
  out="$(exec 9>&-; cd "$ROOT" && "$PY" -m train --log-level ERROR compare --champion "$MODELS_DIR/$cur" \
    --challenger "$cand" --data "$FRESH" --window "$FRESH_WINDOW" --json "$TMP/compare.json")" || rc=$?
  local l
  while IFS= read -r l; do [[ -z "$l" ]] || log "freshness: $l"; done <<<"$out"
  # shellcheck disable=SC2034  # read by promote_shadow (deploy_shadow.sh)
  FRESH_SUMMARY="$(grep -m1 '^verdict:' <<<"$out" || true)"
  if [[ $rc -eq 0 || $rc -eq 3 ]] && grep -q '^SUSPICIOUS' <<<"$out"; then
    log "WARNING: freshness: $version is SUSPICIOUSLY better on the fresh window than on its own test split (see above)"
    if [[ $HELD_OUT -eq 1 ]]; then
      # This deploy held the window out of training: leaked features are the likely cause.
      if [[ $FORCE -eq 1 ]]; then
        log "FORCED (--force): deploying the suspicious candidate $version"
      else
        die "freshness: $version scores suspiciously well on records it was never trained on (leaked features?); override with --force"
      fi
    fi
  fi
  case $rc in
    0)
      if grep -q '^verdict: not judged' <<<"$FRESH_SUMMARY"; then
        log "WARNING: freshness check not judged: the last $FRESH_WINDOW is too short for an interval (see above); deploying on the other checks"
      else
        log "freshness: $version is not significantly worse than $cur"
      fi ;;
    3)
      if [[ $FORCE -eq 1 ]]; then
        log "FORCED (--force): deploying $version although it is significantly worse than $cur on the last $FRESH_WINDOW"
      else
        die "freshness: $version is significantly worse than $cur on the last $FRESH_WINDOW of outcomes (figures above); override with --force"
      fi ;;
    *)
      if [[ $FORCE -eq 1 ]]; then
        log "FORCED (--force): freshness check skipped: train compare could not compare the models (exit $rc, see above)"
      else
        die "freshness: train compare could not compare $version with $cur (exit $rc, see above); override with --force"
      fi ;;
  esac
}
