#!/usr/bin/env bash
# The real-SLURM test of launch/slurm/train.sbatch: preemption, checkpoint, requeue and resume.
#
#   bash launch/test-slurm.sh            # needs root, slurm-wlm + munge (launch/setup.sh) and the
#                                        # release binary ($SCRATCH/release/disttrain)
#
# 1. Starts a private single-node cluster (launch/slurm/local-cluster.sh, own state folder and
#    port, so a cluster you started by hand is left alone).
# 2. Submits train.sbatch as a 2-task job: a small SimCLR run on synthetic data.
# 3. When metrics.jsonl shows a few steps, sends SIGUSR1 to the batch script exactly as
#    `--signal=B:USR1@...` does before the time limit (scancel --batch --signal=USR1).
# 4. Checks that the ranks stopped with a checkpoint, that the script requeued the job (restart
#    count 1), that the requeued run resumed at the step where it stopped (S > 0), that every step
#    was trained exactly once and the last metrics record is the run's final step, and that the
#    job completed with exit code 0.
# The daemons it started are always stopped (trap). Every wait has a time limit; on a failure the
# message names the check, and the job's output and the daemon logs are kept and shown.
#
# Variables: DISTTRAIN_BIN (the binary), LAUNCHER (srun or mpirun, passed to train.sbatch),
# SLURM_LOCAL_PORT (default 6827).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# The run: 512 synthetic images, global batch 8 (4 per rank) -> 64 steps per epoch, 2 epochs =
# 128 steps. Many small steps: enough of them for the signal to land mid-run on a fast machine
# (the signal goes out after 2 steps; ~60 steps/s here when idle), few images (1024) so the whole
# test stays within ~2 minutes on a busy 2-core machine (~3 steps/s).
EPOCHS=2
SUBSET=512
BATCH=8
TOTAL_STEPS=$((EPOCHS * SUBSET / BATCH))
TRAIN_ARGS=(--method simclr --dataset synthetic --width 0.125 --subset "$SUBSET" --batch-size "$BATCH"
    --epochs "$EPOCHS" --proj-hidden-dim 64 --proj-output-dim 32 --no-knn)
# Time limits (seconds) for each wait.
START_LIMIT=90       # the job is running and has trained a few steps
REQUEUE_LIMIT=60     # after the signal: the job has been requeued
FINISH_LIMIT=150     # after the requeue: the job has completed
SIGNAL_AFTER_STEPS=2 # step records in metrics.jsonl before the signal is sent

binary="${DISTTRAIN_BIN:-$REPO_ROOT/$SCRATCH/release/disttrain}"

fail() {
    echo "test-slurm: FAILED: $*" >&2
    exit 1
}

# --- Preconditions -------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || fail "must run as root (it starts slurmctld, slurmd and munged)."
[[ -x "$binary" ]] || fail "no release binary at $binary; build it with 'swift build -c release' (or set DISTTRAIN_BIN)."
for tool in sbatch scontrol scancel slurmctld slurmd munged; do
    command -v "$tool" >/dev/null 2>&1 || fail "'$tool' not found; run 'bash launch/setup.sh' (slurm-wlm, munge)."
done

# --- A private cluster, stopped on exit ----------------------------------------------------------
work=$(mktemp -d /tmp/disttrain-test-slurm.XXXXXX)
chmod 0755 "$work" # munged runs as the munge user and needs to get through to its folder
export SLURM_LOCAL_DIR="$work/cluster"
export SLURM_LOCAL_PORT="${SLURM_LOCAL_PORT:-6827}"
export SLURM_CONF="$SLURM_LOCAL_DIR/slurm.conf"
job_out="$work/job.out"
run_dir="$work/run"
metrics="$run_dir/metrics.jsonl"
cluster=(bash "$REPO_ROOT/launch/slurm/local-cluster.sh")

