#!/usr/bin/env python3
"""Records what torchvision computes, so the tests can check that our zoo models, loaded with
torchvision-named weights, compute the same thing (issue: "a loaded model must compute what the
original framework computes"). CI has no PyTorch; this script is run by hand and its outputs are
committed under Tests/CNNGPUTests/Fixtures/:

  python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch torchvision safetensors
  /tmp/torchenv/bin/python scripts/torchvision-reference.py

Weights are not stored (VGG's alone are half a gigabyte): every tensor of the state_dict is filled
from a formula keyed by its name, which Tests/CNNGPUTests/Support/FormulaWeights.swift repeats
bit for bit. The test fills a safetensors file the same way, loads it through the ordinary
importer, runs the forward pass in evaluation mode and compares with the logits recorded here.

Formula: a SplitMix64 stream seeded with the FNV-1a hash of the tensor's name gives u in [-1, 1)
(24-bit, exact in float32); weights of rank >= 2 are u * sqrt(6 / fan_in) (He uniform), 1-D
`weight` 1 + u/4, `bias` and `running_mean` u/10, `running_var` 1 + u/2; the input images are
2u (name "input"). The reference runs in float64; the float32 run's distance from it is recorded
too, and so are the names, shapes and dtypes of each model's state_dict.

It also writes two small safetensors files with the `safetensors` library itself (a torchvision
BasicBlock in float32 and in bfloat16), to test reading files that we did not write.
"""
import json
import math
from pathlib import Path

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file
from torchvision import models

FIXTURES = Path(__file__).resolve().parent.parent / "Tests" / "CNNGPUTests" / "Fixtures"
CLASSES = 100
BATCH = 2
MASK = (1 << 64) - 1


def fnv1a(name: str) -> int:
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def uniform(name: str, count: int) -> np.ndarray:
    """count values in [-1, 1): SplitMix64 seeded with fnv1a(name), top 24 bits of each draw."""
    with np.errstate(over="ignore"):
        state = np.uint64(fnv1a(name)) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24) * 2 - 1


def formula(name: str, shape) -> np.ndarray:
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, count)
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        v = u * math.sqrt(6.0 / fan_in)
    elif name.endswith("running_var"):
        v = 1 + u / 2
    elif name.endswith("running_mean") or name.endswith("bias"):
        v = u / 10
    else:
        v = 1 + u / 4
    return v.astype(np.float32).reshape(shape)


def fill(module: torch.nn.Module) -> None:
    state = module.state_dict()
    for name, tensor in state.items():
        if tensor.is_floating_point():
            tensor.copy_(torch.from_numpy(formula(name, list(tensor.shape))))


def build(name: str) -> torch.nn.Module:
    if name == "googlenet":
        return models.GoogLeNet(num_classes=CLASSES, aux_logits=False, transform_input=False, init_weights=False)
    return getattr(models, name)(num_classes=CLASSES)


# Model name → image sides. VGG and AlexNet are also run below the sizes where their adaptive
# pool is the identity, so the uneven windows of AdaptiveAvgPool2d are checked.
SIZES = {name: [64] for name in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                 "googlenet", "densenet121"]}
SIZES["alexnet"] = [224, 96]
for depth in [11, 13, 16, 19]:
    for suffix in ["", "_bn"]:
        SIZES[f"vgg{depth}{suffix}"] = [224, 64]


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    runs, state_dicts = [], {}
    for name, sizes in SIZES.items():
        model = build(name).eval()
        fill(model)
        state_dicts[name] = {k: {"shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
                             for k, v in model.state_dict().items()}
        for size in sizes:
            x = torch.from_numpy((uniform("input", BATCH * 3 * size * size) * 2).astype(np.float32))
            x = x.reshape(BATCH, 3, size, size)
            with torch.no_grad():
                reference = model.double()(x.double())
                single = model.float()(x)
            runs.append({
                "model": name, "classes": CLASSES, "image_size": size, "batch": BATCH,
                "float32_max_abs_diff": float((single.double() - reference).abs().max()),
                "logits": [[float(f"{v:.9g}") for v in row] for row in reference.tolist()],
            })
            print(f"{name:12s} {size:4d}  max |logit| {reference.abs().max().item():8.3f}  "
                  f"float32 off by {runs[-1]['float32_max_abs_diff']:.2e}")
    reference = {
        "generator": "scripts/torchvision-reference.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "runs": runs, "state_dicts": state_dicts,
    }
    (FIXTURES / "torchvision-reference.json").write_text(json.dumps(reference, separators=(",", ":")) + "\n")

    block = models.resnet.BasicBlock(8, 8)
    fill(block)
    state = {k: v.contiguous() for k, v in block.state_dict().items()}
    save_file(state, FIXTURES / "basicblock-f32.safetensors", metadata={"format": "pt"})
    half = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in state.items()}
    save_file(half, FIXTURES / "basicblock-bf16.safetensors", metadata={"format": "pt"})


if __name__ == "__main__":
    main()
