# examples/quickstart.py: tessera from Python, the way PyTorch reads.
import numpy as np
import tessera as ts

ts.manual_seed(0)
x = ts.randn(4, 3)
w = ts.zeros(3, 1, requires_grad=True)
target = x @ ts.tensor([[1.0], [-2.0], [0.5]])

for step in range(200):  # least squares by gradient descent
    loss = ((x @ w - target) ** 2).mean()
    w.grad = None
    loss.backward()
    with ts.no_grad():
        w -= w.grad * 0.1

print("w =", w.detach().numpy().ravel().round(3))  # close to [1, -2, 0.5]
a = np.arange(6, dtype=np.float32).reshape(2, 3)
t = ts.from_numpy(a)                                 # shares memory with the array
print(t[:, 1:], t[t > 2], ts.softmax(t, -1).sum(1))
try:
    ts.ones(3, 4) @ ts.ones(5, 6)
except ValueError as e:                              # C++ errors arrive as Python exceptions
    print("ValueError:", e)
