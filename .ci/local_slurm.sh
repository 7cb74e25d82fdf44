#!/usr/bin/env bash
# local_slurm.sh - a real single-node SLURM cluster on localhost, for the
# SLURM test (tests/test_slurm.py) and for trying `snakemake --profile slurm`
# on one machine. Adapted from the team's shared recipe (slurm-local).
#
# Target: Debian 12 (bookworm), run as root, no systemd (PID 1 is not systemd),
# no GPU, network limited to the package registries.  Debian ships SLURM 22.05.8.
#
# Usage:
#   bash .ci/local_slurm.sh start   # install (if needed), configure, start, smoke-test
#   bash .ci/local_slurm.sh stop    # stop every daemon this script started (by PID)
#   bash .ci/local_slurm.sh status
#
# Environment knobs (all optional):
#   SLURM_BASE=/tmp/local-slurm  state/spool/logs/pid files/fake devices live here
#   SLURM_ACCOUNTING=dbd | none        dbd (default): MariaDB + slurmdbd, so `sacct` works
#                                      (what real clusters have; the snakemake slurm
#                                      plugin's default status command is sacct).
#                                      none: no database; `sacct` then fails with
#                                      "Slurm accounting storage is disabled" and the
#                                      snakemake profile MUST set `slurm-status-command: squeue`.
#   SLURM_FAKE_GPUS=2                  number of fake gres/gpu on the node (0 = no GRES at all)
#   SLURM_PARTITION=debug              name of the (default) partition
#   SLURM_SKIP_APT=0                   1 = do not run apt-get (packages already installed)
#   SLURM_NODE_CPUS / SLURM_NODE_MEM_MB  advertise a BIGGER node than the machine has
#                                      (SlurmdParameters=config_overrides), so that real
#                                      rules asking e.g. threads=16, mem_mb=64000 are not
#                                      rejected by sbatch. Nothing enforces the limits
#                                      (no cgroups): jobs simply oversubscribe the 2 cores.
set -euo pipefail

BASE=${SLURM_BASE:-/tmp/local-slurm}
ACCOUNTING=${SLURM_ACCOUNTING:-dbd}
FAKE_GPUS=${SLURM_FAKE_GPUS:-2}
PARTITION=${SLURM_PARTITION:-debug}
SKIP_APT=${SLURM_SKIP_APT:-0}
CLUSTER=localcluster
ETC=/etc/slurm

