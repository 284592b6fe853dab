"""Whole programs in PyTorch's idioms, run with `torch` and with `tessera` bound to the same name
(only the import differs), from the same weights: their losses must agree step by step."""
import numpy as np
import pytest
import tessera

torch_lib = pytest.importorskip("torch")


def mnist_style(torch, images, labels, init):
    """The shape of PyTorch's examples/mnist/main.py: a Net module, a Dataset subclass returning
    dicts, DataLoader with a sampler, Adadelta with StepLR, nll_loss on log_softmax, an evaluation
    loop under no_grad, a hand-set learning rate through param_groups."""
    nn = torch.nn
    F = torch.nn.functional
    data = torch.utils.data

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, 3, 1)
            self.conv2 = nn.Conv2d(4, 8, 3, 1)
            self.dropout1 = nn.Dropout(0.0)
            self.fc1 = nn.Linear(8 * 5 * 5, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = F.relu(self.conv1(x))
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = F.relu(self.fc1(x))
            return F.log_softmax(self.fc2(x), dim=1)

    class Digits(data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return {"image": images[i], "label": int(labels[i]), "index": i}

    model = Net()
    with torch.no_grad():
        for (name, p), w in zip(model.named_parameters(), init):
            p.data.copy_(torch.tensor(w))
    first = next(model.parameters())
    assert tuple(first.shape) == (4, 1, 3, 3)
    loader = data.DataLoader(Digits(), batch_size=16, sampler=data.SequentialSampler(range(len(labels))))
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    losses = []
    for epoch in range(2):
        model.train()
        for batch in loader:
            optimizer.zero_grad()
            output = model(batch["image"])
            loss = F.nll_loss(output, batch["label"])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    for group in optimizer.param_groups:
        group["lr"] = 0.05
    optimizer.zero_grad()
    F.nll_loss(model(torch.tensor(images[:16])), torch.tensor(labels[:16]).long()).backward()
    optimizer.step()
    model.eval()
    correct, test_loss = 0, 0.0
    with torch.no_grad():
        for batch in data.DataLoader(Digits(), batch_size=32):
            output = model(batch["image"])
            test_loss += F.nll_loss(output, batch["label"], reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(batch["label"].view_as(pred)).sum().item()
    return losses, test_loss, correct


def test_mnist_style_program_matches_pytorch():
    rng = np.random.default_rng(0)
    images = rng.random((64, 1, 14, 14), dtype=np.float32)
    labels = (images[:, 0, :7].mean(axis=(1, 2)) * 20).astype(np.int64) % 10
    shapes = [(4, 1, 3, 3), (4,), (8, 4, 3, 3), (8,), (32, 200), (32,), (10, 32), (10,)]
    init = [(rng.standard_normal(s) * (0.3 if len(s) > 1 else 0.05)).astype(np.float32) for s in shapes]
    ours = mnist_style(tessera, images, labels, init)
    theirs = mnist_style(torch_lib, images, labels, init)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=2e-4, atol=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=2e-4)
    assert ours[2] == theirs[2]
    assert ours[0][-1] < ours[0][0]


def sine_wave_lstm(torch, data, init):
    """The shape of PyTorch's examples/time_sequence_prediction: two LSTMCells stepped by hand over
    a sequence, a Linear head, float64, LBFGS with a closure, predictions of future steps."""
    nn = torch.nn

    class Sequence(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm1 = nn.LSTMCell(1, 8)
            self.lstm2 = nn.LSTMCell(8, 8)
            self.linear = nn.Linear(8, 1)

        def forward(self, input, future=0):
            outputs = []
            h_t = torch.zeros(input.size(0), 8, dtype=torch.double)
            c_t = torch.zeros(input.size(0), 8, dtype=torch.double)
            h_t2 = torch.zeros(input.size(0), 8, dtype=torch.double)
            c_t2 = torch.zeros(input.size(0), 8, dtype=torch.double)
            for input_t in input.split(1, dim=1):
                h_t, c_t = self.lstm1(input_t, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            for i in range(future):
                h_t, c_t = self.lstm1(output, (h_t, c_t))
                h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
                output = self.linear(h_t2)
                outputs += [output]
            return torch.cat(outputs, dim=1)

    input = torch.from_numpy(data[:, :-1])
    target = torch.from_numpy(data[:, 1:])
    seq = Sequence()
    seq.double()
    with torch.no_grad():
        for p, w in zip(seq.parameters(), init):
            p.copy_(torch.from_numpy(w))
    criterion = nn.MSELoss()
    optimizer = torch.optim.LBFGS(seq.parameters(), lr=0.8)
    losses = []
    for i in range(2):
        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            loss.backward()
            return loss
        losses.append(optimizer.step(closure).item())
    with torch.no_grad():
        pred = seq(input[:1], future=5)
    return losses, pred.detach().numpy()


def test_sine_wave_lstm_with_lbfgs_matches_pytorch():
    rng = np.random.default_rng(3)
    x = np.arange(21) + rng.integers(-8, 8, (3, 1))
    data = np.sin(x / 3.0).astype(np.float64)
    shapes = [(32, 1), (32, 8), (32,), (32,), (32, 8), (32, 8), (32,), (32,), (1, 8), (1,)]
    init = [rng.uniform(-0.35, 0.35, s) for s in shapes]
    ours = sine_wave_lstm(tessera, data, init)
    theirs = sine_wave_lstm(torch_lib, data, init)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-8)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-6, atol=1e-9)
    assert ours[0][1] < ours[0][0]
