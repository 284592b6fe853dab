# examples/python_module_model.py: a Python module is the C++ module. An overriding train() (a
# PyTorch habit: keep a frozen batch norm in eval mode) is called by the parent's C++ train(), and
# the C++ trainer calls the Python forward.
import tessera as ts
from tessera import nn


class FrozenStem(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.register_buffer("calls", ts.zeros(1), persistent=False)  # moved with the module, not saved

    def train(self, mode=True):
        super().train(mode)
        self.bn.eval()
        return self

    def forward(self, x):
        self.calls += 1
        return self.bn(self.fc(x))


model = nn.Sequential(FrozenStem(), nn.ReLU(), nn.Linear(4, 1))
model.train()
assert model.training and not model[0].bn.training
print(list(model.state_dict()))  # ['0.fc.weight', '0.fc.bias', '0.bn.weight', ...]: no 'calls'
data = ts.data.DataLoader(ts.data.TensorDataset(ts.randn(64, 4), ts.randn(64, 1)), batch_size=16)
history = ts.train.fit(model, data, epochs=2, optimizer=ts.optim.SGD(model.parameters(), lr=0.05),
                       loss=nn.MSELoss())
assert model[0].calls.item() == 8  # the C++ loop called the Python forward once per batch
model[0].fc = nn.Linear(4, 4)  # replaced in place: same key, same position
assert list(model.state_dict())[:2] == ["0.fc.weight", "0.fc.bias"]
