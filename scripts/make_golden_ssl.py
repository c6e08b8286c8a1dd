"""Golden fixtures for the self-supervised losses, optimisers and method steps, computed by PyTorch.

Writes Tests/ModelsTests/Fixtures/ssl_ops.safetensors (small per-op cases) and
ssl_{simclr,vicreg,byol,mocov2}.safetensors (one training step of each method on a tiny ResNet-18).
See scripts/README.md.

Every reference value is computed in float64 from float32-representable inputs and stored as float32;
each case also runs in float32 and records how far PyTorch's own float32 result lands from the float64
reference (`torch_f32_max_rel_error`): the floor for a Swift test's tolerance.

The references follow the papers' equations as the official code and solo-learn write them:
    NT-Xent   SimCLR eq. 1: cross-entropy over the 2B x 2B cosine similarities / tau, self masked
              (checked equal to solo-learn's simclr_loss_func formula)
    VICReg    the official main_vicreg.py: variance averaged over the two branches, covariance summed
              (solo-learn's variance_loss sums the branches: checked to be exactly twice ours)
    BYOL      solo-learn's byol_loss_func(p1, z2') + byol_loss_func(p2, z1'), 2 - 2 cos, batch mean
    MoCo v2   solo-learn's mocov2plus: (mocov2plus_loss_func(q1, k2, queue[1]) + (q2, k1, queue[0])) / 2,
              each a cross-entropy over [q.k, q.queue] / tau with target 0
    LARS      solo-learn's solo/utils/lars.py, re-implemented below line by line
    AdamW     torch.optim.AdamW
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from make_golden_resnet import ResNet  # noqa: E402  (torchvision's ResNet with width/stem options)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")


def rel_error(got, want):
    """max |got - want| / max |want| over one tensor."""
    return ((got.double() - want.double()).abs().max() / want.double().abs().max().clamp_min(1e-30)).item()


def leaf(t, dtype):
    return t.to(dtype).clone().requires_grad_(True)


def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def nchw(t):
    return t.permute(0, 3, 1, 2).contiguous()


# ------------------------------------------------------------------------------------------ losses

def nt_xent(z1, z2, temperature):
    """SimCLR eq. 1: mean over the 2B anchors of the cross-entropy against the other view, self masked."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n, b = z.shape[0], z1.shape[0]
    logits = (z @ z.T / temperature).masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))
    return F.cross_entropy(logits, (torch.arange(n) + b) % n)


def solo_simclr_loss(z1, z2, temperature):
    """solo-learn's simclr_loss_func (one process): -mean log(pos / (pos + neg))."""
    z = F.normalize(torch.cat([z1, z2]), dim=-1)
    sim = torch.exp(torch.einsum("if, jf -> ij", z, z) / temperature)
    indexes = torch.arange(z1.shape[0]).repeat(2).unsqueeze(0)
    pos_mask = indexes.t() == indexes
    pos_mask.fill_diagonal_(0)
    neg_mask = indexes.t() != indexes
    pos = torch.sum(sim * pos_mask, 1)
    neg = torch.sum(sim * neg_mask, 1)
    return -(torch.mean(torch.log(pos / (pos + neg))))


def off_diagonal(x):
    n, m = x.shape
    assert n == m
    return x.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def vicreg_terms(x, y):
    """The official VICReg loss terms (facebookresearch/vicreg main_vicreg.py, one process)."""
    batch, dims = x.shape
    repr_loss = F.mse_loss(x, y)
    x = x - x.mean(dim=0)
    y = y - y.mean(dim=0)
    std_x = torch.sqrt(x.var(dim=0) + 0.0001)
    std_y = torch.sqrt(y.var(dim=0) + 0.0001)
    std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
    cov_x = (x.T @ x) / (batch - 1)
    cov_y = (y.T @ y) / (batch - 1)
    cov_loss = off_diagonal(cov_x).pow(2).sum() / dims + off_diagonal(cov_y).pow(2).sum() / dims
    return repr_loss, std_loss, cov_loss


