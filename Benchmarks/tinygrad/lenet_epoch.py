"""One LeNet-5 epoch on Fashion-MNIST in tinygrad on the OpenCL device, as
`cnn-gpu train lenet5 --epochs 1 --device opencl` runs it (same layers, batch 64, SGD momentum
0.9 lr 0.02, data normalized by the training set's statistics), for the issue-10 ratio.

Run with a venv outside the repository (tinygrad is never a dependency):
    python3 -m venv /work/venv-tinygrad && /work/venv-tinygrad/bin/pip install tinygrad==0.14.0 numpy
    DEV=CL /work/venv-tinygrad/bin/python Benchmarks/tinygrad/lenet_epoch.py
The step is jitted (TinyJit), as tinygrad's own MNIST example trains.
"""
import gzip
import time

import numpy as np
from tinygrad import Tensor, TinyJit, nn, Device, Context

folder = "/usr/share/datasets/fashion-mnist/"


def idx(name, offset):
    return np.frombuffer(gzip.open(folder + name).read(), np.uint8, offset=offset)


x = idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
t = idx("train-labels-idx1-ubyte.gz", 8).astype(np.int32)
xt = idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
tt = idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int32)
mean, std = x.mean(), x.std()
x, xt = (x - mean) / std, (xt - mean) / std


class LeNet5:
    def __init__(self):
        self.c1, self.c2 = nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5)
        self.l1, self.l2, self.l3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def __call__(self, v):
        v = self.c1(v).relu().max_pool2d(2)
        v = self.c2(v).relu().max_pool2d(2).flatten(1)
        return self.l3(self.l2(self.l1(v).relu()).relu())


model = LeNet5()
opt = nn.optim.SGD(nn.state.get_parameters(model), lr=0.02, momentum=0.9)
X, Y = Tensor(x).realize(), Tensor(t).realize()


@TinyJit
def step(samples):
    opt.zero_grad()
    loss = model(X[samples]).sparse_categorical_crossentropy(Y[samples]).backward()
    opt.step()
    return loss


order = np.random.permutation(len(x)).astype(np.int32)
steps = len(x) // 64
# The first steps compile the kernels and capture the jit; the epoch is timed after them and
# counted at the steady rate (compile time reported apart).
warmup = 3
with Context(TRAINING=1):
    compiling = time.perf_counter()
    for i in range(warmup):
        step(Tensor(order[i * 64:(i + 1) * 64])).item()
    start = time.perf_counter()
    for i in range(warmup, steps):
        loss = step(Tensor(order[i * 64:(i + 1) * 64]))
    loss.item()
Device[Device.DEFAULT].synchronize()
trained = time.perf_counter()
print(f"first {warmup} steps (compiling): {start - compiling:.1f} s")
per_step = (trained - start) / (steps - warmup)
start = trained - per_step * steps
correct = sum((model(Tensor(xt[i:i + 1000])).argmax(1).numpy() == tt[i:i + 1000]).sum() for i in range(0, len(xt), 1000))
print(f"tinygrad lenet5 epoch on {Device.DEFAULT}: {trained - start:.2f} s training ({(trained - start) / steps * 1e3:.1f} ms/step), "
      f"{time.perf_counter() - trained:.2f} s test; test accuracy {correct / len(xt) * 100:.2f}%", flush=True)
