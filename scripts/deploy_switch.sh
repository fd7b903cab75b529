# shellcheck shell=bash
# Switching models/current for scripts/deploy_model.sh (sourced by it; not run alone):
# the models directory's links and history, the atomic link switch, finding the
# sidecar and reloading it (SIGHUP, then wait for its status file), backups, pruning,
# cleaning what killed deploys left, and activate, which switches, reloads, rolls back
# on refusal and repairs a sidecar left behind by an interrupted deploy. Uses the
# deploy script's log and die.
#
# fd 9 holds the deploy lock. No child may keep it: one left running by a killed
# deploy would lock the next one out. Commands that can run for a while are given
# `9>&-`; a command substitution around one starts with `exec 9>&-`, because the
# subshell itself would otherwise hold the lock until its child finished.

checks() { "$PY" "$SCRIPTS/deploy_checks.py" "$@" 9>&-; }

# plain_name NAME: NAME can be a version: one path component, as deploy_checks.py checks.
plain_name() {
  [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ && "$1" != current && "$1" != previous && "$1" != shadow ]]
}

# link_target NAME: the version the link NAME names. A link written by hand with a path
# (absolute, or through ./) to a directory of this models directory reads as that
# version's name; any other path is returned as it is, and is no version name.
link_target() {
  local t r
  [[ -L "$MODELS_DIR/$1" ]] || return 1
  t="$(readlink -- "$MODELS_DIR/$1")"
  if [[ "$t" == */* ]]; then
    r="$(readlink -m -- "$MODELS_DIR/$1")"
    [[ "$(dirname -- "$r")" == "$MODELS_DIR" && -d "$r" && ! -L "$r" ]] && t="$(basename -- "$r")"
  fi
  printf '%s\n' "$t"
}
current_version() { link_target current; }
previous_version() { link_target previous; }
shadow_version() { link_target shadow; }
# Never fails: the history is a record, and a deploy that has switched current must
# still say so (exit 0) when it cannot append to it.
record_history() {
  { printf '%s\t%s\t%s\t%s\t%s\n' "$STAMP" "$1" "${2:-none}" "$3" "$4" >>"$MODELS_DIR/.deploy_history"; } 2>/dev/null \
    || log "WARNING: cannot append to $MODELS_DIR/.deploy_history ($1 ${2:-none} -> $3: $4)"
}

# Atomic symlink switch: a new link under a temporary name (carrying this pid, so the
# next deploy can remove it if this one is killed), renamed over the old one.
switch_link() { # name version
  rm -f -- "$MODELS_DIR/.$1.tmp.$$"
  ln -s "$2" "$MODELS_DIR/.$1.tmp.$$"
  mv -T "$MODELS_DIR/.$1.tmp.$$" "$MODELS_DIR/$1"
}

pid_alive() {
  if [[ -d /proc/self ]]; then [[ -d "/proc/$1" ]]; else kill -0 "$1" 2>/dev/null; fi
}

# is_sidecar PID: PID runs infer (a pid named by a dead sidecar's file may be reused).
is_sidecar() {
  [[ "$1" =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null || return 1
  [[ -r "/proc/$1/cmdline" ]] || return 0
  [[ "$(tr '\0' ' ' <"/proc/$1/cmdline")" == *infer* ]]
}

# --- the status file (flat JSON written by infer/status.py), read without Python.
STATUS=""
read_status() {
  STATUS=""
  if [[ -f "$STATUS_FILE" ]]; then { STATUS="$(<"$STATUS_FILE")"; } 2>/dev/null || STATUS=""; fi
  return 0
}
# status_field KEY: KEY's value in $STATUS (a string without escapes, a number, or
# empty for null); fails if the key is absent.
status_field() {
  local re="\"$1\": (\"([^\"\\\\]*)\"|-?[0-9]+|null|true|false)"
  [[ $STATUS =~ $re ]] || return 1
  if [[ "${BASH_REMATCH[1]}" == \"* ]]; then printf '%s' "${BASH_REMATCH[2]}"
  elif [[ "${BASH_REMATCH[1]}" != null ]]; then printf '%s' "${BASH_REMATCH[1]}"; fi
}
status_ok() { [[ $STATUS == *'"last_error": null'* ]]; }

sidecar_pid() { # the pid the pidfile names, if it is a live sidecar
  local pid=""
  [[ -f "$PIDFILE" ]] || return 1
  { pid="$(<"$PIDFILE")"; } 2>/dev/null || return 1
  pid="${pid//[^0-9]/}"
  is_sidecar "$pid" || return 1
  echo "$pid"
}

# serving_sidecar_pid: the pid the status file names, if it is a live sidecar whose
# --model lies in this models directory (it serves this directory's current).
serving_sidecar_pid() {
  local pid model
  read_status
  pid="$(status_field pid)" && model="$(status_field model)" || return 1
  [[ -n "$pid" && -n "$model" ]] && is_sidecar "$pid" || return 1
  [[ "$(readlink -f -- "$(dirname -- "$model")")" == "$MODELS_DIR" ]] || return 1
  echo "$pid"
}

# locate_sidecar: SIDECAR_PID = the sidecar to signal, "" if none runs; returns 1
# (logged) when one serves this models directory but the pidfile does not name it.
locate_sidecar() {
  local pid
  SIDECAR_PID=""
  if pid="$(sidecar_pid)"; then SIDECAR_PID="$pid"; return 0; fi
  if pid="$(serving_sidecar_pid)"; then
    log "a sidecar (pid $pid, per $STATUS_FILE) serves $MODELS_DIR, but the pidfile $PIDFILE" \
      "does not name it (missing, stale or another process's): the bot was NOT reached"
    return 1
  fi
  return 0
}

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }
seconds_to_us() { # "2.5" -> 2500000
  local i="${1%%.*}" f=""
  [[ "$1" == *.* ]] && f="${1#*.}"
  f="${f}000000"
  echo $((10#$i * 1000000 + 10#${f:0:6}))
}

# wait_status VERSION BEFORE PID: wait until the status file differs from BEFORE (its
# content before the SIGHUP) and reports VERSION without an error; STATUS holds it.
wait_status() {
  local want="$1" before="$2" pid="$3" deadline
  deadline=$(($(now_us) + $(seconds_to_us "$RELOAD_TIMEOUT")))
  while :; do
    read_status
    if [[ -n "$STATUS" && "$STATUS" != "$before" ]]; then
      if ! status_ok; then
        log "$STATUS_FILE: sidecar refused version $want (still serving" \
          "$(status_field version || echo '?')): $STATUS"
        return 1
      fi
      [[ "$(status_field version)" == "$want" ]] && return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      log "sidecar pid $pid exited before reporting version $want"
      return 1
    fi
    if (($(now_us) >= deadline)); then
      log "$STATUS_FILE: sidecar did not report version $want within $RELOAD_TIMEOUT s" \
        "(last status: ${STATUS:-none})"
      return 1
    fi
    sleep 0.05 9>&-
  done
}

# SIGHUP the sidecar and wait for its status file to report VERSION. Returns 1 on
# refusal, timeout or a sidecar it cannot reach (logged), 0 on success or when none runs.
reload_sidecar() { # version
  local want="$1" pid before
  locate_sidecar || return 1
  pid="$SIDECAR_PID"
  if [[ -z "$pid" ]]; then
    log "no running sidecar (pidfile $PIDFILE missing or stale, and $STATUS_FILE names no live" \
      "sidecar of $MODELS_DIR); it will load current when it starts"
    return 0
  fi
  read_status
  before="$STATUS"
  log "SIGHUP sidecar pid $pid; waiting up to ${RELOAD_TIMEOUT}s for $STATUS_FILE to report $want"
  kill -HUP "$pid" || { log "cannot signal sidecar pid $pid"; return 1; }
  wait_status "$want" "$before" "$pid" || return 1
  log "sidecar reports $STATUS"
}

# install_sums FILE VERSION: keep VERSION's checksum list (deploy_checks.py validate
# --sums), so a rollback without Python can still check its files.
install_sums() {
  local dir="$MODELS_DIR/.sums"
  mkdir -p "$dir"
  cp -- "$1" "$dir/.$2.tmp.$$"
  mv -T "$dir/.$2.tmp.$$" "$dir/$2.sha256"
}

# sums_match DIR VERSION: DIR's files are those VERSION's checksum list names, byte for byte.
sums_match() { (exec 9>&-; cd "$1" && sha256sum --quiet --strict -c "$MODELS_DIR/.sums/$2.sha256"); }

# keep_sums FILE VERSION DIR: VERSION's checksum list is written once, when the version
# is first published. Publishing that name again (a pruned version, deployed anew) must
# bring exactly those files: a published version is never modified, and its backup is
# checked against the same list.
keep_sums() {
  local sums="$MODELS_DIR/.sums/$2.sha256"
  if [[ -f "$sums" ]]; then
    sums_match "$3" "$2" \
      || die "$2 was published before with other files ($sums): a published version is never" \
        "modified; give the new model another version"
    return 0
  fi
  install_sums "$1" "$2"
}

# verify_version DIR VERSION [quick]: DIR holds VERSION, servable, every file with the
# sha256 its manifest records. The checksum list written when VERSION was first published
# (manifest.json included) is checked first when there is one: a published version is never
# modified, so an edited manifest whose own hashes still agree is refused too. With Python,
# deploy_checks.py then checks the manifest itself ("quick" skips that); the list is written
# only when there is none yet, never replaced.
verify_version() {
  local dir="$1" v="$2" sums="$MODELS_DIR/.sums/$2.sha256"
  if [[ -f "$sums" ]]; then
    sums_match "$dir" "$v" \
      || { log "$dir: files differ from $sums, the checksums written when $v was published (a published version is never modified)"; return 1; }
    log "files of $v match $sums"
    [[ "${3:-}" != quick && $HAVE_PY -eq 1 ]] || return 0
  fi
  if [[ $HAVE_PY -eq 1 ]]; then
    checks validate "$dir" --sums "$TMP/sums.$v" >/dev/null || return 1
    [[ -f "$sums" || $DRY_RUN -eq 1 ]] || install_sums "$TMP/sums.$v" "$v"
    log "files of $v match its manifest"
    return 0
  fi
  log "WARNING: files of $v NOT verified: no Python at $PY and no checksum list $sums"
}

# guard_feature_order DIR VERSION: VERSION (in DIR) takes the current model's feature
# order, or --force was given: a bot that declares its order (Config.Features) refuses
# every decision of a model that takes another. Without Python it cannot be read: logged.
guard_feature_order() {
  local dir="$1" v="$2" cur
  cur="$(current_version || true)"
  [[ -n "$cur" && "$cur" != "$v" && -d "$MODELS_DIR/$cur" ]] || return 0
  if [[ $HAVE_PY -eq 0 ]]; then
    log "WARNING: feature order of $v not compared with $cur: no Python at $PY"
    return 0
  fi
  (exec 9>&-; checks same-features "$MODELS_DIR/$cur" "$dir") && return 0
  if [[ $FORCE -eq 1 ]]; then
    log "FORCED (--force): $v takes another feature order than $cur (see above); every bot must send the new order"
  else
    die "$v takes another feature order than $cur (see above); switch to it only once the bot sends that order, with --force"
  fi
}

backup_version() { # version: archive the outgoing version so pruning never loses it
  local v="$1" dest="$MODELS_DIR/.backup"
  [[ $BACKUP -eq 1 && -n "$v" && -d "$MODELS_DIR/$v" ]] || return 0
  mkdir -p "$dest"
  if [[ ! -f "$dest/$v.tar.gz" ]]; then
    { tar -C "$MODELS_DIR" -czf "$dest/.$v.tar.gz.tmp.$$" "$v" 9>&- \
      && mv -T "$dest/.$v.tar.gz.tmp.$$" "$dest/$v.tar.gz"; } \
      || { rm -f -- "$dest/.$v.tar.gz.tmp.$$"; die "cannot archive $v to $dest (see above; disk full?), so nothing was switched"; }
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
  # A checksum list outlives its directory as long as the archive it can check.
  for d in "$MODELS_DIR"/.sums/*.sha256; do
    [[ -f "$d" ]] || continue
    name="$(basename "$d" .sha256)"
    [[ -d "$MODELS_DIR/$name" || -f "$MODELS_DIR/.backup/$name.tar.gz" ]] || rm -f -- "$d"
  done
  return 0
}

# A deploy killed by SIGKILL cannot clean up after itself; every scratch name carries
# its owner's pid, and the next deploy removes those of dead owners.
remove_stale() { # path pid
  [[ "$2" =~ ^[0-9]+$ && "$2" != "$$" ]] && ! pid_alive "$2" || return 0
  [[ -O "$1" ]] || return 0  # another user's: not ours to remove
  chmod -R u+w -- "$1" 2>/dev/null || true
  rm -rf -- "$1" && log "removed $1, left by deploy pid $2 (no longer running)"
  return 0
}
clean_stale_tmp() {
  local d rest
  for d in "$TMPBASE"/sigmagate-deploy.*; do
    [[ -d "$d" && ! -L "$d" ]] || continue
    rest="${d#"$TMPBASE"/sigmagate-deploy.}"
    remove_stale "$d" "${rest%%.*}"
  done
}
# .publish-* is what deploys before the --from copy moved to .incoming-* left.
clean_stale_models() { # under the lock: no live deploy of this directory is using these
  local f
  for f in "$MODELS_DIR"/.*.tmp.* "$MODELS_DIR"/.incoming-* "$MODELS_DIR"/.publish-* \
    "$MODELS_DIR"/.restore-* "$MODELS_DIR"/.backup/.*.tmp.* "$MODELS_DIR"/.sums/.*.tmp.*; do
    [[ -e "$f" || -L "$f" ]] || continue
    remove_stale "$f" "${f##*[.-]}"
  done
}

# The sidecar serves NEW already or is made to (an earlier deploy was killed between
# switching current and the sidecar's confirmation): reload and verify, never assume.
repair() { # action new
  local action="$1" new="$2" served
  if [[ $RESTART -eq 0 ]]; then
    log "$new is already current; nothing to switch (--no-restart: the sidecar was not checked)"
    echo "$new" >&3
    return 0
  fi
  if [[ -z "$SIDECAR_PID" ]]; then
    log "$new is already current; nothing to switch (no running sidecar)"
    echo "$new" >&3
    return 0
  fi
  read_status
  served="$(status_field version || true)"
  if [[ "$served" == "$new" ]] && status_ok; then
    log "$new is already current and the sidecar (pid $SIDECAR_PID) serves it; nothing to switch"
    echo "$new" >&3
    return 0
  fi
  local why=""
  status_ok || why=" (its last reload failed)"
  log "current is $new but the sidecar (pid $SIDECAR_PID) serves ${served:-no model}$why:" \
    "an earlier deploy did not finish; reloading it"
  if reload_sidecar "$new"; then
    record_history "$action-repair" "$served" "$new" "ok"
    log "done: current is $new and the sidecar serves it"
    echo "$new" >&3
    return 0
  fi
  if [[ -n "$served" && "$served" != "$new" ]] && plain_name "$served" && [[ -d "$MODELS_DIR/$served" ]]; then
    # It refuses what current names: current goes back to what it serves.
    log "automatic rollback: switching current back to $served, which the sidecar serves"
    switch_link current "$served"
    record_history "$action-repair" "$new" "$served" "rolled-back"
    die "the sidecar did not confirm $new; current is $served again, which it serves"
  fi
  record_history "$action-repair" "$served" "$new" "failed"
  die "the sidecar did not confirm $new, which current names; it serves ${served:-no model}"
}

# Switch current to NEW, reload, roll back on refusal. ACTION names it in the history.
activate() { # action new_version
  local action="$1" new="$2" old prev_before old_link=""
  old="$(current_version || true)"
  prev_before="$(previous_version || true)"
  if [[ -n "$old" ]] && ! plain_name "$old"; then
    log "WARNING: current points to '$old', which is no version of $MODELS_DIR; replacing it"
    old_link="$old"
    old=""
  fi
  if [[ $DRY_RUN -eq 1 ]]; then
    if [[ "$old" == "$new" ]]; then
      log "dry run: $new is already current; would check that the sidecar serves it"
    else
      log "dry run: would switch current ${old:-<none>} -> $new, set previous -> ${old:-<none>}," \
        "$([[ $RESTART -eq 1 ]] && echo "SIGHUP the sidecar" || echo "not signal the sidecar")," \
        "keep $KEEP versions"
    fi
    echo "${old:-none}" >&3
    return 0
  fi
  SIDECAR_PID=""
  if [[ $RESTART -eq 1 ]]; then
    locate_sidecar || die "cannot signal the sidecar serving $MODELS_DIR, so nothing was switched;" \
      "pass the --pidfile it was started with (or restart it with --pidfile $PIDFILE)"
    if [[ -n "$SIDECAR_PID" && ! -f "$STATUS_FILE" ]]; then
      die "a sidecar is running (pidfile $PIDFILE) but its status file $STATUS_FILE does not exist;" \
        "start infer with --status-file $STATUS_FILE or pass --status-file, so the reload can be verified"
    fi
  fi
  if [[ "$old" == "$new" ]]; then
    repair "$action" "$new"
    return 0
  fi
  if [[ -n "$old" ]]; then backup_version "$old"; fi
  # previous first: a deploy killed between the two switches then leaves previous and
  # current both naming old, which the next run completes; the other way round,
  # previous would stay two versions back once the next run found new current.
  if [[ -n "$old" && -d "$MODELS_DIR/$old" ]]; then
    switch_link previous "$old"
  elif [[ -n "$old" ]]; then
    # A rollback to it could only fail: keep the previous that exists.
    log "WARNING: current named $old, which is not in $MODELS_DIR; previous is left as it was"
  fi
  switch_link current "$new"
  log "switched current: ${old:-<none>} -> $new"
  if [[ $RESTART -eq 1 ]] && ! reload_sidecar "$new"; then
    if [[ -n "$old_link" ]]; then
      switch_link current "$old_link"
      record_history "$action" "" "$new" "refused"
      die "the sidecar did not confirm $new; current points to '$old_link' again, as before"
    fi
    if [[ -z "$old" ]]; then
      rm -f "$MODELS_DIR/current"
      record_history "$action" "" "$new" "refused"
      die "the sidecar did not confirm $new; removed current (there was none before)"
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
    die "the sidecar did not confirm $new; current is $old (automatic rollback)"
  fi
  [[ "$(current_version)" == "$new" ]] || die "current does not point to $new after the switch"
  record_history "$action" "$old" "$new" "ok"
  # Housekeeping: current is switched and confirmed whatever happens here.
  prune_versions || log "WARNING: pruning old versions failed (see above); current is $new"
  if [[ $RESTART -eq 1 ]]; then
    log "done: current is $new"
  else
    log "done: current is $new (--no-restart: the sidecar was not signalled)"
  fi
  echo "$new" >&3
}
