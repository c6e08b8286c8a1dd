"""PyTorch twin of `disttrain bench --device cuda`, run on the same GPU in the same run: the same ResNet-18
training step on random inputs, PyTorch the way a practitioner would run it fast (channels_last, cuDNN
benchmark mode, bf16 autocast or fp32 with TF32 off), then `disttrain bench` with the same settings, and
the ratio of the two throughputs. `--method simclr` (the issue's benchmark) times SimCLR's step: two
views through encoder and projector, NT-Xent, LARS (`simclr_step.py`); `--method classifier` a ResNet
with a 10-way head, cross-entropy and SGD.

    python3 scripts/bench_pytorch_gpu.py --disttrain bin/disttrain --method simclr --stem imagenet --image-size 224 --batch-size 256
    python3 scripts/bench_pytorch_gpu.py --disttrain bin/disttrain --method simclr --stem cifar --image-size 32 --batch-size 256

`--precision` goes to both: PyTorch's bf16 autocast (bf16 convolutions and activations) against
disttrain's `--precision bf16` (bf16 GEMM operands on the tensor cores, fp32 activations), or fp32 on
both sides. Smoke test without a GPU: `--device cpu --disttrain-device cpu --precision fp32 --batch-size 4
--steps 1` (disttrain's bf16 needs a GPU).
"""
import argparse
import re
import subprocess
import time

import torch
import torch.nn as nn

from simclr_step import SimCLRStep, resnet18


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def classifier_step(args: argparse.Namespace, device: torch.device):
    torch.manual_seed(0)
    model = resnet18(args.stem, args.channels, 10).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(args.batch_size, args.channels, args.image_size, args.image_size, device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(args.batch_size, device=device) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    bf16 = args.precision == "bf16"

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def pytorch_images_per_second(args: argparse.Namespace, device: torch.device) -> float:
    if args.method == "simclr":
        step = SimCLRStep(args.stem, args.channels, args.image_size, args.batch_size, device,
                          bf16=args.precision == "bf16").run
    else:
        step = classifier_step(args, device)
    for _ in range(3):  # warm-up, and cuDNN's benchmark search
        step()
    synchronize(device)
    times = []
    for _ in range(args.steps):
        start = time.perf_counter()
        step()
        synchronize(device)
        times.append(time.perf_counter() - start)
    median = sorted(times)[len(times) // 2]
    return args.batch_size / median


def disttrain_images_per_second(args: argparse.Namespace) -> float:
    command = [args.disttrain, "bench", "--device", args.disttrain_device, "--method", args.method, "--stem", args.stem,
               "--image-size", str(args.image_size), "--channels", str(args.channels),
               "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--precision", args.precision]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    print(output.rstrip())
    match = re.search(r"throughput\s+([0-9.]+) images/s", output)
    if not match:
        raise SystemExit(f"no throughput line in the output of {' '.join(command)}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--method", choices=["simclr", "classifier"], default="simclr")
    parser.add_argument("--stem", choices=["cifar", "imagenet"], default="cifar")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--disttrain", help="the disttrain binary; omit to time PyTorch only")
    parser.add_argument("--disttrain-device", default="cuda")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False  # fp32 means fp32, as disttrain's cuBLAS calls
    torch.backends.cudnn.allow_tf32 = False
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"pytorch     {torch.__version__} on {name}: {args.method} step, ResNet-18 {args.stem} stem, {args.channels}x{args.image_size}x"
          f"{args.image_size}, batch {args.batch_size}, {args.precision}, channels_last, cudnn.benchmark")
    torch_rate = pytorch_images_per_second(args, device)
    print(f"pytorch     {torch_rate:.1f} images/s")
    if args.disttrain:
        ours = disttrain_images_per_second(args)
        print(f"ratio       disttrain / pytorch = {ours / torch_rate:.3f} (target: at least 1.0)")


if __name__ == "__main__":
    main()
