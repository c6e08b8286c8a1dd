"""Golden fixtures for single layers and optimiser steps, computed by PyTorch.

Writes Tests/ModelsTests/Fixtures/layers.safetensors. See scripts/README.md.

Every case's tensors are prefixed with the case name (`conv_k3s1.input`, `batchnorm.grad_bias`, ...)
and its hyper-parameters sit in `__metadata__[<case>]` as a JSON string. Activations are stored
NHWC, conv weights OIHW, linear weights [out, in]. Reference values are computed in float64 from
random values drawn in float32 (so the stored inputs are exactly what the reference used) and stored
as float32. Each case's JSON also records `torch_f32_max_rel_error`: how far PyTorch's own float32
computation lands from the reference (max |f32 - f64| / max |f64| over the case's outputs).
"""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def nchw(t):
    return t.permute(0, 3, 1, 2).contiguous()


def leaf(t, dtype):
    return t.to(dtype).clone().requires_grad_(True)


# Each case draws its float32 inputs (seeded per case, so cases are independent of each other) and
# returns (inputs, compute, meta): compute(dtype) gives the outputs in that precision.

def conv_case(seed, n, h, w, cin, cout, k, stride, pad):
    torch.manual_seed(seed)
    x = torch.randn(n, h, w, cin)  # NHWC
    weight = torch.randn(cout, cin, k, k) * (2.0 / (cin * k * k)) ** 0.5  # OIHW
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    grad_output = torch.randn(n, ho, wo, cout)

    def compute(dtype):
        xi, wi = leaf(nchw(x), dtype), leaf(weight, dtype)
        y = F.conv2d(xi, wi, bias=None, stride=stride, padding=pad)
        y.backward(nchw(grad_output).to(dtype))
        return {"output": nhwc(y.detach()), "grad_input": nhwc(xi.grad), "grad_weight": wi.grad}

    meta = {"op": "conv2d", "N": n, "H": h, "W": w, "Cin": cin, "Cout": cout, "kernel": k,
            "stride": stride, "padding": pad, "bias": False, "Hout": ho, "Wout": wo}
    return {"input": x, "weight": weight, "grad_output": grad_output}, compute, meta


def batchnorm_case(seed, n=3, h=4, w=5, c=6, momentum=0.1, eps=1e-5):
    torch.manual_seed(seed)
    x = torch.randn(n, h, w, c) * 1.5 + 0.3 * torch.randn(c)  # per-channel offsets: a nonzero mean
    weight = torch.empty(c).uniform_(0.5, 1.5)
    bias = torch.empty(c).uniform_(-0.2, 0.2)
    grad_output = torch.randn(n, h, w, c)

    def compute(dtype):
        xi, wi, bi = leaf(nchw(x), dtype), leaf(weight, dtype), leaf(bias, dtype)
        running_mean = torch.zeros(c, dtype=dtype)
        running_var = torch.ones(c, dtype=dtype)
        y = F.batch_norm(xi, running_mean, running_var, wi, bi, training=True, momentum=momentum, eps=eps)
        y.backward(nchw(grad_output).to(dtype))
        xd = nchw(x).to(dtype)
        mean, var_unbiased = xd.mean(dim=(0, 2, 3)), xd.var(dim=(0, 2, 3), unbiased=True)
        assert torch.allclose(running_mean, momentum * mean, rtol=1e-5, atol=1e-6)
        assert torch.allclose(running_var, (1 - momentum) + momentum * var_unbiased, rtol=1e-5, atol=1e-6)
        with torch.no_grad():
            y_eval = F.batch_norm(nchw(x).to(dtype), running_mean, running_var, wi, bi, training=False,
                                  momentum=momentum, eps=eps)
        return {"output": nhwc(y.detach()), "grad_input": nhwc(xi.grad), "grad_weight": wi.grad,
                "grad_bias": bi.grad, "running_mean": running_mean, "running_var": running_var,
                "output_eval": nhwc(y_eval)}

    meta = {"op": "batchnorm2d", "N": n, "H": h, "W": w, "C": c, "momentum": momentum, "eps": eps,
            "running_mean_init": 0.0, "running_var_init": 1.0,
            "note": "training-mode forward; running_var updated with the unbiased batch variance; "
                    "output_eval uses the updated running stats"}
    return {"input": x, "weight": weight, "bias": bias, "grad_output": grad_output}, compute, meta