cleanup() {
    local status=$?
    trap - EXIT
    set +e
    if ((status != 0)); then
        echo
        echo "---- job output ($job_out) ----"
        [[ -f "$job_out" ]] && tr '\r' '\n' <"$job_out" | tail -n 40
        for log in slurmctld slurmd; do
            echo "---- $log.log (last lines) ----"
            tail -n 15 "$SLURM_LOCAL_DIR/$log.log" 2>/dev/null
        done
    fi
    "${cluster[@]}" stop
    if ((status == 0)); then
        rm -rf "$work"
        echo "test-slurm: PASSED in $(elapsed)"
    else
        echo "test-slurm: files kept in $work"
    fi
    exit "$status"
}
trap cleanup EXIT
# A signal (Ctrl-C, a CI time-out) ends the script through the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

step "Starting a single-node SLURM cluster in $SLURM_LOCAL_DIR (port $SLURM_LOCAL_PORT)"
timeout 120 "${cluster[@]}" start || fail "local-cluster.sh start failed (see the logs above)."

# sc: scontrol/sbatch/scancel with a time limit, so an unresponsive slurmctld cannot hang the test.
sc() { timeout 30 "$@"; }

# job_field NAME: one field of `scontrol show job` (JobState, Restarts, ExitCode, ...).
job_field() {
    sc scontrol show job "$job_id" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# step_records: the per-step records of metrics.jsonl ("loss", not the epochs' "train_loss").
step_records() {
    local count
    count=$(grep -c '"loss":' "$metrics" 2>/dev/null) || true
    echo "${count:-0}"
}

# --- Submit --------------------------------------------------------------------------------------
step "Submitting launch/slurm/train.sbatch: 2 tasks, $TOTAL_STEPS steps, launcher ${LAUNCHER:-srun}"
job_id=$(
    cd "$work" &&
        RUN_DIR="$run_dir" DISTTRAIN_BIN="$binary" LAUNCHER="${LAUNCHER:-srun}" \
            sc sbatch --parsable --job-name=test-slurm --nodes=1 --ntasks-per-node=2 \
            --cpus-per-task=1 --output="$job_out" "$REPO_ROOT/launch/slurm/train.sbatch" "${TRAIN_ARGS[@]}"
) || fail "sbatch refused the job."
[[ "$job_id" =~ ^[0-9]+$ ]] || fail "sbatch printed '$job_id' instead of a job id."
echo "    job $job_id; output $job_out"

# --- Wait for progress, then signal --------------------------------------------------------------
step "Waiting for $SIGNAL_AFTER_STEPS training steps in $metrics"
deadline=$((SECONDS + START_LIMIT))
while (($(step_records) < SIGNAL_AFTER_STEPS)); do
    state=$(job_field JobState)
    case "$state" in
        PENDING | CONFIGURING | RUNNING | "") ;;
        *) fail "job $job_id ended ($state) before training $SIGNAL_AFTER_STEPS steps." ;;
    esac
    ((SECONDS < deadline)) || fail "no $SIGNAL_AFTER_STEPS steps in metrics.jsonl after ${START_LIMIT}s (job state: ${state:-unknown})."
    sleep 0.1
done
echo "    $(step_records) steps trained; sending SIGUSR1 to the batch script"
# --batch: the batch shell only, as #SBATCH --signal=B:USR1@120 does; train.sbatch forwards it.
sc scancel --batch --signal=USR1 "$job_id" || fail "scancel --batch --signal=USR1 $job_id failed."

# --- Requeued? -----------------------------------------------------------------------------------
step "Waiting for the job to be requeued"
deadline=$((SECONDS + REQUEUE_LIMIT))
while [[ "$(job_field Restarts)" != 1 ]]; do
    state=$(job_field JobState)
    case "$state" in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED)
            fail "job $job_id ended ($state) without being requeued: the signal did not stop the run, or train.sbatch did not requeue it." ;;
    esac
    ((SECONDS < deadline)) || fail "job $job_id not requeued ${REQUEUE_LIMIT}s after the signal (state ${state:-unknown}, restarts $(job_field Restarts))."
    sleep 0.5
done
echo "    requeued (restarts 1, state $(job_field JobState))"

