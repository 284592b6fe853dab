# examples/mixed_precision.py: autocast, GradScaler and fit(mixed_precision=) from Python.
import tessera as ts
from tessera import nn

ts.manual_seed(0)
net = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 14 * 14, 10))
opt = ts.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
x, y = ts.randn(32, 1, 28, 28), ts.randint(0, 10, (32,))

with ts.autocast("cpu"):  # bfloat16 on the CPU (dtype=ts.float16 also works)
    logits = net(x)
    loss = nn.functional.cross_entropy(logits, y)
print(logits.dtype, loss.dtype)  # tessera.bfloat16 tessera.float32

scaler = ts.amp.GradScaler()  # for float16: scales the loss, skips steps with inf/NaN gradients
opt.zero_grad()
scaler.scale(loss).backward()
scaler.step(opt)
scaler.update()
print("scale", scaler.get_scale())

loader = ts.data.DataLoader(ts.data.TensorDataset(ts.randn(256, 1, 28, 28), ts.randint(0, 10, (256,))),
                            batch_size=32)
history = ts.train.fit(net, loader, epochs=2, optimizer=opt, mixed_precision=ts.bfloat16)
print("loss after 2 epochs: %.3f" % history["epochs"][-1]["loss"])
assert logits.dtype == ts.bfloat16 and loss.dtype == ts.float32
