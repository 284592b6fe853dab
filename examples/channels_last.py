# examples/channels_last.py: channels-last training, as PyTorch users write it.
import time

import tessera as ts
from tessera import nn

ts.manual_seed(0)
model = nn.Sequential(nn.Conv2d(3, 50, 3, padding=1), nn.ReLU(), nn.Conv2d(50, 50, 3, padding=1), nn.MaxPool2d(2),
                      nn.ReLU(), nn.Flatten(), nn.Linear(50 * 16 * 16, 10))
model = model.to(memory_format=ts.channels_last)  # accepted as in PyTorch; the input decides the layout
opt = ts.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = ts.randn(64, 3, 32, 32).to(memory_format=ts.channels_last)  # [N, C, H, W] indexed, [N, H, W, C] in memory
y = ts.randint(0, 10, (64,))

h = model[1](model[0](x))
print("after conv + ReLU, channels last:", h.is_contiguous(memory_format=ts.channels_last))
for fmt in (ts.contiguous_format, ts.channels_last):
    xs = x.contiguous(memory_format=fmt)
    start = time.perf_counter()
    for _ in range(3):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(xs), y)
        loss.backward()
        opt.step()
    print(f"{fmt}: {(time.perf_counter() - start) / 3 * 1e3:.1f} ms per step, loss {loss.item():.3f}")
assert h.is_contiguous(memory_format=ts.channels_last)
