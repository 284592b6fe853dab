# examples/tensorboard_logging.py: TensorBoard logs from Python, as with torch.utils.tensorboard.
# Then: tensorboard --logdir runs/tensorboard_example_py
import numpy as np
import tessera as ts
from tessera import nn
from tessera.utils.tensorboard import SummaryWriter

ts.manual_seed(0)
x = ts.randn(256, 2)
y = (x[:, 0] > 0).long()
model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))
opt = ts.optim.SGD(model.parameters(), lr=0.1)

with SummaryWriter("runs/tensorboard_example_py") as writer:
    writer.add_text("setup", "SGD lr 0.1, full batch")
    for step in range(20):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        writer.add_scalar("loss", loss, step)  # a one-element tensor or a number
        writer.add_scalars("weights", {"w00": model[0].weight[0, 0], "w01": model[0].weight[0, 1]}, step)
    writer.add_histogram("layer0.weight", model[0].weight, 20)
    writer.add_image("noise", np.random.rand(3, 16, 16), 20)  # numpy arrays work too
    writer.add_graph(model, x)  # the Graphs tab
    print("wrote", writer.file_path)
