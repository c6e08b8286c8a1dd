#!/usr/bin/env bash
# Every check the GPU issue asks for, in one pass, for a session that is lent a GPU machine for a few
# minutes (no Swift there: it runs the portable bundle). Each step has its own time limit and a failing step
# does not stop the others. OUT_DIR gets two files (the device tool brings back at most 8): summary.txt, one
# line per step, and logs.tar.gz, every step's log and the training run's config.json and metrics.jsonl.
#
#   here:   bash launch/bundle --output .gpu/disttrain --tar     (then keep only .gpu/disttrain.tar.gz)
#   there:  bash launch/gpu-session.sh .gpu/disttrain.tar.gz "$OUT"
#
# Steps (7 min 50 s of limits, 9 minutes at most with each kill's 10 s grace: inside the device tool's
# 10-minute command limit):
#   env        nvidia-smi, the Python and PyTorch that scripts/bench_pytorch_gpu.py will use
#   gpu-check  every op against the CPU backend (fp32, bf16), a training step of each method, NCCL on one rank
#   bench-*    disttrain's ResNet-18 SimCLR step (two views, projector, NT-Xent, LARS) against PyTorch's
#              on this GPU (images/s and their ratio): 224 px ImageNet stem and 32 px CIFAR stem, batch 256,
#              bf16 (the issue's target); with GPU_SESSION_FP32=1 also 224 px in fp32 (2 more minutes at most)
#   profile    the same SimCLR step's time, then where the encoder's time goes: forward, backward, every convolution
#   loader     the 224 px loader's images/s on this machine's cores (compare with the step's)
#   train      `train --device cuda` end to end on the synthetic dataset (2048 images of 32x32x3): 3 epochs
#              of 8 steps, the online probe, checkpoints, kNN
# The CUDA libraries are found in the site-packages of the python3 that holds PyTorch (its nvidia/*
# wheels hold cuBLAS, NVRTC and NCCL) unless DISTTRAIN_CUDA_PATH is already set.
set -uo pipefail

if (($# != 2)); then
    echo "usage: launch/gpu-session.sh BUNDLE.tar.gz|BUNDLE_DIR OUT_DIR" >&2
    exit 2
fi
bundle=$1
out=$2
mkdir -p "$out"
out=$(cd "$out" && pwd)
logs=$(mktemp -d)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ -f "$bundle" ]]; then
    unpacked=$(mktemp -d)
    tar -xzf "$bundle" -C "$unpacked" || { echo "error: cannot unpack $bundle" >&2; exit 1; }
    bundle=$(dirname "$(find "$unpacked" -path '*/bin/disttrain' -print -quit)")/..
fi
bin=$(cd "$bundle" && pwd)/bin/disttrain
[[ -x "$bin" ]] || { echo "error: no bin/disttrain in $bundle; make one with 'bash launch/bundle --tar'" >&2; exit 1; }

if [[ -z "${DISTTRAIN_CUDA_PATH:-}" ]]; then
    DISTTRAIN_CUDA_PATH=$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' 2>/dev/null || true)
    export DISTTRAIN_CUDA_PATH
fi
export PYTHONUNBUFFERED=1
summary="$out/summary.txt"
: >"$summary"

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with its output in NAME.log, one line in summary.txt.
step() {
    local name=$1 limit=$2 started rc
    shift 2
    echo "==> $name (limit ${limit}s): $*"
    started=$(date +%s)
    timeout --kill-after=10 "$limit" "$@" >"$logs/$name.log" 2>&1
    rc=$?
    local seconds=$(($(date +%s) - started)) result="ok"
    ((rc == 124 || rc == 137)) && result="TIMED OUT" || { ((rc != 0)) && result="FAILED (exit $rc)"; }
    tail -n 4 "$logs/$name.log" | sed 's/^/    /'
    printf '%-14s %-18s %4ds  %s\n' "$name" "$result" "$seconds" "$(grep -E 'disttrain / pytorch|op outputs match|training-step outputs match|images/s|encoder forward\+backward' "$logs/$name.log" | tail -n 2 | tr '\n' ' ')" >>"$summary"
}

step env 20 bash -c "nvidia-smi; echo; python3 -c 'import torch, sys; print(sys.executable, torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))'; echo DISTTRAIN_CUDA_PATH=$DISTTRAIN_CUDA_PATH; nproc; ldd --version | head -n 1"
step gpu-check 150 "$bin" gpu-check
bench=(python3 "$repo/scripts/bench_pytorch_gpu.py" --disttrain "$bin" --method simclr --batch-size 256)
step bench-224-bf16 90 "${bench[@]}" --precision bf16 --stem imagenet --image-size 224
step bench-32-bf16 60 "${bench[@]}" --precision bf16 --stem cifar --image-size 32
if [[ "${GPU_SESSION_FP32:-0}" == 1 ]]; then
    step bench-224-fp32 120 "${bench[@]}" --precision fp32 --stem imagenet --image-size 224
fi
step profile 60 "$bin" bench --device cuda --precision bf16 --method simclr --stem imagenet --image-size 224 --batch-size 256 --profile
# The profile's kernel table, first lines: where the GPU step's device time goes.
grep -A 8 '^kernels ' "$logs/profile.log" 2>/dev/null >>"$summary"
step loader 30 "$bin" bench --loader --image-size 224 --preset imagenet --workers "$(nproc)" --batch-size 256 --pixels
step train 60 "$bin" train --device cuda --precision bf16 --dataset synthetic --method simclr --width 1 --batch-size 256 \
    --epochs 3 --workers "$(nproc)" --run-dir "$logs/run"

# The issue's loader target: the 224 px loader's images/s over disttrain's 224 px SimCLR step's (at least 1;
# both count images, each of which gives two views).
rate() { grep -E -o 'throughput +[0-9.]+ images/s' "$logs/$1.log" 2>/dev/null | tail -n 1 | grep -E -o '[0-9.]+' | head -n 1; }
loader_rate=$(rate loader)
step_rate=$(rate bench-224-bf16)
if [[ -n "$loader_rate" && -n "$step_rate" ]]; then
    echo "loader / step at 224 px bf16: $(awk -v a="$loader_rate" -v b="$step_rate" 'BEGIN { printf "%.2f", a / b }') ($loader_rate over $step_rate images/s; target: at least 1)" >>"$summary"
fi
tar -czf "$out/logs.tar.gz" -C "$logs" --exclude=checkpoints .
echo
echo "==> summary ($summary; every log in $out/logs.tar.gz)"
cat "$summary"
! grep -q -E 'FAILED|TIMED OUT' "$summary"
