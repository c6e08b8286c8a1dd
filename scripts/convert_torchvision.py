"""Converts a torchvision (PyTorch) ResNet state dict, `.pth`, to the safetensors file disttrain reads.

    python scripts/convert_torchvision.py IN.pth OUT.safetensors [--strip-prefix module.]

IN.pth is what `torch.save(model.state_dict(), path)` writes (torchvision's downloadable weights are
such files), or a training checkpoint holding one under "state_dict" or "model". Every tensor is
written under its own name (`conv1.weight`, `layer1.0.bn1.running_mean`, `fc.weight`, ...) in PyTorch's
layout (conv weights OIHW) as float32, which is how disttrain names and stores an encoder;
`num_batches_tracked` (int64) becomes float32 too (exact below 2^24; torch's `load_state_dict` casts
it back). `--strip-prefix` removes a prefix such as "module." (DataParallel) or "backbone." (solo-learn)
first. disttrain ignores `fc.*` when it loads an encoder (`--init`, `eval --checkpoint`).

Only the standard library and torch are needed (scripts/safetensors_io.py writes the file).
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402


def load_state_dict(path):
    import torch

    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(hasattr(v, "shape") for v in obj.values()):
        raise SystemExit(f"{path}: expected a state dict (name -> tensor), found {type(obj).__name__}")
    return obj


def convert(source, destination, strip_prefix=""):
    """Writes `source`'s state dict to `destination`; returns the names written."""
    state = load_state_dict(source)
    tensors = {}
    for name, tensor in state.items():
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        tensors[name] = tensor
    safetensors_io.write(destination, tensors, metadata={"source": os.path.basename(source), "format": "torchvision-state-dict"})
    return list(tensors)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="state dict saved by torch.save (.pth / .pt)")
    parser.add_argument("destination", help="safetensors file to write")
    parser.add_argument("--strip-prefix", default="", help="remove this prefix from every name (e.g. module.)")
    args = parser.parse_args()
    names = convert(args.source, args.destination, args.strip_prefix)
    print(f"wrote {args.destination}: {len(names)} tensors")


if __name__ == "__main__":
    main()