def maxpool_case(seed, n, h, w, c, k=3, stride=2, pad=1):
    torch.manual_seed(seed)
    x = torch.randn(n, h, w, c)
    # No ties inside any window, so the gradient's routing is unambiguous.
    windows = F.unfold(F.pad(nchw(x), (pad,) * 4, value=float("-inf")).reshape(n * c, 1, h + 2 * pad, w + 2 * pad),
                       kernel_size=k, stride=stride)
    assert ((windows == windows.max(dim=1, keepdim=True).values).sum(dim=1) == 1).all(), "tie in a window"
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    grad_output = torch.randn(n, ho, wo, c)

    def compute(dtype):
        xi = leaf(nchw(x), dtype)
        y = F.max_pool2d(xi, kernel_size=k, stride=stride, padding=pad)
        y.backward(nchw(grad_output).to(dtype))
        return {"output": nhwc(y.detach()), "grad_input": nhwc(xi.grad)}

    meta = {"op": "maxpool2d", "N": n, "H": h, "W": w, "C": c, "kernel": k, "stride": stride,
            "padding": pad, "Hout": ho, "Wout": wo}
    return {"input": x, "grad_output": grad_output}, compute, meta


def global_avgpool_case(seed, n=2, h=3, w=5, c=4):
    torch.manual_seed(seed)
    x = torch.randn(n, h, w, c)
    grad_output = torch.randn(n, c)

    def compute(dtype):
        xi = leaf(nchw(x), dtype)
        y = torch.flatten(F.adaptive_avg_pool2d(xi, (1, 1)), 1)  # [N, C]
        y.backward(grad_output.to(dtype))
        return {"output": y.detach(), "grad_input": nhwc(xi.grad)}

    meta = {"op": "adaptive_avgpool2d_1x1", "N": n, "H": h, "W": w, "C": c,
            "note": "output and grad_output are [N, C] (flattened)"}
    return {"input": x, "grad_output": grad_output}, compute, meta


def linear_case(seed, n=4, fin=7, fout=5):
    torch.manual_seed(seed)
    x = torch.randn(n, fin)
    weight = torch.randn(fout, fin) / fin ** 0.5
    bias = torch.randn(fout) * 0.1
    grad_output = torch.randn(n, fout)

    def compute(dtype):
        xi, wi, bi = leaf(x, dtype), leaf(weight, dtype), leaf(bias, dtype)
        y = F.linear(xi, wi, bi)
        y.backward(grad_output.to(dtype))
        return {"output": y.detach(), "grad_input": xi.grad, "grad_weight": wi.grad, "grad_bias": bi.grad}

    meta = {"op": "linear", "N": n, "in": fin, "out": fout, "bias": True, "weight_layout": "[out, in]"}
    return {"input": x, "weight": weight, "bias": bias, "grad_output": grad_output}, compute, meta


def cross_entropy_case(seed, n=6, classes=5):
    torch.manual_seed(seed)
    logits = torch.randn(n, classes) * 2.0
    labels = torch.randint(0, classes, (n,))

    def compute(dtype):
        li = leaf(logits, dtype)
        loss = F.cross_entropy(li, labels, reduction="mean")
        loss.backward()
        return {"loss": loss.detach().reshape(1), "grad_logits": li.grad}

    meta = {"op": "cross_entropy", "N": n, "classes": classes, "reduction": "mean",
            "note": "labels are class indices stored as float32; grad_logits is d(mean loss)/d(logits)"}
    return {"logits": logits, "labels": labels.to(torch.float32)}, compute, meta


