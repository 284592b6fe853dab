# examples/python_nn.py: a model as a Python class over the C++ layers, trained with a C++ optimizer.
import tessera as ts
from tessera import nn


class Net(nn.Module):  # subclass and define forward, as in PyTorch
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)    # the C++ layers
        self.fc = nn.Linear(8 * 14 * 14, 10)
        self.scale = ts.ones(1, requires_grad=True)  # tensors that require grad are parameters

    def forward(self, x):
        x = ts.max_pool2d(ts.relu(self.conv(x)), 2)
        return self.fc(x.flatten(1)) * self.scale


ts.manual_seed(0)
model = Net()
opt = ts.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)  # also Adam, AdamW
x, y = ts.randn(32, 1, 28, 28), ts.randint(0, 10, (32,))
for step in range(30):
    loss = ts.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
print(model)
print("parameters:", model.num_parameters(), "final loss:", round(loss.item(), 4))
assert loss.item() < 0.5  # it memorizes the batch
