"""Minimal safetensors writer and reader for the golden fixtures (F32 only).

File layout (https://github.com/huggingface/safetensors):
    8 bytes      little-endian u64 N, the header length
    N bytes      UTF-8 JSON header, padded with spaces to a multiple of 8:
                 {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
                  "__metadata__": {"key": "value", ...}}
    rest         raw little-endian float32 data; offsets are relative to the end of the header

Only the standard library is needed. `write` accepts torch tensors (any dtype, any device; converted
to contiguous float32) or anything with `tolist()`, or nested Python lists of numbers.

Run this file directly for a self-test: it writes a file, reads it back with `read`, and, when the
`safetensors` package is importable, cross-checks it with the official `safe_open`.
"""

import array
import json
import struct
import sys

__all__ = ["write", "read", "verify"]


def _flatten(value):
    """Returns (shape, flat list of floats) for a torch tensor, array-like or nested list."""
    if hasattr(value, "detach"):  # torch.Tensor
        import torch

        t = value.detach().to(device="cpu", dtype=torch.float32).contiguous()
        return list(t.shape), t.reshape(-1).tolist()
    if hasattr(value, "tolist"):
        value = value.tolist()
    shape = []
    probe = value
    while isinstance(probe, (list, tuple)):
        shape.append(len(probe))
        probe = probe[0] if probe else None
    flat = []

    def walk(v, depth):
        if depth == len(shape):
            flat.append(float(v))
            return
        if len(v) != shape[depth]:
            raise ValueError("ragged nested list")
        for item in v:
            walk(item, depth + 1)

    walk(value, 0)
    return shape, flat


def _le_bytes(flat):
    a = array.array("f", flat)
    if sys.byteorder != "little":
        a.byteswap()
    return a.tobytes()


def write(path, tensors, metadata=None):
    """Writes `tensors` (an ordered mapping name -> tensor) as F32 to `path`.

    `metadata` is a mapping of str -> str (values that are not strings are rejected, as the format
    requires). Tensors are laid out in the mapping's order.
    """
    header = {}
    chunks = []
    offset = 0
    for name, value in tensors.items():
        if not isinstance(name, str) or name == "__metadata__":
            raise ValueError(f"bad tensor name {name!r}")
        shape, flat = _flatten(value)
        count = 1
        for d in shape:
            count *= d
        if count != len(flat):
            raise ValueError(f"{name}: shape {shape} does not match {len(flat)} values")
        data = _le_bytes(flat)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise ValueError(f"metadata must be str -> str, got {k!r}: {v!r}")
        header["__metadata__"] = dict(metadata)
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * ((8 - len(blob) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for c in chunks:
            f.write(c)


def read(path):
    """Reads an F32 safetensors file. Returns (tensors, metadata).

    `tensors` maps name -> (shape list, array.array('f') of values in row-major order), in the
    order of their data offsets. `metadata` is the `__metadata__` dict ({} when absent).
    """
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    body = raw[8 + n :]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    end_max = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if info["dtype"] != "F32":
            raise ValueError(f"{name}: dtype {info['dtype']} not supported")
        begin, end = info["data_offsets"]
        count = 1
        for d in info["shape"]:
            count *= d
        if end - begin != 4 * count or end > len(body):
            raise ValueError(f"{name}: bad data_offsets {begin}..{end} for shape {info['shape']}")
        a = array.array("f")
        a.frombytes(body[begin:end])
        if sys.byteorder != "little":
            a.byteswap()
        tensors[name] = (list(info["shape"]), a)
        end_max = max(end_max, end)
    if end_max != len(body):
        raise ValueError(f"data section is {len(body)} bytes but tensors cover {end_max}")
    return tensors, metadata


def to_torch(entry):
    """(shape, values) from `read` -> torch.float32 tensor."""
    import torch

    shape, values = entry
    return torch.tensor(values.tolist(), dtype=torch.float32).reshape(shape)


def verify(path, tensors, metadata):
    """Reads a fixture back (this reader, and `safetensors.safe_open` when installed) and asserts it holds
    exactly `tensors` (as float32, all finite) and `metadata`. Every fixture script calls it after `write`."""
    import torch

    back, meta = read(path)
    assert meta == metadata
    assert list(back) == list(tensors)
    for k, v in tensors.items():
        got = to_torch(back[k])
        assert torch.equal(got, v.detach().to(torch.float32).contiguous()), k
        assert torch.isfinite(got).all(), k
    try:
        from safetensors import safe_open
    except ImportError:
        return
    with safe_open(path, framework="pt") as f:
        assert f.metadata() == metadata
        for k, v in tensors.items():
            assert torch.equal(f.get_tensor(k), v.detach().to(torch.float32)), k


def _self_test():
    import math
    import os
    import tempfile

    tensors = {
        "a": [[1.0, -2.5, 3.25], [0.0, 1e-30, -7.0]],
        "scalar_like": [math.pi],
        "b.nested.name": [[[0.5]], [[-0.5]]],
    }
    meta = {"arch": "test", "json": json.dumps({"k": [1, 2]})}
    try:
        import torch

        torch.manual_seed(0)
        tensors["t"] = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    except ImportError:
        torch = None
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "x.safetensors")
        write(path, tensors, meta)
        with open(path, "rb") as f:
            raw = f.read()
        (n,) = struct.unpack("<Q", raw[:8])
        assert n % 8 == 0, n
        back, meta_back = read(path)
        assert meta_back == meta, meta_back
        assert list(back) == list(tensors), list(back)
        for name, value in tensors.items():
            shape, flat = _flatten(value)
            got_shape, got = back[name]
            assert got_shape == shape, (name, got_shape, shape)
            want = array.array("f", flat)  # same float32 rounding as the writer
            assert list(got) == list(want), name
        checked = "own reader"
        try:
            from safetensors import safe_open
        except ImportError:
            safe_open = None
        if safe_open is not None and torch is not None:
            with safe_open(path, framework="pt") as f:
                assert f.metadata() == meta, f.metadata()
                assert sorted(f.keys()) == sorted(tensors), f.keys()
                for name in tensors:
                    t = f.get_tensor(name)
                    assert t.dtype == torch.float32, t.dtype
                    assert torch.equal(t, to_torch(back[name])), name
            checked += " + official safetensors.safe_open"
    print(f"safetensors_io self-test passed ({checked})")


if __name__ == "__main__":
    _self_test()