log() { printf '[local_slurm %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { [ -s "$1" ] && cat "$1" || true; }

# wait_until <seconds> <command...>: poll every 0.2 s
wait_until() {
    local t=$1; shift
    local end=$(( $(date +%s) + t ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$end" ] || return 1
        sleep 0.2
    done
}

stop_pidfile() {  # stop_pidfile <name> <pidfile>; <name> must be the process' comm
    local name=$1 pidfile=$2 pid
    pid=$(pid_of "$pidfile")
    # only signal the PID if it still is that daemon (guards against PID reuse)
    if pid_alive "$pid" && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$name" ]; then
        log "stopping $name (pid $pid)"
        kill "$pid" || true
        for _ in $(seq 1 100); do pid_alive "$pid" || break; sleep 0.1; done
        if pid_alive "$pid"; then log "$name did not stop, SIGKILL"; kill -9 "$pid" || true; fi
    fi
    rm -f "$pidfile"
}

do_stop() {
    # reverse start order; only PIDs recorded by this script (or the daemons' own pid files)
    stop_pidfile slurmd    "$BASE/run/slurmd.pid"
    stop_pidfile slurmctld "$BASE/run/slurmctld.pid"
    stop_pidfile slurmdbd  "$BASE/run/slurmdbd.pid"
    stop_pidfile mariadbd  "$BASE/run/mariadbd.pid"
    if [ -s "$BASE/run/munged.started-by-us" ]; then
        stop_pidfile munged /run/munge/munged.pid
        rm -f "$BASE/run/munged.started-by-us"
    fi
}

do_status() {
    for f in slurmd slurmctld slurmdbd mariadbd; do
        pid=$(pid_of "$BASE/run/$f.pid"); pid_alive "$pid" && echo "$f running (pid $pid)" || echo "$f not running"
    done
    pid=$(pid_of /run/munge/munged.pid); pid_alive "$pid" && echo "munged running (pid $pid)" || echo "munged not running"
    sinfo 2>&1 || true
}

install_packages() {
    local pkgs=(slurmctld slurmd slurm-client munge)
    if [ "$ACCOUNTING" = dbd ]; then pkgs+=(slurmdbd mariadb-server); fi
    if [ "$SKIP_APT" = 1 ]; then log "SLURM_SKIP_APT=1: not installing ${pkgs[*]}"; return; fi
    # Keep maintainer scripts from starting services (they would start munge via
    # /etc/init.d on a machine without systemd and without a policy-rc.d).
    local made_policy=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
    fi
    log "apt-get update"
    apt-get update -qq
    log "apt-get install ${pkgs[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
    log "installed: $(dpkg-query -W -f='${Package}=${Version} ' slurmctld slurmd slurm-client munge 2>/dev/null)"
}

start_munge() {
    [ -s /etc/munge/munge.key ] || {
        log "creating munge key"
        mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
            || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
        chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
    }
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        log "munged already running, reusing it"; return
    fi
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged      # forks, writes /run/munge/munged.pid
    echo 1 > "$BASE/run/munged.started-by-us"
    wait_until 10 sh -c 'munge -n | unmunge' || die "munged did not come up"
    log "munged up (pid $(cat /run/munge/munged.pid))"
}

start_mariadb_slurmdbd() {
    install -d -o mysql -g mysql -m 0755 /run/mysqld
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql >/dev/null
    if ! mariadb-admin ping >/dev/null 2>&1; then
        # setsid + nohup: fully detached from the CI job's terminal/process group
        # (pid file must be writable by the mysql user -> /run/mysqld)
        setsid nohup /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
            --pid-file=/run/mysqld/mariadbd.pid --innodb-buffer-pool-size=64M \
            > "$BASE/log/mariadb.log" 2>&1 < /dev/null &
        wait_until 60 mariadb-admin ping || { cat "$BASE/log/mariadb.log"; die "mariadb did not come up"; }
        wait_until 10 test -s /run/mysqld/mariadbd.pid
        cp /run/mysqld/mariadbd.pid "$BASE/run/mariadbd.pid"
    fi
    log "mariadb up"
    # fresh accounting DB on every start: job ids restart at 1 with a fresh
    # StateSaveLocation, old records with the same ids would confuse `sacct -j`
    mariadb -e "DROP DATABASE IF EXISTS slurm_acct_db; CREATE DATABASE slurm_acct_db;
                CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
                GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
    cat > "$ETC/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
DebugLevel=info
LogFile=$BASE/log/slurmdbd.log
PidFile=$BASE/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$ETC/slurmdbd.conf"      # slurmdbd refuses a world-readable config
    /usr/sbin/slurmdbd                  # daemonizes
    # slurmdbd listens on 6819 once the schema is created
    wait_until 60 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819' || { tail -20 "$BASE/log/slurmdbd.log"; die "slurmdbd did not come up"; }
    log "slurmdbd up (pid $(cat "$BASE/run/slurmdbd.pid"))"
}

write_slurm_conf() {
    local host topo mem_total real_mem acct_lines gres_node="" gres_lines=""
    host=$(hostname -s)
    # Node topology as slurmd sees it (works without slurm.conf); drop name + memory.
    topo=$(slurmd -C | head -1 | tr ' ' '\n' | grep -E '^(CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=' | tr '\n' ' ')
    mem_total=$(awk '/^MemTotal:/{print int($2/1024)}' /proc/meminfo)
    real_mem=$(( mem_total * 8 / 10 ))   # must be <= what slurmd detects, else node goes INVAL
    local overrides=""
    if [ -n "${SLURM_NODE_CPUS:-}" ]; then
        topo="CPUs=$SLURM_NODE_CPUS Boards=1 SocketsPerBoard=1 CoresPerSocket=$SLURM_NODE_CPUS ThreadsPerCore=1 "
        overrides="SlurmdParameters=config_overrides"
    fi
    if [ -n "${SLURM_NODE_MEM_MB:-}" ]; then
        real_mem=$SLURM_NODE_MEM_MB
        overrides="SlurmdParameters=config_overrides"
    fi
    if [ "$ACCOUNTING" = dbd ]; then
        acct_lines="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost"
        # record GPU allocations in sacct's AllocTRES
        if [ "$FAKE_GPUS" -gt 0 ]; then acct_lines+=$'\nAccountingStorageTRES=gres/gpu'; fi
    else
        acct_lines="AccountingStorageType=accounting_storage/none"
    fi
    if [ "$FAKE_GPUS" -gt 0 ]; then
        gres_node=" Gres=gpu:$FAKE_GPUS"
        gres_lines="GresTypes=gpu"
        # gres/gpu WITHOUT File= is silently dropped by slurmd 22.05 ("Removing file-less
        # GPU"), the node then registers 0 GPUs and goes INVAL/DRAIN and EVERY job pends.
        # So give each fake GPU a character device (same major/minor as /dev/null).
        install -d "$BASE/fakedev"
        local i
        for i in $(seq 0 $(( FAKE_GPUS - 1 ))); do
            rm -f "$BASE/fakedev/nvidia$i"
            mknod -m 666 "$BASE/fakedev/nvidia$i" c 1 3 2>/dev/null \
                || touch "$BASE/fakedev/nvidia$i"   # regular file also works (slurmd logs an error)
        done
        cat > "$ETC/gres.conf" <<EOF
AutoDetect=off
NodeName=$host Name=gpu File=$BASE/fakedev/nvidia[0-$(( FAKE_GPUS - 1 ))]
EOF
    else
        rm -f "$ETC/gres.conf"
    fi
    cat > "$ETC/slurm.conf" <<EOF
# generated by .ci/local_slurm.sh
ClusterName=$CLUSTER
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MailProg=/bin/true
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain /proc process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without this a job that gives no --mem is allocated ALL node memory
DefMemPerCPU=500
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue/scontrol this long (snakemake plugin's
# squeue status mode needs >= 3 * slurm-init-seconds-before-status-checks)
MinJobAge=300
$acct_lines
JobCompType=jobcomp/none
$gres_lines
$overrides
NodeName=$host NodeAddr=127.0.0.1 ${topo}RealMemory=$real_mem$gres_node State=UNKNOWN
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    log "wrote $ETC/slurm.conf (node $host: ${topo}RealMemory=$real_mem$gres_node)"
}

start_slurm() {
    if [ "$ACCOUNTING" = dbd ]; then
        # register cluster (creates the root account/association too); idempotent
        sacctmgr -n -P show cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER" \
            || sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    /usr/sbin/slurmctld        # daemonizes
    /usr/sbin/slurmd           # daemonizes
    local host; host=$(hostname -s)
    if ! wait_until 30 sh -c "sinfo -h -N -n $host -o %t | grep -qx idle"; then
        sinfo -N -o '%N %t %E' || true
        tail -20 "$BASE/log/slurmctld.log" "$BASE/log/slurmd.log" || true
        die "node $host did not become idle"
    fi
    log "slurmctld (pid $(cat "$BASE/run/slurmctld.pid")) and slurmd (pid $(cat "$BASE/run/slurmd.pid")) up"
    sinfo -o '%P %a %l %D %t %G %N'
}

smoke_test() {
    log "smoke test"
    [ "$(srun -N1 -t 1 hostname)" = "$(hostname)" ] || die "srun failed"
    sbatch --wait -t 1 -o /dev/null --wrap true >/dev/null || die "sbatch --wait failed"
    if [ "$FAKE_GPUS" -gt 0 ]; then
        local cvd; cvd=$(srun -t 1 --gpus=1 printenv CUDA_VISIBLE_DEVICES)
        [ -n "$cvd" ] || die "GPU job got no CUDA_VISIBLE_DEVICES"
        log "fake GPU job ok: CUDA_VISIBLE_DEVICES=$cvd"
    fi
    if [ "$ACCOUNTING" = dbd ]; then
        # job records reach slurmdbd asynchronously
        wait_until 20 sh -c 'sacct -n -X -o State | grep -q COMPLETED' || die "sacct shows no jobs"
        log "sacct ok"
    fi
}

do_start() {
    [ "$(id -u)" = 0 ] || die "must run as root"
    local t0=$SECONDS
    install_packages
    local t_apt=$(( SECONDS - t0 ))
    # stop leftovers from a previous run of this script, start from clean state
    do_stop
    local port ports=(6817 6818); if [ "$ACCOUNTING" = dbd ]; then ports+=(6819); fi
    for port in "${ports[@]}"; do
        if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then
            die "port $port already in use (a SLURM daemon not started by this script?)"
        fi
    done
    rm -rf "$BASE/state" "$BASE/spool" "$BASE/log"
    install -d "$BASE/state" "$BASE/spool" "$BASE/log" "$BASE/run"
    start_munge
    write_slurm_conf
    if [ "$ACCOUNTING" = dbd ]; then start_mariadb_slurmdbd; fi
    start_slurm
    smoke_test
    log "done: apt ${t_apt}s, total $(( SECONDS - t0 ))s"
}

case "${1:-start}" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
