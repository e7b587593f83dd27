#!/usr/bin/env bash
# Stand up a one-node SLURM cluster on this (Debian 12) machine, without systemd.
#
#   sudo workflow/slurm/standup.sh            # idempotent: safe to run again
#
# Installs slurmctld/slurmd/slurm-client/munge if missing, creates a munge key,
# starts munged, writes /etc/slurm/slurm.conf (one node = this host, one partition
# "main", no accounting), starts slurmctld + slurmd, waits for the node to be idle.
# Environment knobs:
#   E2SAD_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
#   E2SAD_SLURM_CONF     path of slurm.conf to write (default /etc/slurm/slurm.conf)
# Stop everything again with workflow/slurm/teardown.sh.
set -Eeuo pipefail

T0=$(date +%s.%N)
STEP_T=$T0
fail() { echo "standup.sh: ERROR: $*" >&2; exit 1; }
on_err() { echo "standup.sh: ERROR: failed at line $2 (exit $1): $3" >&2; }
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}'; }
step() {  # step "<what was done>": print time since previous step and total
  echo "standup.sh: $1 [$(elapsed "$STEP_T")s, total $(elapsed "$T0")s]"
  STEP_T=$(date +%s.%N)
}

[ "$(id -u)" -eq 0 ] || fail "must run as root"

CONF=${E2SAD_SLURM_CONF:-/etc/slurm/slurm.conf}
TIMEOUT=${E2SAD_SLURM_TIMEOUT:-60}
HOST=$(hostname -s)
STATE_DIR=/var/lib/slurm/slurmctld
SPOOL_DIR=/var/lib/slurm/slurmd
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid

# --- 1. packages ------------------------------------------------------------
missing=()
for pair in slurmctld:slurmctld slurmd:slurmd sinfo:slurm-client munged:munge; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "standup.sh: installing ${missing[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  # apt lists may be absent on a fresh machine; update once, then install.
  apt-get update -qq >/dev/null || fail "apt-get update failed"
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null \
    || fail "apt-get install slurmctld slurmd slurm-client munge failed"
  step "packages installed"
else
  step "packages already present"
fi

# --- 2. munge -----------------------------------------------------------------
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null 2>&1; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  fi
  echo "standup.sh: created /etc/munge/munge.key"
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key

munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_ok; then
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  runuser -u munge -- /usr/sbin/munged || fail "munged did not start (see /var/log/munge/munged.log)"
  for _ in $(seq 1 50); do munge_ok && break; sleep 0.2; done
  munge_ok || fail "munged started but munge -n | unmunge fails (see /var/log/munge/munged.log)"
  step "munged started"
else
  step "munged already running"
fi

# --- 3. slurm.conf ----------------------------------------------------------------
# Hardware as slurmd sees it, e.g.
#   NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=24105
HW=$(slurmd -C | head -n1) || fail "slurmd -C failed"
hw() { sed -n "s/.*[[:space:]]$1=\([0-9]*\).*/\1/p" <<<"$HW"; }
CPUS=$(hw CPUs); SOCKETS=$(hw SocketsPerBoard); CORES=$(hw CoresPerSocket)
THREADS=$(hw ThreadsPerCore); MEM=$(hw RealMemory)
if [ -z "$CPUS" ] || [ -z "$MEM" ]; then fail "could not parse 'slurmd -C' output: $HW"; fi
# Keep a little memory back for the OS and the daemons (5%, at most 1 GiB).
RESERVE=$(( MEM / 20 )); [ "$RESERVE" -le 1024 ] || RESERVE=1024
MEM=$(( MEM - RESERVE ))

mkdir -p "$(dirname "$CONF")" "$STATE_DIR" "$SPOOL_DIR" "$LOG_DIR"
NEW_CONF=$(mktemp)
cat >"$NEW_CONF" <<EOF
# Written by e2sad workflow/slurm/standup.sh -- one-node test cluster. Do not edit.
ClusterName=e2sad
# Addresses pinned to loopback: works even when $(hostname -s) does not resolve.
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=300
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
StateSaveLocation=${STATE_DIR}
SlurmdSpoolDir=${SPOOL_DIR}
SlurmctldLogFile=${LOG_DIR}/slurmctld.log
SlurmdLogFile=${LOG_DIR}/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
# no accounting: no slurmdbd, sacct does not work -> the snakemake profile uses squeue
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} SocketsPerBoard=${SOCKETS:-1} CoresPerSocket=${CORES:-$CPUS} ThreadsPerCore=${THREADS:-1} RealMemory=${MEM} State=UNKNOWN
PartitionName=main Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
CONF_CHANGED=0
if ! cmp -s "$NEW_CONF" "$CONF"; then
  install -m 0644 "$NEW_CONF" "$CONF"
  CONF_CHANGED=1
fi
rm -f "$NEW_CONF"
step "slurm.conf $([ $CONF_CHANGED = 1 ] && echo written || echo unchanged): $CONF (CPUs=$CPUS RealMemory=$MEM)"

# --- 4. daemons -------------------------------------------------------------------
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
stop_pidfile() {  # stop the daemon recorded in a pid file, wait for it to exit
  local pf=$1 pid
  alive "$pf" || { rm -f "$pf"; return 0; }
  pid=$(cat "$pf"); kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -f "$pf"
}
if [ $CONF_CHANGED = 1 ]; then   # restart so that the daemons read the new file
  stop_pidfile "$SLURMD_PID"
  stop_pidfile "$CTLD_PID"
fi
export SLURM_CONF=$CONF
if ! alive "$CTLD_PID"; then
  slurmctld -f "$CONF" || fail "slurmctld did not start (see $LOG_DIR/slurmctld.log)"
  for _ in $(seq 1 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
  scontrol ping 2>/dev/null | grep -q UP || fail "slurmctld not answering (see $LOG_DIR/slurmctld.log)"
  step "slurmctld started"
else
  step "slurmctld already running (pid $(cat "$CTLD_PID"))"
fi
if ! alive "$SLURMD_PID"; then
  slurmd -f "$CONF" || fail "slurmd did not start (see $LOG_DIR/slurmd.log)"
  step "slurmd started"
else
  step "slurmd already running (pid $(cat "$SLURMD_PID"))"
fi

# --- 5. wait for the node -----------------------------------------------------------
deadline=$(( $(date +%s) + TIMEOUT ))
resumed=0
state=""
while :; do
  state=$(sinfo -h -N -n "$HOST" -o '%t' 2>/dev/null | head -n1 || true)
  case "$state" in
    idle|mix|alloc|comp) break ;;   # up (mix/alloc: jobs of an earlier run still going)
    down*|drain*|drng*|fail*)
      if [ $resumed = 0 ]; then
        scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
        resumed=1
      fi ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] \
    || fail "node $HOST not idle after ${TIMEOUT}s (state '${state:-none}'; see $LOG_DIR/slurmd.log, $LOG_DIR/slurmctld.log)"
  sleep 0.5
done
step "node $HOST is $state"
echo "standup.sh: OK: one-node SLURM cluster up in $(elapsed "$T0")s (partition main, node $HOST)"
sinfo
