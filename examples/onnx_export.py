# examples/onnx_export.py: export to ONNX, run the file in onnxruntime, read a PyTorch export.
import numpy as np
import onnxruntime as ort
import tessera as ts
import torch
from tessera import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        self.fc = nn.Linear(8 * 14 * 14, 10)

    def forward(self, x):
        h = nn.functional.max_pool2d(ts.relu(self.conv(x)), 2)
        return self.fc(h.flatten(1))


net = Net()
x = ts.randn(4, 1, 28, 28)
ts.onnx.export(net, (x,), "net.onnx", input_names=["images"], output_names=["logits"],
               dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}})  # torch.onnx.export's form

# onnxruntime runs the file; its logits match tessera's.
sess = ort.InferenceSession("net.onnx", providers=["CPUExecutionProvider"])
(logits,) = sess.run(None, {"images": x.numpy()})
print("onnxruntime vs tessera:", np.abs(logits - net.eval()(x).numpy()).max())

# A model exported by PyTorch, loaded into tessera: same outputs, and it trains.
tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3))
torch.onnx.export(tnet, (torch.randn(2, 4),), "torch_mlp.onnx", opset_version=17,
                  input_names=["x"], dynamic_axes={"x": {0: "batch"}})
model = ts.onnx.load("torch_mlp.onnx")
print("parameters:", [name for name, _ in model.named_parameters()])
xs = np.random.randn(5, 4).astype(np.float32)
print("PyTorch vs tessera:", np.abs(tnet(torch.from_numpy(xs)).detach().numpy() - model(ts.tensor(xs)).numpy()).max())
opt = ts.optim.SGD(model.parameters(), lr=0.1)
loss = model(ts.tensor(xs)).square().mean()
loss.backward()
opt.step()
print("one SGD step on the imported model, loss was", loss.item())
