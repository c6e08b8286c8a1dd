"""Golden fixtures for the Swift ResNet: one training step of small ResNets, computed by PyTorch.

Writes Tests/ModelsTests/Fixtures/resnet{18,50}_*.safetensors. See scripts/README.md.

The ResNet below is torchvision's resnet18/resnet50 (BasicBlock / Bottleneck v1.5, stride on the 3x3
conv) with three options: a width multiplier, a CIFAR stem (3x3/1 conv, no max-pool) and the number of
input channels. Parameter names and shapes equal torchvision's (checked below).

Reference values are computed in float64 and stored as float32. Every random value (weights, inputs)
is drawn in float32 first and then widened, so the float64 computation starts from exactly the
float32 numbers that are stored; the only difference a float32 implementation sees is its own
rounding during the computation.

Stored per fixture (activations NHWC, weights in PyTorch layout: conv OIHW, fc [out, in]):
    input [N,H,W,C], labels [N] (class indices as float32)
    <param>                 every parameter before the step, torchvision names
    logits [N,K], loss [1]  training-mode forward, mean cross-entropy
    grad.<param>, grad.input [N,H,W,C]
    running.<bn>.running_mean / running_var   BN buffers after the training forward
    logits_eval [N,K]       eval-mode forward with those running stats (parameters before the step)
    sgd.<param>             a few parameters after one SGD step from zero momentum
"""

import argparse
import copy
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "ModelsTests", "Fixtures")

BN_MOMENTUM = 0.1
BN_EPS = 1e-5
LR = 0.1
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
SGD_TENSORS = ["conv1.weight", "bn1.weight", "layer1.0.conv1.weight", "fc.weight", "fc.bias"]


# ----------------------------------------------------------------------------------------- model

def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck: the stride sits on the 3x3 conv."""

    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


ARCHS = {
    "resnet18": (BasicBlock, [2, 2, 2, 2]),
    "resnet50": (Bottleneck, [3, 4, 6, 3]),
}


class ResNet(nn.Module):
    def __init__(self, arch="resnet18", width=1.0, stem="imagenet", in_channels=3, num_classes=1000):
        super().__init__()
        block, layers = ARCHS[arch]
        widths = [int(64 * width), int(128 * width), int(256 * width), int(512 * width)]
        self.inplanes = int(64 * width)
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        elif stem == "cifar":
            self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
        else:
            raise ValueError(f"unknown stem {stem!r}")
        self.bn1 = nn.BatchNorm2d(self.inplanes, eps=BN_EPS, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1) if stem == "imagenet" else nn.Identity()
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        # torchvision's initialisation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion, eps=BN_EPS, momentum=BN_MOMENTUM),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


# ------------------------------------------------------------------------------ torchvision check

def check_against_torchvision():
    """Our width-1 ImageNet-stem models must be torchvision's resnet18/resnet50, name for name."""
    import torchvision

    for arch in ARCHS:
        ours = ResNet(arch, width=1.0, stem="imagenet", in_channels=3, num_classes=1000)
        ref = getattr(torchvision.models, arch)()
        a = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
        b = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
        assert a == b, f"{arch}: state_dict differs from torchvision's"
        # Same forward too: load torchvision's weights into ours and compare outputs.
        ours.load_state_dict(ref.state_dict(), strict=True)
        ours.eval()
        ref.eval()
        x = torch.randn(2, 3, 64, 64)
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x), rtol=1e-5, atol=1e-5), f"{arch}: forward differs"
        # The CIFAR stem is torchvision's model with a 3x3/1 conv1 and no max-pool.
        ours = ResNet(arch, width=1.0, stem="cifar", in_channels=3, num_classes=10)
        ref = getattr(torchvision.models, arch)(num_classes=10)
        ref.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        ref.maxpool = nn.Identity()
        ours.load_state_dict(ref.state_dict(), strict=True)
        ours.eval()
        ref.eval()
        x = torch.randn(2, 3, 16, 16)
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x), rtol=1e-5, atol=1e-5), f"{arch} cifar: forward differs"
        print(f"{arch}: keys, shapes and forward match torchvision ({len(a)} state_dict entries)")


# ----------------------------------------------------------------------------------------- golden

def nhwc(t):
    return t.permute(0, 2, 3, 1).contiguous()


