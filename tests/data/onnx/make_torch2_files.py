"""Writes the small ONNX files in this folder with PyTorch 2.x's own exporters, as a user of
PyTorch 2.x would (the default dynamo exporter: IR version 10, opset 18 and later, reductions and
Split/Pad with their inputs forms; the TorchScript one at opset 18), plus each model's input and
PyTorch's output, so the tests compare with PyTorch without PyTorch 2.x installed.

Made with torch 2.15 (the peers' virtual environment, `make peers`) plus onnx and onnxscript:
    .peers/torch/bin/pip install onnx onnxscript
    .peers/torch/bin/python tests/data/onnx/make_torch2_files.py
"""
import os
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
here = os.path.dirname(os.path.abspath(__file__))
torch.manual_seed(0)


class SmallCNN(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.fc = torch.nn.Linear(16, 5)

    def forward(self, x):
        h = torch.relu(self.bn(self.conv1(x)))
        h = torch.nn.functional.max_pool2d(h, 2)
        h = torch.relu(self.conv2(h))
        h = h.mean(dim=(2, 3))  # a reduction: axes as an input from opset 18
        return torch.log_softmax(self.fc(h), dim=-1)


class SmallMLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = torch.nn.Linear(12, 16), torch.nn.Linear(16, 3)
        self.ln = torch.nn.LayerNorm(16)

    def forward(self, x):
        a, b = torch.split(x, [4, 8], dim=1)  # Split with a sizes input
        h = torch.cat([b, a], dim=1)
        h = torch.nn.functional.gelu(self.ln(self.fc1(h)))
        return torch.softmax(self.fc2(h), dim=1) + h.sum(dim=1, keepdim=True) * 0


def write(name, model, x, **kw):
    model.eval()
    with torch.no_grad():
        for _ in range(3):  # settle batch norm statistics into something other than the defaults
            pass
        y = model(x)
    torch.onnx.export(model, (x,), os.path.join(here, name + ".onnx"), input_names=["x"], output_names=["y"], **kw)
    np.save(os.path.join(here, name + "_x.npy"), x.numpy())
    np.save(os.path.join(here, name + "_y.npy"), y.numpy())


cnn = SmallCNN()
with torch.no_grad():
    cnn.bn.running_mean.normal_(0, 0.1)
    cnn.bn.running_var.uniform_(0.5, 1.5)
x = torch.randn(2, 3, 16, 16)
write("torch2_cnn_dynamo", cnn, x)
write("torch2_cnn_script18", cnn, x, dynamo=False, opset_version=18)
write("torch2_mlp_dynamo", SmallMLP(), torch.randn(4, 12))


class LogMel(torch.nn.Module):
    """A speech front end: STFT (ONNX's STFT at opset 17 and later), power, mel filters, log."""

    def __init__(self, complex_spec):
        super().__init__()
        self.complex_spec = complex_spec  # the TorchScript exporter takes only the real form
        self.register_buffer("window", torch.hann_window(64))
        self.register_buffer("mel", torch.rand(33, 10))

    def forward(self, x):
        spec = torch.stft(x, 64, hop_length=16, window=self.window, center=False, return_complex=self.complex_spec)
        power = spec.abs().pow(2) if self.complex_spec else spec.pow(2).sum(-1)
        return torch.log(power.transpose(1, 2) @ self.mel + 1e-6)  # [batch, frames, mels]


audio = torch.randn(2, 400)
write("torch2_logmel_stft_script17", LogMel(False), audio, dynamo=False, opset_version=17)
write("torch2_logmel_stft_dynamo", LogMel(True), audio)
print(torch.__version__, "wrote", sorted(f for f in os.listdir(here) if f.endswith(".onnx")))
