#!/usr/bin/env python3
"""PyTorch reference of disttrain's Fashion-MNIST SSL recipe, to tell a recipe's limit from a bug.

Mirrors `disttrain train --method M --subset 20000 --epochs 5 --batch-size 256` with disttrain's defaults:
ResNet-18 at width 0.25 (stages 16-32-64-128), CIFAR stem (3x3 conv, no max-pool), one input channel;
the `fashion-mnist` preset (RandomResizedCrop 28 scale 0.2-1, flip, ColorJitter(0.4, 0.4) with p 0.8),
Fashion-MNIST's mean/std; LARS as solo-learn's (eta 0.02, clip_lr, biases and BN excluded), lr scaled by
batch/256, linear warm-up (10 % of the run by default) then cosine per step; the methods' heads and
losses as disttrain's (SimCLR Linear-ReLU-Linear 2048-256, T 0.2; VICReg 2048-2048-2048 with 25/25/1,
variance averaged over the branches; BYOL 4096-256 projector and predictor, tau cosine 0.99 -> 1).
Then weighted kNN (k 200, T 0.07) of the frozen encoder: the training images vote for the 10k test images.

  .venv-ref/bin/python scripts/reference_ssl_fmnist.py --method byol [--epochs 5] [--lr 1.0] [--warmup-epochs 0.5]
  .venv-ref/bin/python scripts/reference_ssl_fmnist.py --method random     # the random-init baseline

Not bit-compatible with disttrain (different random streams); compare accuracies, not losses.
"""
import argparse
import gzip
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision.transforms.v2 as T

from simclr_step import LARS, nt_xent  # the same loss and optimiser as the GPU benchmark's

FOLDER = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (self.down(x) if self.down is not None else x))


