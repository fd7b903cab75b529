# shellcheck shell=bash
# Shadow deployment for scripts/deploy_model.sh (sourced by it; not run alone):
# --shadow installs a validated model at models/shadow, --promote switches current
# to it when its live record (shadow-report.json, written by go/predictor) holds.
# Uses log and die (deploy_model.sh) and checks, switch_link, record_history, activate
# (deploy_switch.sh), fresh_check (deploy_fresh.sh: the shadow is also scored against
# current on the freshest outcomes before it is promoted).

SHADOW_REPORT="$MODELS_DIR/shadow-report.json"

# install_shadow VERSION: point models/shadow at a published version; current is untouched.
install_shadow() {
  local new="$1" cur old
  cur="$(current_version || true)"
  old="$(shadow_version || true)"
  [[ "$new" != "$cur" ]] || die "$new is already current; a shadow must be another model"
  if [[ $DRY_RUN -eq 1 ]]; then
    log "dry run: would point shadow ${old:-<none>} -> $new; current stays ${cur:-<none>}"
    echo "${old:-none}" >&3
    return 0
  fi
  switch_link shadow "$new"
  # The figures of an earlier shadow are not this one's; the predictor starts a new report.
  rm -f -- "$SHADOW_REPORT"
  record_history shadow "$old" "$new" "ok"
  log "shadow: ${old:-<none>} -> $new; current stays ${cur:-<none>}"
  log "the predictor scores $new on live decisions (within seconds) and writes $SHADOW_REPORT;"
  log "promote it with --promote once it has seen $MIN_DECISIONS decisions"
  echo "$new" >&3
}

# promote_shadow: the shadow becomes current (as a deploy: backup, reload, rollback
# on refusal) if its report meets the criteria, or with --force; then the shadow
# link is removed. Refuses, with the figures, otherwise.
promote_shadow() {
  local target verdict rc=0
  target="$(shadow_version || true)"
  [[ -n "$target" ]] || die "--promote: there is no shadow model ($MODELS_DIR/shadow); install one with --shadow"
  plain_name "$target" || die "--promote: shadow points to '$target', which is not a version name"
  [[ -d "$MODELS_DIR/$target" && ! -L "$MODELS_DIR/$target" ]] || die "--promote: shadow points to $target, which is not a directory in $MODELS_DIR"
  verify_version "$MODELS_DIR/$target" "$target" || die "--promote: $target is not servable (see above)"
  guard_simulated --promote "$MODELS_DIR/$target" "$target"
  guard_feature_order "$MODELS_DIR/$target" "$target"
  verdict="$(exec 9>&-; "$PY" "$SCRIPTS/shadow_checks.py" "$SHADOW_REPORT" --version "$target" --model-dir "$MODELS_DIR/$target" \
    --min-decisions "$MIN_DECISIONS" --min-agreement "$MIN_AGREEMENT" --approval-band "$APPROVAL_BAND")" || rc=$?
  case $rc in
    0) log "shadow criteria hold: $verdict" ;;
    1)
      if [[ $FORCE -eq 1 ]]; then
        log "FORCED promotion (--force) although the shadow criteria do not hold: $verdict"
      else
        [[ $DRY_RUN -eq 1 ]] || record_history promote "$(current_version || true)" "$target" "refused"
        die "--promote: $target does not meet the shadow criteria: $verdict" \
          "(wait for more live decisions, or override with --force)"
      fi ;;
    *) die "--promote: cannot check the shadow report (exit $rc): $verdict" ;;
  esac
  fresh_check "$MODELS_DIR/$target" "$target"
  [[ -z "${FRESH_SUMMARY:-}" ]] || log "promote $target: shadow criteria: $verdict; freshness $FRESH_SUMMARY"
  activate promote "$target"
  if [[ $DRY_RUN -eq 0 ]]; then
    rm -f -- "$MODELS_DIR/shadow"
    log "shadow link removed: $target is current now"
  fi
}
