#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, as root, with its own state in DIR (no system files
# touched): munged on its own socket and key, slurmctld and slurmd on their own ports.
#
#   scripts/cluster/local-slurm.sh start DIR [CPUS]   start it; prints `export SLURM_CONF=...`
#   scripts/cluster/local-slurm.sh stop DIR           stop it (the daemons started from DIR)
#
# Needs the Debian 12 packages slurmctld slurmd slurm-client munge (scripts/setup.sh).
set -euo pipefail
cmd=${1:?usage: local-slurm.sh start|stop DIR [CPUS]}
dir=$(realpath -m "${2:?usage: local-slurm.sh start|stop DIR [CPUS]}")
cpus=${3:-$(nproc)}

stop() {
  for name in slurmd slurmctld munged; do
    if [[ -f $dir/$name.pid ]]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
    fi
  done
  # Give the daemons a moment to go (slurmd ends its job steps first).
  for _ in $(seq 50); do
    alive=0
    for name in slurmd slurmctld munged; do
      [[ -f $dir/$name.pid ]] && kill -0 "$(cat "$dir/$name.pid")" 2>/dev/null && alive=1
    done
    ((alive)) || break
    sleep 0.2
  done
}

case $cmd in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "local-slurm.sh: unknown command '$cmd' (start or stop)" >&2; exit 2 ;;
esac

[[ $(id -u) == 0 ]] || { echo "local-slurm.sh: run as root (slurmd runs jobs as their users)" >&2; exit 1; }
for tool in munged mungekey slurmctld slurmd sbatch; do
  command -v "$tool" >/dev/null || { echo "local-slurm.sh: $tool not found: install slurmctld slurmd slurm-client munge" >&2; exit 1; }
done
host=$(hostname -s)
# Ports of our own, from the folder's name, so that two clusters (two test runs) do not meet.
base=$((17000 + $(cksum <<<"$dir" | cut -d' ' -f1) % 2000 * 2))
mkdir -p "$dir"/{munge,ctld,spool,log}
chmod 755 "$dir"
chown munge:munge "$dir/munge"
chmod 700 "$dir/munge"
if [[ ! -f $dir/munge/munge.key ]]; then
  mungekey -c -k "$dir/munge/munge.key" >/dev/null 2>&1 || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chown munge:munge "$dir/munge/munge.key"
  chmod 600 "$dir/munge/munge.key"
fi
cat >"$dir/slurm.conf" <<CONF
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
SchedulerParameters=sched_interval=1
MinJobAge=600
DependencyParameters=kill_invalid_depend
NodeName=$host CPUs=$cpus State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
# munged as the munge user, with its own socket, key, pid, log and seed.
su -s /bin/sh munge -c "munged --force --socket='$dir/munge/munge.socket' --key-file='$dir/munge/munge.key' \
  --pid-file='$dir/munge/munged.pid' --log-file='$dir/munge/munged.log' --seed-file='$dir/munge/munged.seed'"
cp "$dir/munge/munged.pid" "$dir/munged.pid"
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
# Wait for the node to be up.
for _ in $(seq 100); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "local-slurm.sh: the node did not come up (see $dir/log)" >&2
stop
exit 1
