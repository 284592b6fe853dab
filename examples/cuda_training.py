# examples/cuda_training.py: PyTorch's device idiom: the same code on a GPU or the CPU.
import tessera as ts

device = "cuda" if ts.cuda.is_available() else "cpu"
ts.manual_seed(0)
y = ts.randint(0, 2, (1024,))
x = ts.randn(1024, 2) + y.unsqueeze(1).float() * 3.0
loader = ts.data.DataLoader(ts.data.TensorDataset(x, y), batch_size=64, shuffle=True, pin_memory=True)

model = ts.nn.Sequential(ts.nn.Linear(2, 32), ts.nn.ReLU(), ts.nn.Linear(32, 2)).to(device)
opt = ts.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(3):
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = ts.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"epoch {epoch}: loss {loss.item():.4f} on {loss.device}")

with ts.no_grad():
    probe = ts.tensor([[0.0, 0.0], [3.0, 3.0]], device=device)
    print(model(probe).argmax(1).tolist())  # [0, 1]
