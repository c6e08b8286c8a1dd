#!/usr/bin/env bash
# A single-node SLURM "cluster" on this machine, without systemd: munged, slurmctld and slurmd,
# all on localhost, for trying launch/slurm/train.sbatch and for launch/test-slurm.sh.
#
#   bash launch/slurm/local-cluster.sh start     # write the config, start the daemons, wait for idle
#   bash launch/slurm/local-cluster.sh status    # daemons, sinfo, and the SLURM_CONF to export
#   bash launch/slurm/local-cluster.sh stop      # stop exactly the daemons `start` started
#
# Needs root and the Debian packages slurm-wlm and munge (bash launch/setup.sh installs them).
# Everything lives in one state folder, $SLURM_LOCAL_DIR (default /tmp/disttrain-slurm): the
# slurm.conf, the logs, pid files, slurmctld's state and slurmd's spool, and munged's socket. The
# system's /etc/slurm and /run/munge are not touched, so this cannot clash with a real SLURM or
# munge set up on the machine (apart from the ports, see SLURM_LOCAL_PORT below).
#
# Clients (sbatch, srun, sinfo, scontrol, scancel) find the cluster through SLURM_CONF:
#   export SLURM_CONF=/tmp/disttrain-slurm/slurm.conf
# `start` and `status` print that line. Jobs inherit it (sbatch exports the environment).
set -euo pipefail

STATE_DIR="${SLURM_LOCAL_DIR:-/tmp/disttrain-slurm}"
CONF="$STATE_DIR/slurm.conf"
# slurmctld listens on this port and slurmd on the next one (SLURM's defaults are 6817/6818).
PORT="${SLURM_LOCAL_PORT:-6817}"
# munged's private socket and its pid file (munged runs as the munge user, so its folder is munge's).
MUNGE_DIR="$STATE_DIR/munge"
MUNGE_SOCKET="$MUNGE_DIR/munge.socket"
MUNGE_PID="$MUNGE_DIR/munged.pid"
CTLD_PID="$STATE_DIR/slurmctld.pid"
SLURMD_PID="$STATE_DIR/slurmd.pid"
# Seconds a requeued job waits before it is eligible again (see write_config).
CRED_EXPIRE="${SLURM_LOCAL_CRED_EXPIRE:-10}"
# How long `start` waits for the node to be idle, and `stop` for the daemons to exit.
START_TIMEOUT="${SLURM_LOCAL_START_TIMEOUT:-60}"
STOP_TIMEOUT=20

die() {
    echo "local-cluster: error: $*" >&2
    exit 1
}

# The daemons' exact command lines. Besides its pid file, a daemon is found by its whole command
# line (pgrep -x -f), which names this state folder: that finds one whose pid file is not written
# yet (the daemons fork before writing it) and never matches another cluster's daemons.
MUNGED_CMD=(munged --socket="$MUNGE_SOCKET" --pid-file="$MUNGE_PID" --log-file="$MUNGE_DIR/munged.log"
    --seed-file="$MUNGE_DIR/munged.seed")
CTLD_CMD=(slurmctld -c -f "$CONF")
SLURMD_CMD=(slurmd -f "$CONF")