def solo_variance_loss(z1, z2):
    """solo-learn's variance_loss: the two branches summed (ours averages them)."""
    std_z1 = torch.sqrt(z1.var(dim=0) + 1e-4)
    std_z2 = torch.sqrt(z2.var(dim=0) + 1e-4)
    return torch.mean(F.relu(1 - std_z1)) + torch.mean(F.relu(1 - std_z2))


VICREG_WEIGHTS = (25.0, 25.0, 1.0)


def vicreg_loss(x, y, weights=VICREG_WEIGHTS):
    inv, var, cov = vicreg_terms(x, y)
    return weights[0] * inv + weights[1] * var + weights[2] * cov, (inv, var, cov)


def byol_loss_func(p, z):
    """solo-learn's byol_loss_func (simplified form)."""
    return 2 - 2 * F.cosine_similarity(p, z.detach(), dim=-1).mean()


def mocov2plus_loss_func(query, key, queue, temperature):
    """solo-learn's solo/losses/mocov2plus.py; `queue` is [D, K] as solo-learn keeps it."""
    query = F.normalize(query, dim=1)
    key = F.normalize(key, dim=1)
    pos = torch.einsum("nc,nc->n", [query, key]).unsqueeze(-1)
    neg = torch.einsum("nc,ck->nk", [query, queue])
    logits = torch.cat([pos, neg], dim=1) / temperature
    targets = torch.zeros(query.size(0), device=query.device, dtype=torch.long)
    return F.cross_entropy(logits, targets)


def embedding_std(z):
    return F.normalize(z, dim=-1).std(dim=0).mean()


# ------------------------------------------------------------------------------------- optimisers

