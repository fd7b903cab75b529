# shellcheck shell=bash
# Switching models/current for scripts/deploy_model.sh (sourced by it; not run alone):
# the models directory's links and history, the atomic link switch, the sidecar's
# reload (SIGHUP, then wait for its status file), backups, pruning, and activate, which
# switches, reloads and rolls back on refusal. Uses the deploy script's log and die.

checks() { "$PY" "$SCRIPTS/deploy_checks.py" "$@"; }
current_version() { [[ -L "$MODELS_DIR/current" ]] && basename "$(readlink "$MODELS_DIR/current")"; }
shadow_version() { [[ -L "$MODELS_DIR/shadow" ]] && basename "$(readlink "$MODELS_DIR/shadow")"; }
previous_version() { [[ -L "$MODELS_DIR/previous" ]] && basename "$(readlink "$MODELS_DIR/previous")"; }
record_history() { printf '%s\t%s\t%s\t%s\t%s\n' "$STAMP" "$1" "${2:-none}" "$3" "$4" >>"$MODELS_DIR/.deploy_history"; }

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