def make_fixture(name, arch, stem, width, in_channels, height, width_px, batch, num_classes, seed=0):
    torch.manual_seed(seed)
    model = ResNet(arch, width=width, stem=stem, in_channels=in_channels, num_classes=num_classes)
    # Nothing trivially 1 or 0: BN affine and the classifier get non-default values (drawn in
    # float32, like the convs' kaiming init above).
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        model.fc.weight.normal_(0.0, 0.1)
        model.fc.bias.normal_(0.0, 0.1)
    x32 = torch.randn(batch, in_channels, height, width_px)
    labels = torch.randint(0, num_classes, (batch,))
    model32 = copy.deepcopy(model)
    model = model.double()
    params = dict(model.named_parameters())
    params_before = {k: v.detach().clone() for k, v in params.items()}

    # Training-mode forward and backward.
    model.train()
    x = x32.double().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    model.zero_grad(set_to_none=True)
    loss.backward()
    grads = {k: v.grad.detach().clone() for k, v in params.items()}
    running = {
        k: v.detach().clone()
        for k, v in model.named_buffers()
        if k.endswith("running_mean") or k.endswith("running_var")
    }

    # Eval-mode forward with the updated running statistics (parameters still before the step).
    model.eval()
    with torch.no_grad():
        logits_eval = model(x32.double())

    # One SGD step from zero momentum.
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY,
                          dampening=0, nesterov=False)
    opt.step()
    for k in SGD_TENSORS:  # first step from zero momentum: p - lr * (g + wd * p)
        want = params_before[k] - LR * (grads[k] + WEIGHT_DECAY * params_before[k])
        err = (params[k].detach() - want).abs().max().item()
        assert torch.allclose(params[k].detach(), want, rtol=1e-12, atol=1e-14), (k, err)

    # How far PyTorch's own float32 computation lands from the float64 reference: the floor for the
    # tolerances a float32 implementation can be held to on this fixture.
    f32 = float32_run(model32, x32, labels)
    f64 = {"logits": logits.detach(), "loss": loss.detach().reshape(1), "grad.input": x.grad.detach(),
           "logits_eval": logits_eval}
    f64.update({f"grad.{k}": g for k, g in grads.items()})
    f64.update({f"running.{k}": v for k, v in running.items()})
    f32_err, f32_worst = max((rel_error(f32[k], v), k) for k, v in f64.items())
    assert f32_err < 1e-3, f"{name}: float32 PyTorch is {f32_err:.1e} off at {f32_worst}; ill-conditioned"

    tensors = {"input": nhwc(x32), "labels": labels.to(torch.float32)}
    tensors.update(params_before)
    tensors["logits"] = logits.detach()
    tensors["loss"] = loss.detach().reshape(1)
    for k, g in grads.items():
        tensors[f"grad.{k}"] = g
    tensors["grad.input"] = nhwc(x.grad.detach())
    for k, v in running.items():
        tensors[f"running.{k}"] = v
    tensors["logits_eval"] = logits_eval
    for k in SGD_TENSORS:
        tensors[f"sgd.{k}"] = params[k].detach().clone()

    metadata = {
        "arch": arch,
        "stem": stem,
        "width": repr(width),
        "in_channels": str(in_channels),
        "num_classes": str(num_classes),
        "batch": str(batch),
        "height": str(height),
        "width_px": str(width_px),
        "lr": repr(LR),
        "momentum": repr(MOMENTUM),
        "weight_decay": repr(WEIGHT_DECAY),
        "bn_momentum": repr(BN_MOMENTUM),
        "bn_eps": repr(BN_EPS),
        "seed": str(seed),
        "torch": torch.__version__,
        "layout": "activations NHWC; conv weights OIHW; fc.weight [out,in]; torchvision names",
        "precision": "computed in float64 from float32-representable inputs, stored as float32",
        "torch_f32_max_rel_error": f"{f32_err:.2e}",
        "torch_f32_worst_tensor": f32_worst,
    }
    path = os.path.join(FIXTURES, f"{name}.safetensors")
    safetensors_io.write(path, tensors, metadata)
    safetensors_io.verify(path, tensors, metadata)
    size = os.path.getsize(path)
    print(f"{name}: {size} bytes, {len(tensors)} tensors, loss {loss.item():.10f}, "
          f"torch float32 max rel error {f32_err:.1e} ({f32_worst})")
    assert size < 1_000_000, f"{name} is {size} bytes; shrink width or batch"
    return path


def rel_error(got, want):
    """max |got - want| / max |want| over one tensor."""
    return ((got.double() - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()


def float32_run(model, x32, labels):
    """The same training forward, backward and eval forward in float32."""
    model.train()
    x = x32.clone().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out = {"logits": logits.detach(), "loss": loss.detach().reshape(1), "grad.input": x.grad}
    out.update({f"grad.{k}": p.grad for k, p in model.named_parameters()})
    out.update({f"running.{k}": v for k, v in model.named_buffers() if "running_" in k})
    model.eval()
    with torch.no_grad():
        out["logits_eval"] = model(x32)
    return out


FIXTURE_SPECS = [
    # name, arch, stem, width, in_channels, height, width_px, batch, num_classes
    # Width 0.0625 (stage widths 4/8/16/32) keeps a ResNet-18 fixture near 400 kB: at 0.125 the
    # parameters plus their gradients alone are 1.4 MB.
    ("resnet18_cifar", "resnet18", "cifar", 0.0625, 3, 16, 16, 4, 10),
    ("resnet18_imagenet", "resnet18", "imagenet", 0.0625, 1, 64, 64, 2, 10),
    # ResNet-50 this narrow (bottleneck width 3) at 8x8 with batch 4 normalises layer4 over 4 values per
    # channel and is ill-conditioned: float32 PyTorch lands 5e-4..5e-2 (by seed) from float64. At
    # 16x16 with batch 8 (32 values per channel in layer4) it stays near 1e-4.
    ("resnet50_cifar", "resnet50", "cifar", 0.046875, 3, 16, 16, 8, 10),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-torchvision-check", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not args.skip_torchvision_check:
        check_against_torchvision()
    os.makedirs(FIXTURES, exist_ok=True)
    for spec in FIXTURE_SPECS:
        make_fixture(*spec)


if __name__ == "__main__":
    main()