class LARS(torch.optim.Optimizer):
    """solo-learn's LARS (solo/utils/lars.py, from PyTorch Lightning Bolts), without Nesterov/dampening."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, eta=1e-3, eps=1e-8, clip_lars_lr=False,
                 exclude_bias_n_norm_lars=False):
        defaults = dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, eps=eps,
                        clip_lars_lr=clip_lars_lr, exclude_bias_n_norm_lars=exclude_bias_n_norm_lars)
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            weight_decay, momentum = group["weight_decay"], group["momentum"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                d_p = p.grad
                p_norm = torch.norm(p.data)
                g_norm = torch.norm(p.grad.data)
                # lars scaling + weight decay part
                if p.ndim != 1 or not group["exclude_bias_n_norm_lars"]:
                    if p_norm != 0 and g_norm != 0:
                        lars_lr = p_norm / (g_norm + p_norm * weight_decay + group["eps"])
                        lars_lr *= group["eta"]
                        if group["clip_lars_lr"]:
                            lars_lr = min(lars_lr / group["lr"], 1)
                        d_p = d_p.add(p, alpha=weight_decay)
                        d_p *= lars_lr
                # sgd part
                if momentum != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        buf = state["momentum_buffer"] = torch.clone(d_p).detach()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(momentum).add_(d_p)
                    d_p = buf
                p.add_(d_p, alpha=-group["lr"])


# ------------------------------------------------------------------------------------ op cases
# Each case draws its float32 inputs (seeded per case) and returns (inputs, compute, meta):
# compute(dtype) gives the outputs in that precision.

def ntxent_case(seed, b=6, d=5, temperature=0.2):
    torch.manual_seed(seed)
    z1 = torch.randn(b, d)
    z2 = z1 + 0.7 * torch.randn(b, d)  # positives closer than negatives, as after some training

    def compute(dtype):
        a, c = leaf(z1, dtype), leaf(z2, dtype)
        loss = nt_xent(a, c, temperature)
        assert torch.allclose(loss, solo_simclr_loss(a, c, temperature), rtol=1e-5 if dtype == torch.float32 else 1e-12)
        loss.backward()
        return {"loss": loss.detach().reshape(1), "grad_z1": a.grad, "grad_z2": c.grad}

    meta = {"op": "nt_xent", "B": b, "D": d, "temperature": temperature,
            "note": "mean over the 2B anchors; z1, z2 not normalised (the loss normalises)"}
    return {"z1": z1, "z2": z2}, compute, meta


def vicreg_case(seed, b=8, d=6):
    torch.manual_seed(seed)
    # Columns with std from 0.3 to 2 and an offset mean: some variance hinges active, some not.
    scale = torch.linspace(0.3, 2.0, d)
    z1 = torch.randn(b, d) * scale + 0.5 * torch.randn(d)
    z2 = z1 + 0.5 * torch.randn(b, d) * scale

    def compute(dtype):
        x, y = leaf(z1, dtype), leaf(z2, dtype)
        loss, (inv, var, cov) = vicreg_loss(x, y)
        assert torch.allclose(solo_variance_loss(x, y), 2 * var)
        loss.backward()
        return {"loss": loss.detach().reshape(1), "invariance": inv.detach().reshape(1),
                "variance": var.detach().reshape(1), "covariance": cov.detach().reshape(1),
                "grad_z1": x.grad, "grad_z2": y.grad}

    hinge = torch.sqrt(torch.cat([z1, z2]).double().view(2, b, d).var(dim=1) + 1e-4) < 1
    assert 0 < hinge.sum() < hinge.numel(), "want some variance hinges active and some not"
    meta = {"op": "vicreg", "B": b, "D": d, "invariance_weight": VICREG_WEIGHTS[0],
            "variance_weight": VICREG_WEIGHTS[1], "covariance_weight": VICREG_WEIGHTS[2], "epsilon": 1e-4,
            "convention": "official code: variance averaged over the two branches, covariance summed; "
                          "solo-learn's variance term is twice ours"}
    return {"z1": z1, "z2": z2}, compute, meta


def byol_case(seed, b=6, d=5):
    torch.manual_seed(seed)
    p1, p2 = torch.randn(b, d), torch.randn(b, d)
    t1, t2 = p2 + 0.8 * torch.randn(b, d), p1 + 0.8 * torch.randn(b, d)

    def compute(dtype):
        a, c = leaf(p1, dtype), leaf(p2, dtype)
        u, v = leaf(t1, dtype), leaf(t2, dtype)
        loss = byol_loss_func(a, v) + byol_loss_func(c, u)
        loss.backward()
        assert u.grad is None and v.grad is None, "targets are detached"
        return {"loss": loss.detach().reshape(1), "grad_p1": a.grad, "grad_p2": c.grad}

    meta = {"op": "byol", "B": b, "D": d,
            "note": "loss = mean_b(2 - 2 cos(p1, t2)) + mean_b(2 - 2 cos(p2, t1)); no gradient into targets"}
    return {"p1": p1, "p2": p2, "target1": t1, "target2": t2}, compute, meta


def moco_case(seed, b=6, d=5, k=7, temperature=0.2):
    torch.manual_seed(seed)
    q1, q2 = torch.randn(b, d), torch.randn(b, d)
    k1, k2 = q2 + 0.8 * torch.randn(b, d), q1 + 0.8 * torch.randn(b, d)  # keys of the other view
    queue = F.normalize(torch.randn(2, k, d), dim=2)  # [2, K, D]: one queue per view, rows normalised

    def compute(dtype):
        a, c = leaf(q1, dtype), leaf(q2, dtype)
        u, v = leaf(k1, dtype), leaf(k2, dtype)
        negatives = queue.to(dtype)
        loss = (mocov2plus_loss_func(a, v, negatives[1].t(), temperature)
                + mocov2plus_loss_func(c, u, negatives[0].t(), temperature)) / 2
        loss.backward()
        return {"loss": loss.detach().reshape(1), "grad_q1": a.grad, "grad_q2": c.grad}

    meta = {"op": "mocov2", "B": b, "D": d, "K": k, "temperature": temperature,
            "note": "loss = (ce(q1, k2, queue[1]) + ce(q2, k1, queue[0])) / 2; keys and queue get no gradient"}
    return {"q1": q1, "q2": q2, "k1": k1, "k2": k2, "queue": queue}, compute, meta


def bce_case(seed, n=5, k=4):
    torch.manual_seed(seed)
    logits = torch.randn(n, k) * 3
    logits[0, 0], logits[1, 1], logits[2, 2] = 40.0, -40.0, 0.0  # saturated both ways, and exactly 0
    targets = (torch.rand(n, k) < 0.4).to(torch.float32)

    def compute(dtype):
        x = leaf(logits, dtype)
        loss = F.binary_cross_entropy_with_logits(x, targets.to(dtype), reduction="mean")
        loss.backward()
        return {"loss": loss.detach().reshape(1), "grad_logits": x.grad}

    meta = {"op": "binary_cross_entropy_with_logits", "N": n, "K": k, "reduction": "mean over N*K"}
    return {"logits": logits, "targets": targets}, compute, meta


def embedding_std_case(seed, b=6, d=5):
    torch.manual_seed(seed)
    z = torch.randn(b, d) * torch.linspace(0.5, 3.0, d) + 1.0

    def compute(dtype):
        return {"std": embedding_std(z.to(dtype)).reshape(1)}

    meta = {"op": "embedding_std", "B": b, "D": d, "note": "F.normalize(z, dim=-1).std(dim=0).mean(), unbiased std"}
    return {"z": z}, compute, meta


# Optimiser cases: one tensor of each role (two weights), three steps with given gradients.
OPT_TENSORS = [  # name, shape, role, gradient scale
    ("conv_weight", (4, 3, 3, 3), "weight", 1.0),      # LARS-adapted; not clipped (trust ratio << lr)
    ("linear_weight", (5, 6), "weight", 0.002),        # LARS-adapted; small gradient: clipped to lr
    ("bias", (5,), "bias", 0.5),
    ("bn_weight", (4,), "normScale", 0.5),
    ("bn_bias", (4,), "normShift", 0.5),
]


def optimizer_case(seed, kind, steps=3, **hyper):
    torch.manual_seed(seed)
    params = {name: torch.randn(*shape) * 0.5 + (1.0 if role == "normScale" else 0.0)
              for name, shape, role, _ in OPT_TENSORS}
    grads = [{name: torch.randn(*shape) * gscale for name, shape, _, gscale in OPT_TENSORS} for _ in range(steps)]
    if kind == "lars":
        grads[1]["conv_weight"].zero_()  # a zero gradient: no adaptation, no weight decay that step

    def compute(dtype):
        ps = {k: v.to(dtype).clone().requires_grad_(True) for k, v in params.items()}
        if kind == "lars":
            opt = LARS(list(ps.values()), lr=hyper["lr"], momentum=hyper["momentum"],
                       weight_decay=hyper["weight_decay"], eta=hyper["eta"], clip_lars_lr=hyper["clip_lr"],
                       exclude_bias_n_norm_lars=True)
        else:
            decayed = [ps[name] for name, _, role, _ in OPT_TENSORS if role == "weight" or not hyper["exclude"]]
            others = [ps[name] for name, _, role, _ in OPT_TENSORS if not (role == "weight" or not hyper["exclude"])]
            groups = [{"params": decayed}] + ([{"params": others, "weight_decay": 0.0}] if others else [])
            opt = torch.optim.AdamW(groups, lr=hyper["lr"], betas=(hyper["beta1"], hyper["beta2"]),
                                    eps=hyper["eps"], weight_decay=hyper["weight_decay"])
        out = {}
        for i, g in enumerate(grads, start=1):
            for k, p in ps.items():
                p.grad = g[k].to(dtype).clone()
            opt.step()
            for k, p in ps.items():
                out[f"param_{i}.{k}"] = p.detach().clone()
                # The optimiser's state too: its float32 error shows where the parameters' rounding hides it.
                for key, value in opt.state[p].items():
                    if key != "step":
                        out[f"{key}_{i}.{k}"] = value.detach().clone()
        return out

    inputs = {f"param_0.{k}": v for k, v in params.items()}
    for i, g in enumerate(grads, start=1):
        inputs.update({f"grad_{i}.{k}": v for k, v in g.items()})
    meta = dict(op=kind, steps=steps, **hyper,
                tensors=[name for name, _, _, _ in OPT_TENSORS],
                roles={name: role for name, _, role, _ in OPT_TENSORS},
                note="param_0.<t> start, grad_<i>.<t> the gradient given at step i, param_<i>.<t> after step i, "
                     "with the optimiser state after step i: momentum_buffer_<i>.<t> (LARS), exp_avg_<i>.<t> and "
                     "exp_avg_sq_<i>.<t> (AdamW); momentum/moments start at zero")
    if kind == "lars":
        meta["exclude_bias_n_norm"] = True
        meta["eps"] = 1e-8
    return inputs, compute, meta


LARS_HYPER = dict(lr=0.3, momentum=0.9, weight_decay=0.01, eta=0.02)
ADAMW_HYPER = dict(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.05)

OP_CASES = [
    ("ntxent", ntxent_case, dict(seed=1001)),
    ("vicreg", vicreg_case, dict(seed=1002)),
    ("byol", byol_case, dict(seed=1003)),
    ("mocov2", moco_case, dict(seed=1008)),
    ("bce_with_logits", bce_case, dict(seed=1004)),
    ("embedding_std", embedding_std_case, dict(seed=1005)),
    ("lars", optimizer_case, dict(seed=1006, kind="lars", clip_lr=True, **LARS_HYPER)),
    ("lars_noclip", optimizer_case, dict(seed=1006, kind="lars", clip_lr=False, **LARS_HYPER)),
    ("adamw", optimizer_case, dict(seed=1007, kind="adamw", exclude=False, **ADAMW_HYPER)),
    ("adamw_exclude", optimizer_case, dict(seed=1007, kind="adamw", exclude=True, **ADAMW_HYPER)),
]


def make_ops():
    tensors = {}
    metadata = {"torch": torch.__version__,
                "precision": "computed in float64 from float32-representable inputs, stored as float32",
                "cases": json.dumps([name for name, _, _ in OP_CASES])}
    for name, make, kwargs in OP_CASES:
        inputs, compute, meta = make(**kwargs)
        ref = compute(torch.float64)
        f32 = compute(torch.float32)
        err, worst = max((rel_error(f32[k], v), k) for k, v in ref.items())
        assert err < 1e-5, f"{name}: float32 PyTorch is {err:.1e} off at {worst}"
        meta["seed"] = kwargs["seed"]
        meta["torch_f32_max_rel_error"] = float(f"{err:.2e}")
        for k, v in {**inputs, **ref}.items():
            tensors[f"{name}.{k}"] = v
        metadata[name] = json.dumps(meta, sort_keys=True)
        print(f"{name}: {len(inputs) + len(ref)} tensors, torch float32 max rel error {err:.1e} ({worst})")
    write_and_verify("ssl_ops", tensors, metadata)


# ----------------------------------------------------------------------------------- method steps

WIDTH = 0.0625          # stage widths 4/8/16/32: feature dimension 32
BATCH, SIZE = 4, 16     # 4 images of 16x16x3 per view, CIFAR stem
HEADS = {
    # solo-learn's heads (nn.Sequential indices give the parameter names), narrowed.
    "simclr": dict(projector=("linear", 32, "relu", 16, 8)),
    "vicreg": dict(projector=("linear", 32, "bn", "relu", 16, "bn", "relu", 16, 8)),
    "byol": dict(projector=("linear", 32, "bn", "relu", 16, 8), predictor=("linear", 8, "bn", "relu", 16, 8)),
    "mocov2": dict(projector=("linear", 32, "relu", 16, 8)),
}
TEMPERATURE = 0.2
# BYOL: LARS as solo-learn's CIFAR BYOL recipe (lr 1.0, wd 1e-5, eta 0.02, clip, exclude bias/BN), then
# the EMA with tau for optimiser step 3 of 10. tau_base 0.5 (not 0.99) so that the target visibly moves:
# the test compares the target's change, (1 - tau) x the online step, not only the target itself.
BYOL_LARS = dict(lr=1.0, momentum=0.9, weight_decay=1e-5, eta=0.02, clip_lr=True)
BYOL_TAU = dict(tau_base=0.5, step=3, total_steps=10)
# MoCo v2: a queue of 8 keys per view (2 batches), given to both sides as an input; the step's keys go to
# rows 0-3 of each view's queue.
MOCO_QUEUE = 8


def mlp(spec):
    """('linear', in, 'bn', 'relu', hidden, ..., out): Linear(in, hidden) [BN] ReLU ... Linear(hidden, out)."""
    dims = [x for x in spec if isinstance(x, int)]
    use_bn = "bn" in spec
    hidden_layers = len(dims) - 2
    layers, width = [], dims[0]
    for i in range(hidden_layers):
        layers.append(nn.Linear(width, dims[1 + i]))
        if use_bn:
            layers.append(nn.BatchNorm1d(dims[1 + i]))
        layers.append(nn.ReLU())
        width = dims[1 + i]
    layers.append(nn.Linear(width, dims[-1]))
    return nn.Sequential(*layers)


def mlp_linear_before_bn(spec):
    """Indices of the Linear layers that a BatchNorm follows, in mlp(spec)'s nn.Sequential."""
    module = mlp(spec)
    return [i for i in range(len(module) - 1)
            if isinstance(module[i], nn.Linear) and isinstance(module[i + 1], nn.BatchNorm1d)]


