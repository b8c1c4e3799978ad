"""PyTorch CPU figures for Benchmarks/NOTES-cpu-convolution.md, measured in the same run as ours.

Run with a venv outside the repository (PyTorch is never a dependency):
    python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch torchvision
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py convs [threads]
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py train 8 224 20
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py infer 8 224 20
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py lenet
Two threads, as the machine has; synthetic data; ResNet-50 as torchvision builds it (or the
same layers written out below when torchvision is absent).
"""
import sys
import time

import torch
import torch.nn as nn

# Two threads, as the machine has; `convs 1` measures one thread (CPU time per core).
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "convs" else 2)


def best_ms(fn, reps=10):
    """Best wall ms and best process-CPU ms of `reps` runs (the CPU figure is the steadier one
    on a shared machine: with 1 thread it is the pass's cost on one core)."""
    fn()
    wall = cpu = float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall * 1e3, cpu * 1e3


def convs():
    shapes = [("3x3 64->64 56", 64, 64, 56, 3, 1), ("1x1 256->64 56", 256, 64, 56, 1, 1),
              ("3x3 256->256 14", 256, 256, 14, 3, 1), ("3x3 512->512 7", 512, 512, 7, 3, 1),
              ("7x7/2 3->64 224", 3, 64, 224, 7, 2)]
    for name, c, k, size, r, s in shapes:
        conv = nn.Conv2d(c, k, r, stride=s, padding=r // 2, bias=False)
        x = torch.randn(8, c, size, size, requires_grad=True)
        y = conv(x)
        dy = torch.randn_like(y)
        flop = 2 * y.numel() * c * r * r
        w = conv.weight
        with torch.no_grad():
            fwd = best_ms(lambda: conv(x))
        bwd_data = best_ms(lambda: torch.nn.grad.conv2d_input(x.shape, w, dy, stride=s, padding=r // 2))
        bwd_filter = best_ms(lambda: torch.nn.grad.conv2d_weight(x, w.shape, dy, stride=s, padding=r // 2))
        print(f"{name:16s} " + "  ".join(f"{label} wall {t[0]:7.2f} cpu {t[1]:7.2f} ms ({flop / t[1] / 1e6:4.0f} GF/s cpu)"
                                         for label, t in [("fwd", fwd), ("bwd-data", bwd_data), ("bwd-filter", bwd_filter)]),
              flush=True)


class Bottleneck(nn.Module):
    """torchvision's ResNet-50 block (v1.5: the stride sits in the 3×3 convolution)."""

    def __init__(self, c, width, stride):
        super().__init__()
        out = width * 4
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out))
        self.shortcut = (nn.Sequential(nn.Conv2d(c, out, 1, stride, bias=False), nn.BatchNorm2d(out))
                         if stride != 1 or c != out else nn.Identity())

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


def resnet50():
    try:
        import torchvision
        return torchvision.models.resnet50()
    except ImportError:
        layers, c = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
                     nn.MaxPool2d(3, 2, 1)], 64
        for width, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(blocks):
                layers.append(Bottleneck(c, width, stride if i == 0 else 1))
                c = width * 4
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))


def train(batch, size, steps):
    model = resnet50()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, t = torch.randn(batch, 3, size, size), torch.randint(0, 1000, (batch,))
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss_fn(model(x), t).backward()
        opt.step()
    for _ in range(2):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"train resnet50 batch {batch} {size}²: {batch * steps / elapsed:.2f} images/s "
          f"({elapsed / steps * 1e3:.0f} ms/step)", flush=True)


def infer(batch, size, steps):
    model = resnet50().eval()
    x = torch.randn(batch, 3, size, size)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        start = time.perf_counter()
        for _ in range(steps):
            model(x)
        elapsed = time.perf_counter() - start
    print(f"infer resnet50 batch {batch} {size}²: {batch * steps / elapsed:.2f} images/s", flush=True)


def lenet():
    """One LeNet-5 epoch on Fashion-MNIST as `cnn-gpu train lenet5 --epochs 1` runs it: the same
    layers (6c5 pad 2, pool, 16c5, pool, 120, 84, 10, ReLU), batch 64 shuffled, SGD momentum 0.9
    lr 0.02, normalized by the training set's statistics, then the test set evaluated."""
    import gzip
    import numpy as np
    folder = "/usr/share/datasets/fashion-mnist/"

    def idx(name, offset):
        return np.frombuffer(gzip.open(folder + name).read(), np.uint8, offset=offset)
    x = torch.tensor(idx("train-images-idx3-ubyte.gz", 16), dtype=torch.float32).view(-1, 1, 28, 28) / 255
    t = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8), dtype=torch.int64)
    xt = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16), dtype=torch.float32).view(-1, 1, 28, 28) / 255
    tt = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8), dtype=torch.int64)
    mean, std = x.mean(), x.std()
    x, xt = (x - mean) / std, (xt - mean) / std
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                          nn.Linear(84, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    start = time.perf_counter()
    order = torch.randperm(len(x))
    for i in range(0, len(x) - 63, 64):
        batch = order[i:i + 64]
        opt.zero_grad()
        loss_fn(model(x[batch]), t[batch]).backward()
        opt.step()
    trained = time.perf_counter()
    with torch.no_grad():
        accuracy = (model(xt).argmax(1) == tt).float().mean().item()
    print(f"lenet5 epoch: {trained - start:.2f} s training, {time.perf_counter() - trained:.2f} s test; "
          f"test accuracy {accuracy * 100:.2f}%", flush=True)


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "convs":
        convs()
    elif what == "lenet":
        lenet()
    else:
        {"train": train, "infer": infer}[what](*map(int, sys.argv[2:5]))
