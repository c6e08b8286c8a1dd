"""PyTorch twin of `disttrain bench` on the CPU: the same ResNet-18 (CIFAR stem) training step
(`--method classifier`: forward + cross-entropy + backward + SGD; `--method simclr`: SimCLR's step on two
views with its projector, NT-Xent and LARS, `simclr_step.py`), timed the same way, plus peak resident memory.

    .venv-ref/bin/python scripts/bench_pytorch_cpu.py --threads 2 --batch-size 64
    .venv-ref/bin/python scripts/bench_pytorch_cpu.py --threads 2 --batch-size 64 --method simclr

Prints images/s, the step's GFLOP/s (same FLOP count as disttrain: 2·M·K·N per conv/linear GEMM, three
GEMMs per layer, two for the first conv), torch.mm GFLOP/s on 2048² and peak RSS. Run it in its own
process: peak RSS covers the whole process.
"""
import argparse
import resource
import time

import torch
import torch.nn as nn

from simclr_step import SimCLRStep, resnet18


def step_flops(model: nn.Module, x: torch.Tensor) -> float:
    total = 0.0
    first = [True]

    def conv_hook(module, inputs, output):
        n, cout, oh, ow = output.shape
        k = module.in_channels * module.kernel_size[0] * module.kernel_size[1]
        gemms = 2 if first[0] else 3
        first[0] = False
        nonlocal total
        total += gemms * 2.0 * n * oh * ow * k * cout

    def linear_hook(module, inputs, output):
        nonlocal total
        total += 3 * 2.0 * output.shape[0] * module.in_features * module.out_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear_hook) for m in model.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return total


def mm_gflops(size: int) -> float:
    a, b = torch.rand(size, size), torch.rand(size, size)
    best = 0.0
    for _ in range(4):
        t = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * size ** 3 / (time.perf_counter() - t) / 1e9)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-channels-last", action="store_true")
    parser.add_argument("--method", choices=["classifier", "simclr"], default="classifier")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.method == "simclr":
        simclr = SimCLRStep("cifar", args.channels, args.image_size, args.batch_size, torch.device("cpu"),
                            bf16=False, channels_last=not args.no_channels_last)
        flops = 2 * step_flops(nn.Sequential(simclr.encoder, simclr.projector), simclr.views[0])  # two views
        step = simclr.run
    else:
        torch.manual_seed(0)
        model = resnet18("cifar", args.channels, 10)
        x = torch.randn(args.batch_size, args.channels, args.image_size, args.image_size)
        y = torch.arange(args.batch_size) % 10
        if not args.no_channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        flops = step_flops(model, x)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        loss_fn = nn.CrossEntropyLoss()

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            optimizer.step()

    mm_before = mm_gflops(2048)
    for _ in range(2):
        step()
    times = []
    for _ in range(args.steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    mm_after = mm_gflops(2048)
    median = sorted(times)[len(times) // 2]
    mm = max(mm_before, mm_after)
    print(f"pytorch     {torch.__version__}, {args.method} step, threads {args.threads}, "
          f"channels_last {not args.no_channels_last}")
    print(f"step        median {median * 1e3:.1f} ms over {args.steps} steps")
    print(f"throughput  {args.batch_size / median:.1f} images/s")
    print(f"step flops  {flops / 1e9:.2f} GFLOP per step -> {flops / median / 1e9:.1f} GFLOP/s")
    print(f"torch.mm    {mm:.1f} GFLOP/s (2048x2048)")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB resident")
    print(f"ratio       {flops / median / 1e9 / mm:.3f} of torch.mm GFLOP/s")


if __name__ == "__main__":
    main()