class Method(nn.Module):
    def __init__(self, heads):
        super().__init__()
        self.backbone = ResNet("resnet18", width=WIDTH, stem="cifar", in_channels=3, num_classes=10)
        self.backbone.fc = nn.Identity()
        for head, spec in heads.items():
            setattr(self, head, mlp(spec))


def torch_name(name):
    """Our store's name: torchvision's for the encoder (no 'backbone.' prefix), the heads' as they are."""
    return name[len("backbone."):] if name.startswith("backbone.") else name


def method_step(method, model, target, v1, v2, queue=None):
    """One step as solo-learn runs it: per-view forwards, loss, backward (and for BYOL: LARS, EMA; for MoCo v2
    the enqueue of the step's keys)."""
    f1, f2 = model.backbone(v1), model.backbone(v2)
    z1, z2 = model.projector(f1), model.projector(f2)
    terms = {}
    if method == "simclr":
        loss = nt_xent(z1, z2, TEMPERATURE)
        terms["nt_xent"] = loss
    elif method == "vicreg":
        loss, (inv, var, cov) = vicreg_loss(z1, z2)
        terms.update(invariance=inv, variance=var, covariance=cov)
    elif method == "mocov2":
        with torch.no_grad():  # solo-learn's mocov2plus: the momentum network's projections are the keys
            k1 = target.projector(target.backbone(v1))
            k2 = target.projector(target.backbone(v2))
        loss = (mocov2plus_loss_func(z1, k2, queue[1].t(), TEMPERATURE)
                + mocov2plus_loss_func(z2, k1, queue[0].t(), TEMPERATURE)) / 2
        terms["info_nce"] = loss
    else:
        p1, p2 = model.predictor(z1), model.predictor(z2)
        with torch.no_grad():
            t1 = target.projector(target.backbone(v1))
            t2 = target.projector(target.backbone(v2))
        loss = byol_loss_func(p1, t2) + byol_loss_func(p2, t1)
        terms["neg_cos_sim"] = loss
    z_std = (embedding_std(z1) + embedding_std(z2)) / 2
    model.zero_grad(set_to_none=True)
    loss.backward()
    out = {"loss": loss.detach().reshape(1), "z_std": z_std.detach().reshape(1), "features": f1.detach()}
    out.update({f"term.{k}": v.detach().reshape(1) for k, v in terms.items()})
    for name, p in model.named_parameters():
        out[f"grad.{torch_name(name)}"] = p.grad.detach().clone()
    for name, b in model.named_buffers():
        if "running_" in name:
            out[f"running.{torch_name(name)}"] = b.detach().clone()
    if method == "mocov2":  # _dequeue_and_enqueue at pointer 0: the normalised keys over the first rows
        after = queue.clone()
        after[0, :k1.shape[0]] = F.normalize(k1, dim=1)
        after[1, :k2.shape[0]] = F.normalize(k2, dim=1)
        out["queue_after"] = after
        for name, b in target.named_buffers():
            if "running_" in name:
                out[f"target_running.{torch_name(name)}"] = b.detach().clone()
    if method == "byol":
        opt = LARS(model.parameters(), lr=BYOL_LARS["lr"], momentum=BYOL_LARS["momentum"],
                   weight_decay=BYOL_LARS["weight_decay"], eta=BYOL_LARS["eta"], clip_lars_lr=BYOL_LARS["clip_lr"],
                   exclude_bias_n_norm_lars=True)
        opt.step()
        tau = byol_tau()
        with torch.no_grad():  # solo-learn's MomentumUpdater.update over (backbone, projector) pairs
            for online, momentum in [(model.backbone, target.backbone), (model.projector, target.projector)]:
                for op, mp in zip(online.parameters(), momentum.parameters()):
                    mp.data = tau * mp.data + (1 - tau) * op.data
        for name, p in target.named_parameters():
            out[f"target.{torch_name(name)}"] = p.detach().clone()
        for name, b in target.named_buffers():
            if "running_" in name:
                out[f"target_running.{torch_name(name)}"] = b.detach().clone()
    return out