class ResNet18(nn.Module):
    """torchvision's ResNet-18 layout with a width multiplier and the CIFAR stem; inits as torchvision's."""

    def __init__(self, width=0.25, channels=1):
        super().__init__()
        widths = [int(64 * width * m) for m in (1, 2, 4, 8)]
        self.conv1 = nn.Conv2d(channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        layers, cin = [], widths[0]
        for i, w in enumerate(widths):
            layers += [Block(cin, w, 1 if i == 0 else 2), Block(w, w, 1)]
            cin = w
        self.layers = nn.Sequential(*layers)
        self.dim = cin
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.adaptive_avg_pool2d(self.layers(x), 1).flatten(1)


def mlp(din, hidden, dout, layers=1, bn=True):
    mods, w = [], din
    for _ in range(layers):
        mods += [nn.Linear(w, hidden)] + ([nn.BatchNorm1d(hidden)] if bn else []) + [nn.ReLU()]
        w = hidden
    return nn.Sequential(*mods, nn.Linear(w, dout))


def vicreg(z1, z2, lam=25.0, mu=25.0, nu=1.0):
    inv = F.mse_loss(z1, z2)
    def var_cov(z):
        z = z - z.mean(0)
        std = torch.sqrt(z.var(0) + 1e-4)
        cov = z.T @ z / (z.shape[0] - 1)
        off = cov - torch.diag(torch.diag(cov))
        return F.relu(1 - std).mean(), off.pow(2).sum() / z.shape[1]
    v1, c1 = var_cov(z1)
    v2, c2 = var_cov(z2)
    return lam * inv + mu * (v1 + v2) / 2 + nu * (c1 + c2)


def byol_loss(p, z):
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


def features(encoder, images, batch=512):
    encoder.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = (torch.from_numpy(images[i:i + batch]).float()[:, None] / 255 - MEAN) / STD
            out.append(F.normalize(encoder(x), dim=1))
    return torch.cat(out)


def knn_accuracy(train_f, train_y, test_f, test_y, k=200, t=0.07, classes=10):
    correct = 0
    for i in range(0, len(test_f), 500):
        sims = test_f[i:i + 500] @ train_f.T
        top, idx = sims.topk(k, dim=1)
        weights = (top / t).exp()
        votes = torch.zeros(len(idx), classes).scatter_add_(1, train_y[idx], weights)
        correct += (votes.argmax(1) == test_y[i:i + 500]).sum().item()
    return correct / len(test_f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", choices=["simclr", "vicreg", "byol", "random"], required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--subset", type=int, default=20000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--warmup-epochs", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    train_x = read_idx(f"{FOLDER}/train-images-idx3-ubyte.gz")[:a.subset].copy()
    train_y = torch.from_numpy(read_idx(f"{FOLDER}/train-labels-idx1-ubyte.gz")[:a.subset].astype(np.int64))
    test_x = read_idx(f"{FOLDER}/t10k-images-idx3-ubyte.gz").copy()
    test_y = torch.from_numpy(read_idx(f"{FOLDER}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    encoder = ResNet18()
    start = time.time()
    if a.method != "random":
        base_lr, wd = {"simclr": (0.4, 1e-4), "vicreg": (0.3, 1e-4), "byol": (1.0, 1e-5)}[a.method]
        lr = (a.lr or base_lr) * a.batch_size / 256
        d = encoder.dim
        heads = nn.ModuleDict()
        if a.method == "simclr":
            heads["projector"] = mlp(d, 2048, 256, bn=False)
        elif a.method == "vicreg":
            heads["projector"] = mlp(d, 2048, 2048, layers=2)
        else:
            heads["projector"] = mlp(d, 4096, 256)
            heads["predictor"] = mlp(256, 4096, 256)
        online = nn.ModuleDict({"encoder": encoder, **heads})
        if a.method == "byol":
            target = nn.ModuleDict({"encoder": ResNet18(), "projector": mlp(d, 4096, 256)})
            target.load_state_dict({k: v for k, v in online.state_dict().items() if not k.startswith("predictor")})
            for p in target.parameters():
                p.requires_grad_(False)
        opt = LARS(online.parameters(), lr=lr, weight_decay=wd)
        augment = T.Compose([T.RandomResizedCrop(28, scale=(0.2, 1.0), antialias=True), T.RandomHorizontalFlip(),
                             T.RandomApply([T.ColorJitter(brightness=0.4, contrast=0.4)], p=0.8)])
        steps_per_epoch = a.subset // a.batch_size
        total = steps_per_epoch * a.epochs
        warmup = round((a.warmup_epochs if a.warmup_epochs is not None else min(10, 0.1 * a.epochs)) * steps_per_epoch)
        step = 0
        for epoch in range(a.epochs):
            online.train()
            order = torch.randperm(a.subset)
            for s in range(steps_per_epoch):
                idx = order[s * a.batch_size:(s + 1) * a.batch_size]
                images = torch.from_numpy(train_x[idx.numpy()])[:, None]
                views = [torch.stack([augment(img) for img in images]).float() for _ in range(2)]
                x1, x2 = [(v / 255 - MEAN) / STD for v in views]
                for g in opt.param_groups:
                    g["lr"] = lr * step / warmup if step < warmup else \
                        lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
                if a.method == "byol":
                    p1 = online["predictor"](online["projector"](encoder(x1)))
                    p2 = online["predictor"](online["projector"](encoder(x2)))
                    with torch.no_grad():
                        t1 = target["projector"](target["encoder"](x1))
                        t2 = target["projector"](target["encoder"](x2))
                    loss = byol_loss(p1, t2) + byol_loss(p2, t1)
                else:
                    z1 = online["projector"](encoder(x1))
                    z2 = online["projector"](encoder(x2))
                    loss = nt_xent(z1, z2, 0.2) if a.method == "simclr" else vicreg(z1, z2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if a.method == "byol":
                    tau = 1 - (1 - 0.99) * (math.cos(math.pi * step / total) + 1) / 2
                    with torch.no_grad():
                        for name, tp in target.named_parameters():
                            tp.mul_(tau).add_(dict(online.named_parameters())[name], alpha=1 - tau)
                step += 1
            print(f"epoch {epoch + 1}/{a.epochs} loss {loss.item():.4f} elapsed {time.time() - start:.0f} s", flush=True)
    accuracy = knn_accuracy(features(encoder, train_x), train_y, features(encoder, test_x), test_y)
    print(f"{a.method}: knn (k 200, T 0.07) test acc {100 * accuracy:.2f}%  ({time.time() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
