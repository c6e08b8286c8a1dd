"""Tiny MedMNIST-format archives for the end-to-end tests of `disttrain eval linear` (numpy only).

Writes Tests/DistTrainTests/Fixtures/medmnist/chestmnist.npz and pneumoniamnist.npz in MedMNIST's
layout (np.savez_compressed; members {train,val,test}_{images,labels}; images uint8 [N, 28, 28],
labels [N, 14] 0/1 for ChestMNIST, [N, 1] 0/1 for PneumoniaMNIST), with 60 / 30 / 40 images.

Images carry their labels: finding or class l adds a bright 4x4 square at its own place on a noisy
background, so a probe on random-encoder features learns them. In ChestMNIST's test split finding 13
(hernia) is never present, so its AUC is undefined there and disttrain must say so.
"""

import os

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "DistTrainTests", "Fixtures", "medmnist")
SPLITS = {"train": 60, "val": 30, "test": 40}


def images(rng, labels):
    n, k = labels.shape
    x = rng.normal(90, 20, size=(n, 28, 28))
    for l in range(k):
        r, c = 2 + 6 * (l // 4), 2 + 6 * (l % 4)
        x[labels[:, l] == 1, r:r + 4, c:c + 4] += 120
    return np.clip(x, 0, 255).astype(np.uint8)


def main():
    rng = np.random.default_rng(28)
    os.makedirs(OUT, exist_ok=True)
    chest, pneumonia = {}, {}
    for split, n in SPLITS.items():
        y = (rng.random((n, 14)) < 0.3).astype(np.uint8)
        if split == "test":
            y[:, 13] = 0
        chest[f"{split}_images"], chest[f"{split}_labels"] = images(rng, y), y
        p = (np.arange(n) % 2).astype(np.uint8).reshape(n, 1)
        pneumonia[f"{split}_images"], pneumonia[f"{split}_labels"] = images(rng, p), p
    np.savez_compressed(os.path.join(OUT, "chestmnist.npz"), **chest)
    np.savez_compressed(os.path.join(OUT, "pneumoniamnist.npz"), **pneumonia)
    for name in ("chestmnist.npz", "pneumoniamnist.npz"):
        print(f"wrote {os.path.join(OUT, name)} ({os.path.getsize(os.path.join(OUT, name))} bytes)")


if __name__ == "__main__":
    main()
