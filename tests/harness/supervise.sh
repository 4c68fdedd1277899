#!/usr/bin/env bash
# supervise.sh PARENT_PID CLEANUP_DIR COMMAND...
# Runs COMMAND until the process PARENT_PID (a test binary) exits, then stops it (TERM, then KILL) and removes
# CLEANUP_DIR. Test harnesses start servers through it so that nothing outlives a test run, even when the
# test binary panics or is killed.
set -u
parent="$1"; cleanup="$2"; shift 2
"$@" &
child=$!
trap 'kill -TERM "${child}" 2>/dev/null' TERM INT
while kill -0 "${parent}" 2>/dev/null && kill -0 "${child}" 2>/dev/null; do
  sleep 0.5
done
if kill -0 "${child}" 2>/dev/null; then
  kill -TERM "${child}" 2>/dev/null
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "${child}" 2>/dev/null || break
    sleep 0.5
  done
  kill -KILL "${child}" 2>/dev/null
fi
wait "${child}" 2>/dev/null
status=$?
[ -n "${cleanup}" ] && rm -rf "${cleanup}"
exit "${status}"
