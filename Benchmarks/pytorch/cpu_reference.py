"""PyTorch CPU figures for Benchmarks/NOTES-cpu-convolution.md, measured in the same run as ours.

Run with a venv outside the repository (PyTorch is never a dependency):
    python3 -m venv /work/venv-torch && /work/venv-torch/bin/pip install torch torchvision
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py convs [threads]
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py train 8 224 20
    /work/venv-torch/bin/python Benchmarks/pytorch/cpu_reference.py infer 8 224 20
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


def resnet50():
    import torchvision
    return torchvision.models.resnet50()


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


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "convs":
        convs()
    else:
        {"train": train, "infer": infer}[what](*map(int, sys.argv[2:5]))
