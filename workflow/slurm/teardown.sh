#!/usr/bin/env bash
# Stop the one-node SLURM cluster started by workflow/slurm/standup.sh.
#
#   workflow/slurm/teardown.sh            # stop slurmd, slurmctld and munged
#   workflow/slurm/teardown.sh --keep-munge
#
# Idempotent: does nothing for a daemon that is not running. Only the processes
# named in the daemons' pid files are signalled. Installed packages, the munge key,
# /etc/slurm/slurm.conf and the state directories are left in place, so a later
# standup.sh is fast.
set -Eeuo pipefail
T0=$(date +%s.%N)
fail() { echo "teardown.sh: ERROR: $*" >&2; exit 1; }
on_err() { echo "teardown.sh: ERROR: failed at line $2 (exit $1): $3" >&2; }
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
[ "$(id -u)" -eq 0 ] || fail "must run as root"

KEEP_MUNGE=0
[ "${1:-}" = "--keep-munge" ] && KEEP_MUNGE=1

stop_pidfile() {  # stop_pidfile NAME PIDFILE: TERM, wait up to 10 s, then KILL
  local name=$1 pf=$2 pid
  if [ ! -s "$pf" ] || ! kill -0 "$(cat "$pf")" 2>/dev/null; then
    echo "teardown.sh: $name not running"; rm -f "$pf"; return 0
  fi
  pid=$(cat "$pf")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then
    kill -9 "$pid" 2>/dev/null || true
    echo "teardown.sh: $name (pid $pid) killed with SIGKILL"
  else
    echo "teardown.sh: $name (pid $pid) stopped"
  fi
  rm -f "$pf"
}

stop_pidfile slurmd /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
[ $KEEP_MUNGE = 1 ] || stop_pidfile munged /run/munge/munged.pid
echo "teardown.sh: OK: stopped in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')s"
