#!/usr/bin/env bash
# Process helpers shared by up.sh and down.sh (sourced; they use $dir, where each component's pid is).

# Whether the component's recorded process runs (a killed process that nobody reaped is a zombie:
# not running; PID 1 here may not reap).
running() {
  local pid
  pid=$(cat "$dir/$1.pid" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$pid/stat" 2>/dev/null
}

# TERM, a second TERM (kube-apiserver takes a minute to leave after one; a second ends it at once),
# then KILL after 5 s.
stop_process() {
  running "$1" || { rm -f "$dir/$1.pid"; return 0; }
  local pid
  pid=$(cat "$dir/$1.pid")
  kill "$pid" 2>/dev/null || true
  sleep 0.2
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do running "$1" || break; sleep 0.1; done
  running "$1" && kill -9 "$pid" 2>/dev/null || true
  for _ in $(seq 1 20); do running "$1" || break; sleep 0.1; done
  rm -f "$dir/$1.pid"
}