step "Waiting for the requeued job to finish"
deadline=$((SECONDS + FINISH_LIMIT))
while true; do
    state=$(job_field JobState)
    case "$state" in
        COMPLETED) break ;;
        FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | PREEMPTED | BOOT_FAIL | DEADLINE)
            fail "requeued job $job_id ended $state (exit code $(job_field ExitCode))." ;;
    esac
    ((SECONDS < deadline)) || fail "requeued job $job_id not finished after ${FINISH_LIMIT}s (state ${state:-unknown})."
    sleep 1
done

# --- Checks --------------------------------------------------------------------------------------
step "Checking the job's output, restart count and metrics"
output=$(tr '\r' '\n' <"$job_out")

restarts=$(job_field Restarts)
[[ "$restarts" == 1 ]] || fail "expected exactly 1 restart of job $job_id, scontrol says '$restarts'."
exit_code=$(job_field ExitCode)
[[ "$exit_code" == 0:0 ]] || fail "job $job_id completed with ExitCode=$exit_code, expected 0:0."
echo "    ok  job $job_id COMPLETED, Restarts=1, ExitCode=0:0"

grep -q 'train.sbatch: SIGUSR1 received' <<<"$output" ||
    fail "train.sbatch never reported receiving SIGUSR1 (scancel --batch did not reach the batch script)."
stop_line=$(grep -m 1 -E 'stopped on request \(SIGUSR1\) after step [0-9]+' <<<"$output") ||
    fail "no rank printed 'stopped on request (SIGUSR1) after step N'."
stopped_step=$(sed -E 's/.*after step ([0-9]+).*/\1/' <<<"$stop_line")
stopping_ranks=$(grep -c 'stopped on request (SIGUSR1)' <<<"$output" || true)
((stopping_ranks == 2)) || fail "expected both ranks to report the stop, found $stopping_ranks line(s)."
echo "    ok  both ranks stopped after step $stopped_step with a checkpoint"

grep -q "requeueing job $job_id" <<<"$output" || fail "train.sbatch did not report requeueing job $job_id (exit code 75 not seen?)."
echo "    ok  train.sbatch saw exit code 75 and requeued the job"

resume_line=$(grep -m 1 -E '^resume: .* at epoch [0-9]+, step [0-9]+' <<<"$output") ||
    fail "the requeued run did not print 'resume: ... at epoch E, step S' (did --resume auto find the checkpoint?)."
resumed_step=$(sed -E 's/.*, step ([0-9]+).*/\1/' <<<"$resume_line")
((resumed_step > 0)) || fail "the requeued run resumed at step $resumed_step, expected > 0."
((resumed_step == stopped_step)) || fail "stopped after step $stopped_step but resumed at step $resumed_step."
((resumed_step < TOTAL_STEPS)) || fail "resumed at step $resumed_step of $TOTAL_STEPS: the signal came after the end."
echo "    ok  $resume_line"

grep -q 'train.sbatch: launcher exited with status 0' <<<"$output" ||
    fail "the requeued run's launcher did not exit with status 0."

last_step=$(tail -n 1 "$metrics" | sed -nE 's/.*"step":([0-9]+).*/\1/p')
[[ "$last_step" == "$TOTAL_STEPS" ]] ||
    fail "the last metrics record is step '${last_step:-none}', expected the run's total $TOTAL_STEPS."
# Every step trained exactly once: steps 1..S by the first run, S+1..total by the requeued one.
trained_steps=$(grep '"loss":' "$metrics" | sed -nE 's/.*"step":([0-9]+).*/\1/p' | tr '\n' ' ')
expected_steps=$(seq -s ' ' 1 "$TOTAL_STEPS")
[[ "${trained_steps% }" == "$expected_steps" ]] ||
    fail "metrics.jsonl does not hold each step 1..$TOTAL_STEPS exactly once in order: ${trained_steps:0:200}..."
echo "    ok  metrics.jsonl: steps 1..$TOTAL_STEPS once each, last record step $last_step"
