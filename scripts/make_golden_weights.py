"""Golden fixture for weight exchange with torchvision: a ResNet-18 state dict saved by PyTorch, the
features it gives, and the features of its grayscale adaptation.

Writes Tests/DistTrainTests/Fixtures/torch_resnet18_cifar.safetensors (through convert_torchvision.py)
and Tests/DistTrainTests/Fixtures/torch_features.safetensors. See scripts/README.md.

The model is make_golden_resnet.py's ResNet-18 (torchvision's resnet18 with a width multiplier; the
check below confirms that at width 1 its state_dict keys and shapes are torchvision's, and that the
CIFAR stem is torchvision's resnet18 with conv1 a 3x3/1 conv and maxpool Identity), at width 0.0625 so
the fixture stays small. Weights: torchvision's init, then BN affine U(0.5, 1.5) / U(-0.2, 0.2) and
running statistics mean N(0, 0.2), var U(0.5, 1.5), num_batches_tracked 7, so evaluation-mode features
depend on every tensor. The classifier (fc, 10 classes) is saved too, as in any torchvision state
dict; disttrain must ignore it.

torch_features.safetensors:
    input        [2, 16, 16, 3]  NHWC
    features     [2, 32]         eval-mode pooled features (fc = Identity), float64 reference
    gray         [2, 16, 16, 1]  NHWC
    gray_features [2, 32]        the RGB model's features of `gray` replicated to 3 channels, which equal
                                 a 1-channel model whose conv1 is the RGB conv1 summed over input channels
                                 (checked here); disttrain's 3->1 adaptation must give them

Also: `--check-export FILE` loads a `disttrain export` file into torchvision (real torchvision.models.
resnet18/resnet50 when the width is 1, with the CIFAR stem changes when conv1 is 3x3; else the
script's ResNet) with load_state_dict(strict=True) and prints its features of a fixed input.
"""

import argparse
import os
import sys
import tempfile

import torch
import torch.nn as nn

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_torchvision  # noqa: E402
import safetensors_io  # noqa: E402
from make_golden_resnet import ResNet, nhwc  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "DistTrainTests", "Fixtures")


def torchvision_cifar_resnet(arch="resnet18", num_classes=1000):
    """torchvision's ResNet with the CIFAR stem: conv1 3x3 stride 1, no max-pool."""
    import torchvision

    model = getattr(torchvision.models, arch)(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model


def check_names_against_torchvision():
    ours = ResNet("resnet18", width=1.0, stem="cifar", in_channels=3, num_classes=1000)
    ref = torchvision_cifar_resnet()
    a = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    b = [(k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert a == b, "the CIFAR-stem ResNet-18's state_dict differs from torchvision's"
    ref.load_state_dict(ours.state_dict(), strict=True)


def features(model, x):
    fc = model.fc
    model.fc = nn.Identity()
    model.eval()
    with torch.no_grad():
        out = model(x)
    model.fc = fc
    return out


def make_fixture():
    check_names_against_torchvision()
    torch.manual_seed(11)
    model = ResNet("resnet18", width=0.0625, stem="cifar", in_channels=3, num_classes=10)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.normal_(0.0, 0.2)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    x = torch.randn(2, 3, 16, 16)
    gray = torch.rand(2, 1, 16, 16) * 2 - 1
    # The .pth a torchvision user would have, converted by the script users run.
    with tempfile.TemporaryDirectory() as tmp:
        pth = os.path.join(tmp, "resnet18_cifar.pth")
        torch.save(model.state_dict(), pth)
        weights = os.path.join(FIXTURES, "torch_resnet18_cifar.safetensors")
        names = convert_torchvision.convert(pth, weights)
    assert names == list(model.state_dict()), "conversion changed the names"
    # The converted file loads back into the model with strict=True and gives the same tensors.
    stored, _ = safetensors_io.read(weights)
    reloaded = ResNet("resnet18", width=0.0625, stem="cifar", in_channels=3, num_classes=10)
    reloaded.load_state_dict({k: safetensors_io.to_torch(v) for k, v in stored.items()}, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(reloaded.state_dict()[k].to(v.dtype), v), k

    model64 = model.double()
    feats = features(model64, x.double())
    gray_feats = features(model64, gray.double().repeat(1, 3, 1, 1))
    # The 3->1 adaptation: conv1 summed over input channels, same features on the 1-channel image.
    gray_model = ResNet("resnet18", width=0.0625, stem="cifar", in_channels=1, num_classes=10).double()
    state = {k: v.clone() for k, v in model64.state_dict().items()}
    state["conv1.weight"] = state["conv1.weight"].sum(dim=1, keepdim=True)
    gray_model.load_state_dict(state, strict=True)
    assert torch.allclose(features(gray_model, gray.double()), gray_feats, rtol=1e-10, atol=1e-12)

    out = os.path.join(FIXTURES, "torch_features.safetensors")
    safetensors_io.write(out, {"input": nhwc(x), "features": feats, "gray": nhwc(gray), "gray_features": gray_feats},
                         metadata={"arch": "resnet18", "stem": "cifar", "width": "0.0625", "torch": torch.__version__,
                                   "weights": "torch_resnet18_cifar.safetensors", "precision": "float64 reference"})
    print(f"wrote {weights} ({os.path.getsize(weights)} bytes) and {out}")


def check_export(path):
    stored, meta = safetensors_io.read(path)
    state = {k: safetensors_io.to_torch(v) for k, v in stored.items()}
    conv1 = state["conv1.weight"]
    width = conv1.shape[0] / 64
    arch = "resnet50" if "layer1.0.conv3.weight" in state else "resnet18"
    cifar = conv1.shape[2] == 3
    if width == 1 and conv1.shape[1] == 3:
        import torchvision

        model = torchvision_cifar_resnet(arch) if cifar else getattr(torchvision.models, arch)()
        kind = f"torchvision.models.{arch}" + (" (CIFAR stem)" if cifar else "")
    else:
        model = ResNet(arch, width=width, stem="cifar" if cifar else "imagenet", in_channels=conv1.shape[1])
        kind = f"the script's {arch} at width {width}"
    model.fc = nn.Identity()
    missing = model.load_state_dict(state, strict=True)
    torch.manual_seed(0)
    x = torch.randn(2, conv1.shape[1], 32, 32)
    model.eval()
    with torch.no_grad():
        print(f"{path}: {len(state)} tensors load into {kind} with strict=True ({missing}); "
              f"features of a fixed input: {model(x)[:, :4].tolist()}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--check-export", metavar="FILE", help="load a disttrain export into torchvision (strict)")
    args = parser.parse_args()
    if args.check_export:
        check_export(args.check_export)
    else:
        make_fixture()


if __name__ == "__main__":
    main()
