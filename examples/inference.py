# examples/inference.py: tessera.inference.InferenceSession from a Python module and an ONNX file.
import os
import tempfile

import tessera as ts
from tessera import nn


class Net(nn.Module):  # a MobileNet-style block: depthwise and pointwise convolutions, ReLU6
    def __init__(self):
        super().__init__()
        self.stem, self.stem_bn = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32)
        self.dw, self.dw_bn = nn.Conv2d(32, 32, 3, padding=1, groups=32, bias=False), nn.BatchNorm2d(32)
        self.pw, self.pw_bn = nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64)
        self.act, self.pool, self.fc = nn.ReLU6(), nn.AdaptiveAvgPool2d(1), nn.Linear(64, 10)

    def forward(self, x):
        x = self.act(self.stem_bn(self.stem(x)))
        x = self.act(self.pw_bn(self.pw(self.act(self.dw_bn(self.dw(x))))))
        return self.fc(self.pool(x).flatten(1))


ts.manual_seed(0)
model = Net().eval()
x = ts.randn(1, 3, 96, 96)
session = ts.inference.InferenceSession(model, x)  # traced once: BN folded, ReLU6 fused
print(session.steps())  # ['Conv+BatchNormalization+Clip', ..., 'GlobalAveragePool', ..., 'Gemm', ...]
with ts.no_grad():
    want = model(x)
print("max difference:", (session(x) - want).abs().max().item())

path = os.path.join(tempfile.mkdtemp(), "net.onnx")
ts.onnx.export(model, x, path)
from_file = ts.inference.InferenceSession(path)  # any ONNX file runs the same way
assert ts.allclose(from_file(x), want, rtol=1e-4, atol=1e-4)

# Where the time goes: a session made with profile=True sums each step's time over its runs.
profiled = ts.inference.InferenceSession(model, x, profile=True)
for _ in range(20):
    profiled(x)
for step, runs, seconds in profiled.profile():
    print(f"{step:32s} {seconds / runs * 1e6:8.1f} us")
assert [step for step, _, _ in profiled.profile()] == profiled.steps()
