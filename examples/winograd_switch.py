# examples/winograd_switch.py: the same convolution with and without Winograd kernels.
import tessera as ts

ts.manual_seed(0)
x, w = ts.randn(8, 64, 32, 32), ts.randn(64, 64, 3, 3) / 24
fast = ts.nn.functional.conv2d(x, w, padding=1)  # Winograd (the default where it suits)
ts.backends.mkldnn.allow_winograd = False
direct = ts.nn.functional.conv2d(x, w, padding=1)
ts.backends.mkldnn.allow_winograd = True
exact = ts.nn.functional.conv2d(x.double(), w.double(), padding=1)
print("Winograd error", (fast.double() - exact).abs().max().item())
print("direct error  ", (direct.double() - exact).abs().max().item())
assert (fast.double() - exact).abs().max().item() < 1e-4
