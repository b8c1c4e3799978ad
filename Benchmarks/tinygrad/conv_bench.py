# Times conv2d forward, backward-data and backward-filter in tinygrad on the OpenCL device
# (DEV=CL), batch 8, ResNet-50 and VGG-16 shapes; best of N after warm-up, realize + synchronize.
import sys, time
from tinygrad import Tensor, Device
shapes = {
  "3x3 64->64 56^2": (64, 56, 64, 3, 1, 1),
  "1x1 256->64 56^2": (256, 56, 64, 1, 1, 0),
  "3x3 256->256 14^2": (256, 14, 256, 3, 1, 1),
  "3x3 512->512 7^2": (512, 7, 512, 3, 1, 1),
  "7x7/2 3->64 224^2": (3, 224, 64, 7, 2, 3),
}
# VGG-16's nine distinct convolutions (3x3, stride 1, padding 1).
for c, k, side in [(3, 64, 224), (64, 64, 224), (64, 128, 112), (128, 128, 112), (128, 256, 56), (256, 256, 56),
                   (256, 512, 28), (512, 512, 28), (512, 512, 14)]:
  shapes[f"vgg 3x3 {c}->{k} {side}^2"] = (c, side, k, 3, 1, 1)
sel = sys.argv[1:] or list(shapes)
runs = 3
def best(f):
  f(); Device[Device.DEFAULT].synchronize()
  b = 1e9
  for _ in range(runs):
    t = time.perf_counter(); f(); Device[Device.DEFAULT].synchronize(); b = min(b, time.perf_counter() - t)
  return b
for name in sel:
  c, hw, k, r, s, p = shapes[name]
  oh = (hw + 2 * p - r) // s + 1
  gflop = 2 * 8 * k * oh * oh * c * r * r / 1e9
  x = Tensor.randn(8, c, hw, hw).realize(); w = Tensor.randn(k, c, r, r).realize()
  dy = Tensor.randn(8, k, oh, oh).realize()
  fwd = lambda: x.conv2d(w, stride=s, padding=p).realize()
  def bwd_data():
    xx = x.detach(); xx.requires_grad = True
    out = xx.conv2d(w, stride=s, padding=p); out.backward(dy); xx.grad.realize()
  def bwd_filter():
    ww = w.detach(); ww.requires_grad = True
    out = x.conv2d(ww, stride=s, padding=p); out.backward(dy); ww.grad.realize()
  for d, f in (("forward", fwd), ("backwardData", bwd_data), ("backwardFilter", bwd_filter)):
    t = best(f)
    print(f"tinygrad {name} | {d} | {t*1e3:.1f} ms, {gflop/t:.1f} GFLOP/s", flush=True)