def sgd_case(seed, nesterov, steps=3, size=10, lr=0.05, momentum=0.9, weight_decay=5e-4):
    torch.manual_seed(seed)
    param = torch.randn(size)
    grads = [torch.randn(size) for _ in range(steps)]

    def compute(dtype):
        p = param.to(dtype).clone().requires_grad_(True)
        opt = torch.optim.SGD([p], lr=lr, momentum=momentum, dampening=0, weight_decay=weight_decay,
                              nesterov=nesterov)
        out = {}
        for i, g in enumerate(grads, start=1):
            p.grad = g.to(dtype).clone()
            opt.step()
            out[f"param_{i}"] = p.detach().clone()
        # The update rule written out, as the Swift side implements it.
        q, buf = param.to(dtype).clone(), torch.zeros(size, dtype=dtype)
        for i, g in enumerate(grads, start=1):
            d = g.to(dtype) + weight_decay * q
            buf = momentum * buf + d
            q = q - lr * (d + momentum * buf if nesterov else buf)
            assert torch.allclose(q, out[f"param_{i}"], rtol=1e-5 if dtype == torch.float32 else 1e-12, atol=0)
        return out

    meta = {"op": "sgd", "steps": steps, "size": size, "lr": lr, "momentum": momentum, "dampening": 0.0,
            "weight_decay": weight_decay, "nesterov": nesterov,
            "note": "momentum buffer starts at zero; grad_i is the gradient given at step i; "
                    "param_i is the parameter after step i"}
    inputs = {"param_0": param}
    inputs.update({f"grad_{i}": g for i, g in enumerate(grads, start=1)})
    return inputs, compute, meta


CASES = [
    ("conv_k3s1", conv_case, dict(seed=101, n=2, h=7, w=6, cin=3, cout=5, k=3, stride=1, pad=1)),
    ("conv_k3s2", conv_case, dict(seed=102, n=2, h=7, w=6, cin=3, cout=5, k=3, stride=2, pad=1)),
    ("conv_k1s1", conv_case, dict(seed=103, n=2, h=7, w=6, cin=3, cout=5, k=1, stride=1, pad=0)),
    ("conv_k1s2", conv_case, dict(seed=104, n=2, h=7, w=6, cin=3, cout=5, k=1, stride=2, pad=0)),
    ("conv_k7s2", conv_case, dict(seed=105, n=2, h=9, w=9, cin=3, cout=5, k=7, stride=2, pad=3)),
    ("batchnorm", batchnorm_case, dict(seed=201)),
    ("maxpool_9x9", maxpool_case, dict(seed=301, n=2, h=9, w=9, c=4)),
    ("maxpool_8x8", maxpool_case, dict(seed=302, n=2, h=8, w=8, c=3)),
    ("global_avgpool", global_avgpool_case, dict(seed=401)),
    ("linear", linear_case, dict(seed=501)),
    ("cross_entropy", cross_entropy_case, dict(seed=601)),
    ("sgd", sgd_case, dict(seed=701, nesterov=False)),
    ("sgd_nesterov", sgd_case, dict(seed=701, nesterov=True)),  # same parameter and gradients
]


def main():
    torch.set_num_threads(1)
    tensors = {}
    metadata = {"torch": torch.__version__,
                "layout": "activations NHWC; conv weights OIHW; linear weights [out,in]",
                "precision": "computed in float64 from float32-representable inputs, stored as float32",
                "cases": json.dumps([name for name, _, _ in CASES])}
    for name, make, kwargs in CASES:
        inputs, compute, meta = make(**kwargs)
        ref = compute(torch.float64)
        f32 = compute(torch.float32)
        err, worst = max(
            (((f32[k].double() - v).abs().max() / v.abs().max().clamp_min(1e-30)).item(), k) for k, v in ref.items())
        assert err < 1e-4, f"{name}: float32 PyTorch is {err:.1e} off at {worst}"
        meta["seed"] = kwargs["seed"]
        meta["torch_f32_max_rel_error"] = float(f"{err:.2e}")
        for k, v in {**inputs, **ref}.items():
            tensors[f"{name}.{k}"] = v
        metadata[name] = json.dumps(meta, sort_keys=True)
        print(f"{name}: {', '.join(f'{k}{list(v.shape)}' for k, v in {**inputs, **ref}.items())}")
    os.makedirs(FIXTURES, exist_ok=True)
    path = os.path.join(FIXTURES, "layers.safetensors")
    safetensors_io.write(path, tensors, metadata)
    safetensors_io.verify(path, tensors, metadata)  # read back with our reader and the official one
    print(f"layers: {os.path.getsize(path)} bytes, {len(tensors)} tensors, {len(CASES)} cases")


if __name__ == "__main__":
    main()
