"""The SimCLR training step in PyTorch, as `disttrain bench --method simclr` runs it, for the benchmark
scripts (`bench_pytorch_cpu.py`, `bench_pytorch_gpu.py`): a torchvision ResNet-18 encoder (CIFAR or
ImageNet stem), solo-learn's projector Linear(512, 2048)-ReLU-Linear(2048, 256), NT-Xent at temperature
0.2 over both views (2B rows, the other view as the positive), and solo-learn's LARS (eta 0.02, clipped,
biases and batch-norm parameters neither adapted nor decayed) at lr 0.4 x B/256, momentum 0.9, weight
decay 1e-4 (disttrain's SimCLR defaults).
"""
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision


def resnet18(stem: str, in_channels: int, classes) -> nn.Module:
    """torchvision's ResNet-18 with disttrain's stems; `classes` None drops the classifier (an encoder)."""
    model = torchvision.models.resnet18(num_classes=classes or 1000)
    if stem == "cifar":
        model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    if classes is None:
        model.fc = nn.Identity()
    return model


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR's loss (Chen et al. 2020, eq. 1) averaged over all 2B anchors, computed in fp32."""
    z = F.normalize(torch.cat([z1, z2]).float(), dim=1)
    similarity = z @ z.t() / temperature
    similarity.fill_diagonal_(float("-inf"))
    b = z1.shape[0]
    positives = torch.cat([torch.arange(b, 2 * b, device=z.device), torch.arange(0, b, device=z.device)])
    return F.cross_entropy(similarity, positives)


class LARS(torch.optim.Optimizer):
    """solo-learn's LARS (from PyTorch Lightning Bolts), with `exclude_bias_n_norm` and `clip_lr` on."""

    def __init__(self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 0.02,
                 eps: float = 1e-8):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                d = p.grad
                if p.ndim != 1:  # weights only: biases and BN parameters are plain momentum SGD
                    p_norm, g_norm = torch.norm(p), torch.norm(p.grad)
                    ratio = group["eta"] * p_norm / (g_norm + p_norm * group["weight_decay"] + group["eps"])
                    ratio = torch.clamp(ratio / group["lr"], max=1.0)
                    usable = (p_norm != 0) & (g_norm != 0)
                    d = torch.where(usable, ratio * (d + group["weight_decay"] * p), d)
                state = self.state[p]
                if "velocity" not in state:
                    state["velocity"] = torch.zeros_like(p)
                v = state["velocity"]
                v.mul_(group["momentum"]).add_(d)
                p.add_(v, alpha=-group["lr"])


class SimCLRStep:
    """Owns the networks and optimiser; `run()` is one training step on two fixed views."""

    def __init__(self, stem: str, channels: int, image_size: int, batch_size: int, device: torch.device,
                 bf16: bool, channels_last: bool = True):
        torch.manual_seed(0)
        self.encoder = resnet18(stem, channels, None).to(device)
        if channels_last:
            self.encoder = self.encoder.to(memory_format=torch.channels_last)
        self.projector = nn.Sequential(nn.Linear(512, 2048), nn.ReLU(inplace=True), nn.Linear(2048, 256)).to(device)
        parameters = list(self.encoder.parameters()) + list(self.projector.parameters())
        self.optimizer = LARS(parameters, lr=0.4 * batch_size / 256, momentum=0.9, weight_decay=1e-4)
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.views = [torch.randn(batch_size, channels, image_size, image_size, device=device)
                      .contiguous(memory_format=memory_format) for _ in range(2)]
        self.device, self.bf16 = device, bf16

    def run(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            z1, z2 = (self.projector(self.encoder(x)) for x in self.views)
        nt_xent(z1, z2, 0.2).backward()
        self.optimizer.step()

    def modules(self):
        return [self.encoder, self.projector]