def byol_tau():
    k, total, base = BYOL_TAU["step"], BYOL_TAU["total_steps"], BYOL_TAU["tau_base"]
    return 1 - (1 - base) * (math.cos(math.pi * k / total) + 1) / 2


def make_method(method, seed):
    torch.manual_seed(seed)
    model = Method(HEADS[method])
    # Nothing trivially 1 or 0: every BN's affine parameters get non-default values (float32 draws).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    v1 = torch.randn(BATCH, 3, SIZE, SIZE)
    v2 = torch.randn(BATCH, 3, SIZE, SIZE)
    queue = F.normalize(torch.randn(2, MOCO_QUEUE, HEADS["mocov2"]["projector"][-1]), dim=2) if method == "mocov2" else None
    before = {torch_name(k): v.detach().clone() for k, v in model.named_parameters()}

    def run(dtype):
        m = Method(HEADS[method]).to(dtype)
        m.load_state_dict(model.state_dict())
        m.train()
        target = None
        if method in ("byol", "mocov2"):  # solo-learn: momentum networks start as copies of the online ones
            target = Method({"projector": HEADS[method]["projector"]}).to(dtype)
            target.backbone.load_state_dict(m.backbone.state_dict())
            target.projector.load_state_dict(m.projector.state_dict())
            for p in target.parameters():
                p.requires_grad = False
            target.train()
        return method_step(method, m, target, v1.to(dtype), v2.to(dtype), None if queue is None else queue.to(dtype))

    ref = run(torch.float64)
    f32 = run(torch.float32)
    # A Linear followed by batch norm has a bias whose gradient is exactly zero (BN subtracts the batch
    # mean): float64 gives ~1e-17, float32 ~1e-9, so a relative error means nothing there. So has
    # VICReg's last bias: shifting z1 and z2 alike changes neither their difference nor their centred
    # statistics; and BYOL's last projector bias: the predictor's first Linear-BN removes the shift. The
    # fixture lists them; the test bounds them against their weight's gradient instead.
    zero = sorted(k for k, v in ref.items() if k.startswith("grad.") and v.abs().max() < 1e-12)
    expected = [f"grad.{head}.{i}.bias" for head, spec in HEADS[method].items() if "bn" in spec
                for i in mlp_linear_before_bn(spec)]
    if method in ("vicreg", "byol"):
        expected.append(f"grad.projector.{len(mlp(HEADS[method]['projector'])) - 1}.bias")
    expected = sorted(expected)
    assert zero == expected, f"{method}: zero gradients {zero}, expected the pre-BN biases {expected}"
    for k in zero:
        weight = k[: -len("bias")] + "weight"
        assert f32[k].abs().max() < 1e-6 * ref[weight].abs().max(), k
    err, worst = max((rel_error(f32[k], v), k) for k, v in ref.items() if k not in zero)
    assert err < 1e-3, f"{method}: float32 PyTorch is {err:.1e} off at {worst}; ill-conditioned"

    tensors = {"view1": nhwc(v1), "view2": nhwc(v2)}
    if queue is not None:
        tensors["queue"] = queue
    tensors.update(before)
    tensors.update(ref)
    metadata = {
        "method": method, "arch": "resnet18", "stem": "cifar", "width": repr(WIDTH), "in_channels": "3",
        "batch": str(BATCH), "height": str(SIZE), "width_px": str(SIZE),
        "heads": json.dumps(HEADS[method]), "seed": str(seed), "torch": torch.__version__,
        "layout": "activations NHWC; conv weights OIHW; linear weights [out,in]; torchvision names for the "
                  "encoder, solo-learn's nn.Sequential indices for the heads",
        "precision": "computed in float64 from float32-representable inputs, stored as float32",
        "torch_f32_max_rel_error": f"{err:.2e}", "torch_f32_worst_tensor": worst,
        "zero_gradient_tensors": json.dumps(zero),
    }
    if method in ("simclr", "mocov2"):
        metadata["temperature"] = repr(TEMPERATURE)
    if method == "mocov2":
        metadata["queue_size"] = str(MOCO_QUEUE)
    if method == "vicreg":
        metadata.update(invariance_weight=repr(VICREG_WEIGHTS[0]), variance_weight=repr(VICREG_WEIGHTS[1]),
                        covariance_weight=repr(VICREG_WEIGHTS[2]))
    if method == "byol":
        metadata.update({f"lars_{k}": repr(v) for k, v in BYOL_LARS.items()})
        metadata.update({k: repr(v) for k, v in BYOL_TAU.items()})
        metadata["tau"] = repr(byol_tau())
    write_and_verify(f"ssl_{method}", tensors, metadata)
    print(f"ssl_{method}: loss {ref['loss'].item():.10f}, torch float32 max rel error {err:.1e} ({worst})")


# ------------------------------------------------------------------------------------------- io

def write_and_verify(name, tensors, metadata):
    path = os.path.join(FIXTURES, f"{name}.safetensors")
    safetensors_io.write(path, tensors, metadata)
    safetensors_io.verify(path, tensors, metadata)
    size = os.path.getsize(path)
    print(f"{name}: {size} bytes, {len(tensors)} tensors")
    assert size < 1_000_000, f"{name} is {size} bytes; keep fixtures under 1 MB"


def main():
    torch.set_num_threads(1)
    os.makedirs(FIXTURES, exist_ok=True)
    make_ops()
    for method, seed in [("simclr", 2001), ("vicreg", 2002), ("byol", 2003), ("mocov2", 2004)]:
        make_method(method, seed)


if __name__ == "__main__":
    main()
