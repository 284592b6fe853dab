# examples/porting_torch.py: PyTorch idioms that run on tessera unchanged but for the import.
import collections

import numpy as np
import tessera as torch  # the one line a port changes
import tessera.nn as nn
import tessera.nn.functional as F
from tessera.utils.data import DataLoader, Dataset, WeightedRandomSampler, random_split

torch.manual_seed(0)
Sample = collections.namedtuple("Sample", "features label")


class Blobs(Dataset):  # items of any structure: here a dict holding a named tuple and a string
    def __init__(self, n):
        rng = np.random.default_rng(1)
        self.y = rng.integers(0, 3, n)
        self.x = (rng.standard_normal((n, 4)) + 2 * self.y[:, None]).astype(np.float32)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return {"sample": Sample(self.x[i], int(self.y[i])), "id": f"blob-{i}"}


class ScaledTanh(torch.autograd.Function):  # a custom op with a hand-written backward
    @staticmethod
    def forward(ctx, x, scale):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        ctx.scale = scale
        return y * scale

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * ctx.scale * (1 - y * y), None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 16), nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(ScaledTanh.apply(self.fc1(x), 2.0))


train, val = random_split(Blobs(300), [0.8, 0.2], generator=torch.Generator().manual_seed(42))
weights = [1.0] * len(train)  # oversampling with a sampler, as in PyTorch
loader = DataLoader(train, batch_size=32, sampler=WeightedRandomSampler(weights, len(train)))
model = Net()
print("first parameter:", tuple(next(model.parameters()).shape))
optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
for epoch in range(4):
    for batch in loader:
        x, y = batch["sample"]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    for group in optimizer.param_groups:  # a hand-written decay reaches the optimizer
        group["lr"] *= 0.5
    print(f"epoch {epoch}: loss {loss.item():.3f}, lr {optimizer.param_groups[0]['lr']:.3f}, ids like {batch['id'][0]}")

model.eval()
with torch.no_grad():
    batch = next(iter(DataLoader(val, batch_size=len(val))))
    x, y = batch["sample"]
    accuracy = (model(x).argmax(1) == y).float().mean().item()
print(f"validation accuracy {accuracy:.2f}")
jac = torch.autograd.functional.jacobian(lambda v: ScaledTanh.apply(v, 2.0), torch.zeros(3))
print("d/dx 2 tanh(x) at 0:", torch.diag(jac).tolist())
assert accuracy > 0.8