# pid_alive FILE: true when FILE names a running process.
pid_alive() {
    local pid
    [[ -s "$1" ]] || return 1
    pid=$(<"$1")
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# daemon_pid FILE COMMAND...: the daemon's pid from FILE, else from its exact command line; empty
# when it does not run.
daemon_pid() {
    local file="$1"
    shift
    if pid_alive "$file"; then
        cat "$file"
    else
        pgrep -x -f "$*" | head -n 1 || true
    fi
}

# wait_for_pid_file NAME FILE: the daemon has written its pid file (it forks first), or die.
wait_for_pid_file() {
    local deadline=$((SECONDS + 15))
    until pid_alive "$2"; do
        ((SECONDS < deadline)) || die "$1 wrote no pid file ($2) within 15 s; see $STATE_DIR/$1.log"
        sleep 0.2
    done
}

# sinfo/scontrol against this cluster only.
export SLURM_CONF="$CONF"

# write_config: slurm.conf for one node (this host) and one partition.
write_config() {
    local host node_line
    host=$(hostname)
    # `slurmd -C` prints this machine's NodeName=... line (CPUs, sockets, cores, threads, memory)
    # and an UpTime line that does not belong in slurm.conf.
    node_line=$(slurmd -C | grep '^NodeName=') || die "'slurmd -C' printed no NodeName line."
    [[ "$node_line" == "NodeName=$host "* ]] ||
        die "'slurmd -C' names another node than hostname '$host': $node_line"
    cat >"$CONF" <<CONF
# Written by launch/slurm/local-cluster.sh: a single-node cluster on $host.
ClusterName=disttrain-local
SlurmctldHost=$host
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
# munge with a private socket (see MUNGE_DIR in the script). cred_expire also sets how long a
# requeued job waits before it may start again: SLURM's default is 120 s (fine on a real cluster,
# where a requeued job waits for resources anyway); 10 s keeps the requeue test short.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE
# Daemons run as root here; no systemd, so no cgroup plugins: processes are tracked through
# their parent ids and tasks are not bound to cores.
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Jobs get CPUs (not whole nodes): several jobs may share the node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# A node that was down (e.g. slurmd restarted) returns to service as soon as it registers.
ReturnToService=1
# srun's MPI plugin when --mpi is not given; train.sbatch asks for pmix explicitly.
MpiDefault=none
# Where everything is written.
StateSaveLocation=$STATE_DIR/slurmctld
SlurmdSpoolDir=$STATE_DIR/slurmd
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No accounting database: sacct is not available, scontrol show job is.
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Look at pending jobs every 2 s instead of every 60 s, so a requeued job starts again as soon as
# it is eligible.
SchedulerParameters=sched_interval=2
# Keep finished jobs visible to scontrol for 5 minutes (the test inspects them).
MinJobAge=300
# Short timeouts: everything is local.
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
$node_line State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
}

# start_munged: munged as the munge user on the private socket, unless it already runs.
start_munged() {
    if pid_alive "$MUNGE_PID"; then
        echo "    munged already running (pid $(<"$MUNGE_PID"))"
        return
    fi
    [[ -r /etc/munge/munge.key ]] || die "no /etc/munge/munge.key (is the munge package installed? bash launch/setup.sh)"
    mkdir -p "$MUNGE_DIR"
    chown munge:munge "$MUNGE_DIR"
    chmod 0755 "$STATE_DIR" "$MUNGE_DIR"
    # munged runs as munge: every folder above its own must let that user through.
    runuser -u munge -- test -w "$MUNGE_DIR" ||
        die "the munge user cannot reach $MUNGE_DIR; choose a SLURM_LOCAL_DIR whose parent folders are world-executable."
    # munged refuses to run as root; it forks into the background once the socket is ready.
    runuser -u munge -- "${MUNGED_CMD[@]}" || die "munged did not start; see $MUNGE_DIR/munged.log"
    wait_for_pid_file munged "$MUNGE_PID"
    # A credential round trip proves the socket works.
    munge --socket="$MUNGE_SOCKET" -n | unmunge --socket="$MUNGE_SOCKET" >/dev/null ||
        die "munged runs but 'munge -n | unmunge' failed on $MUNGE_SOCKET"
    echo "    munged started (pid $(<"$MUNGE_PID"), socket $MUNGE_SOCKET)"
}

# node_state: the node's state as sinfo reports it ("idle", "down*", ...), empty if unreachable.
node_state() {
    sinfo --noheader --nodes="$(hostname)" --format=%T 2>/dev/null | head -n 1 || true
}

cmd_start() {
    [[ $(id -u) -eq 0 ]] || die "must run as root (the daemons run as root; munged as munge)."
    for tool in munged slurmctld slurmd sinfo srun; do
        command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; install slurm-wlm and munge with 'bash launch/setup.sh'."
    done
    if pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID"; then
        echo "local-cluster: already running ($STATE_DIR)"
        cmd_status
        return
    fi
    # A half-started cluster (one daemon left over) is stopped first, then everything is fresh.
    if [[ -n "$(daemon_pid "$CTLD_PID" "${CTLD_CMD[@]}")$(daemon_pid "$SLURMD_PID" "${SLURMD_CMD[@]}")" ]]; then
        echo "local-cluster: a previous start left one daemon running; stopping it first"
        cmd_stop
    fi
    echo "local-cluster: starting in $STATE_DIR"
    mkdir -p "$STATE_DIR"
    rm -rf "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    mkdir -p "$STATE_DIR/slurmctld" "$STATE_DIR/slurmd"
    write_config
    start_munged

    # -c: start clean (no saved jobs). Both daemons fork into the background and write pid files.
    "${CTLD_CMD[@]}" || die "slurmctld did not start; see $STATE_DIR/slurmctld.log"
    wait_for_pid_file slurmctld "$CTLD_PID"
    "${SLURMD_CMD[@]}" || die "slurmd did not start; see $STATE_DIR/slurmd.log"
    wait_for_pid_file slurmd "$SLURMD_PID"

    # Wait until the controller answers and the node has registered as idle.
    local deadline=$((SECONDS + START_TIMEOUT)) state=""
    while ((SECONDS < deadline)); do
        state=$(node_state)
        [[ "$state" == "idle" ]] && break
        pid_alive "$CTLD_PID" || die "slurmctld exited; see $STATE_DIR/slurmctld.log"
        pid_alive "$SLURMD_PID" || die "slurmd exited; see $STATE_DIR/slurmd.log"
        sleep 1
    done
    [[ "$state" == "idle" ]] ||
        die "node $(hostname) not idle after ${START_TIMEOUT}s (sinfo says '${state:-no answer}'); see $STATE_DIR/*.log"

    # srun --mpi=pmix is what train.sbatch uses by default; say so now if the plugin is missing.
    if srun --mpi=list 2>&1 | grep -q pmix; then
        echo "    srun MPI plugins: $(srun --mpi=list 2>&1 | tr -s '\n\t ' ' ')"
    else
        echo "    warning: srun --mpi=list shows no pmix; use LAUNCHER=mpirun with train.sbatch" >&2
    fi
    echo "local-cluster: up in $((SECONDS))s; node $(hostname) idle"
    echo "export SLURM_CONF=$CONF"
}

# stop_daemon NAME FILE COMMAND...: TERM the daemon (see daemon_pid) and wait for it to exit
# (KILL if it hangs).
stop_daemon() {
    local name="$1" file="$2" pid deadline
    shift 2
    pid=$(daemon_pid "$file" "$@")
    if [[ -z "$pid" ]]; then
        rm -f "$file"
        return
    fi
    kill -TERM "$pid"
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "    $name (pid $pid) still running after ${STOP_TIMEOUT}s; sending KILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
    echo "    stopped $name (pid $pid)"
}

cmd_stop() {
    echo "local-cluster: stopping the daemons of $STATE_DIR"
    # Jobs first: slurmstepd and the job's processes outlive a stopped slurmd, so cancel every job
    # of this cluster and give them a moment to end.
    if pid_alive "$CTLD_PID" && pid_alive "$SLURMD_PID"; then
        scancel --quiet --partition=debug 2>/dev/null || true
        local deadline=$((SECONDS + STOP_TIMEOUT))
        while [[ -n "$(squeue --noheader 2>/dev/null || true)" ]] && ((SECONDS < deadline)); do sleep 0.5; done
    fi
    stop_daemon slurmd "$SLURMD_PID" "${SLURMD_CMD[@]}"
    stop_daemon slurmctld "$CTLD_PID" "${CTLD_CMD[@]}"
    stop_daemon munged "$MUNGE_PID" "${MUNGED_CMD[@]}"
}

cmd_status() {
    local name file running=0
    for name in munged slurmctld slurmd; do
        case "$name" in
            munged) file="$MUNGE_PID" ;;
            slurmctld) file="$CTLD_PID" ;;
            slurmd) file="$SLURMD_PID" ;;
        esac
        if pid_alive "$file"; then
            echo "    $name running (pid $(<"$file"))"
            running=$((running + 1))
        else
            echo "    $name not running"
        fi
    done
    if ((running == 3)); then
        sinfo || true
        echo "export SLURM_CONF=$CONF"
    else
        return 1
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
