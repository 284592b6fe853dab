"""Writes the ONNX files in this folder as users make them with other tools, each with an input
(NAME_in.npz) and onnxruntime's outputs on it (NAME_out.npz), so that tests compare tessera with
onnxruntime on files it did not write itself (issue 14, "models from the wild"):

  torch     a Silero-VAD-shaped speech model: the sample rate picks one of two LSTMs inside an
            ONNX If (PyTorch 2.x's TorchScript exporter on a scripted module)
  tf        tf2onnx from Keras: a CNN (batch norm, depthwise, swish) and an LSTM + GRU model
            (tf2onnx writes the GRU as a Loop)
  paddle    paddle2onnx: an OCR text detector (HardSigmoid/HardSwish, Resize nearest and
            bilinear, ConvTranspose) and a CRNN recognizer (bidirectional 2-layer LSTM)
  ort       onnxruntime's tools: a static quantization in its QOperator format (com.microsoft
            QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu, QLinearConcat,
            QLinearAveragePool, QLinearGlobalAveragePool, QLinearSoftmax, QGemm), a dynamic
            quantization saved after its graph optimizer (com.microsoft DynamicQuantizeMatMul,
            ConvInteger) and a float model saved after it (com.microsoft FusedConv)
  refs      onnxruntime's outputs for every file's input (run last, in tessera's .venv)

Each part runs in the virtual environment of its tool (see docs/onnx.md, "Files from other tools"):
    .peers/torch/bin/python  tests/data/onnx/wild/make_wild_files.py torch
    .peers/tf/bin/python     tests/data/onnx/wild/make_wild_files.py tf       # + pip install tf2onnx
    .peers/paddle/bin/python tests/data/onnx/wild/make_wild_files.py paddle   # paddlepaddle paddle2onnx packaging
    .venv/bin/python         tests/data/onnx/wild/make_wild_files.py ort refs # torch 1.13, onnxruntime
"""
import glob
import os
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))


def path(name, ext=".onnx"):
    return os.path.join(HERE, name + ext)


def save_input(name, **inputs):
    np.savez(path(name, "_in.npz"), **inputs)


def part_torch():
    import torch
    torch.manual_seed(0)

    class VAD(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv1d(1, 16, 5, stride=2)
            self.l8 = torch.nn.LSTM(16, 24, batch_first=True)
            self.l16 = torch.nn.LSTM(16, 24, batch_first=True)
            self.out = torch.nn.Linear(24, 1)

        def forward(self, x, sr, h, c):
            f = torch.relu(self.conv(x.unsqueeze(1))).transpose(1, 2)
            if int(sr) == 16000:
                y, (h2, c2) = self.l16(f, (h, c))
            else:
                y, (h2, c2) = self.l8(f, (h, c))
            return torch.sigmoid(self.out(y[:, -1])), h2, c2

    model = torch.jit.script(VAD().eval())
    x, h, c = torch.randn(2, 64), 0.1 * torch.randn(1, 2, 24), 0.1 * torch.randn(1, 2, 24)
    torch.onnx.export(model, (x, torch.tensor(16000), h, c), path("torch_vad_if_lstm"), opset_version=17,
                      dynamo=False, input_names=["x", "sr", "h", "c"], output_names=["p", "hn", "cn"])
    save_input("torch_vad_if_lstm", x=x.numpy(), sr=np.array(16000), h=h.numpy(), c=c.numpy())
    save_input("torch_vad_if_lstm_8k", x=x.numpy(), sr=np.array(8000), h=h.numpy(), c=c.numpy())


def part_tf():
    import tensorflow as tf
    import tf2onnx
    tf.random.set_seed(0)
    rng = np.random.default_rng(0)
    k = tf.keras
    inp = k.Input((16, 16, 3), name="image")
    x = k.layers.Conv2D(8, 3, padding="same")(inp)
    bn = k.layers.BatchNormalization()
    x = k.layers.ReLU()(bn(x))
    x = k.layers.DepthwiseConv2D(3, padding="same")(x)
    x = k.layers.MaxPooling2D()(x)
    x = k.layers.Conv2D(12, 3, strides=2, padding="same", activation="swish")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    cnn = k.Model(inp, k.layers.Dense(10, activation="softmax")(x))
    bn.set_weights([rng.uniform(0.5, 1.5, 8).astype("f"), rng.uniform(-0.5, 0.5, 8).astype("f"),
                    rng.uniform(-0.5, 0.5, 8).astype("f"), rng.uniform(0.5, 1.5, 8).astype("f")])
    spec = (tf.TensorSpec((None, 16, 16, 3), tf.float32, name="image"),)
    tf2onnx.convert.from_keras(cnn, input_signature=spec, opset=17, output_path=path("tf2onnx_cnn"))
    save_input("tf2onnx_cnn", image=rng.standard_normal((2, 16, 16, 3)).astype(np.float32))

    seq = k.Input((20, 8), name="seq")
    y = k.layers.GRU(12)(k.layers.LSTM(16, return_sequences=True)(seq))
    rnn = k.Model(seq, k.layers.Dense(3)(y))
    spec = (tf.TensorSpec((None, 20, 8), tf.float32, name="seq"),)
    tf2onnx.convert.from_keras(rnn, input_signature=spec, opset=15, output_path=path("tf2onnx_lstm_gru"))
    save_input("tf2onnx_lstm_gru", seq=rng.standard_normal((3, 20, 8)).astype(np.float32))


def part_paddle():
    import paddle
    import paddle.nn as nn
    import paddle.nn.functional as F
    import paddle2onnx
    paddle.seed(0)

    class Det(nn.Layer):  # a DB-style text detector: backbone, Resize in the FPN, ConvTranspose heads
        def __init__(self):
            super().__init__()
            self.c1, self.b1 = nn.Conv2D(3, 8, 3, stride=2, padding=1), nn.BatchNorm2D(8)
            self.c2, self.b2 = nn.Conv2D(8, 16, 3, stride=2, padding=1), nn.BatchNorm2D(16)
            self.se, self.lat = nn.Conv2D(16, 16, 1), nn.Conv2D(8, 16, 1)
            self.up1, self.b3 = nn.Conv2DTranspose(16, 8, 2, stride=2), nn.BatchNorm2D(8)
            self.up2 = nn.Conv2DTranspose(8, 1, 2, stride=2)

        def forward(self, x):
            a = F.relu(self.b1(self.c1(x)))
            b = F.hardswish(self.b2(self.c2(a)))
            b = b * F.hardsigmoid(self.se(F.adaptive_avg_pool2d(b, 1)))
            # (scale_factor= fails in paddle2onnx 2.1 with paddle 3.3: sizes instead)
            f = F.interpolate(b, size=[16, 16], mode="nearest") + self.lat(a)
            f = F.interpolate(f, size=[32, 32], mode="bilinear", align_corners=False)
            f = F.relu(self.b3(self.up1(F.avg_pool2d(f, 2))))
            return F.sigmoid(self.up2(f))

    class Rec(nn.Layer):  # a CRNN recognizer: convolutions, a bidirectional LSTM, per-step classes
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = nn.Conv2D(3, 8, 3, padding=1), nn.Conv2D(8, 16, 3, padding=1)
            self.rnn = nn.LSTM(16 * 2, 12, direction="bidirect", num_layers=2)
            self.fc = nn.Linear(24, 11)

        def forward(self, x):
            h = F.max_pool2d(F.relu(self.c1(x)), 2)
            h = F.max_pool2d(F.relu(self.c2(h)), (2, 1), stride=(2, 1))  # [N, 16, 2, W/2]
            h = h.reshape([h.shape[0], 16 * 2, -1]).transpose([0, 2, 1])
            y, _ = self.rnn(h)
            return F.softmax(self.fc(y), axis=-1)

    rng = np.random.default_rng(0)
    for name, net, shape in (("paddle_ocr_det", Det(), [3, 32, 32]), ("paddle_ocr_rec", Rec(), [3, 8, 32])):
        net.eval()
        for layer in net.sublayers():
            if isinstance(layer, nn.BatchNorm2D):
                layer._mean.set_value(paddle.rand(layer._mean.shape) * 0.2)
                layer._variance.set_value(paddle.rand(layer._variance.shape) + 0.5)
        prefix = os.path.join("/tmp", "paddle_" + name, "inference")
        paddle.jit.save(net, prefix, input_spec=[paddle.static.InputSpec([None] + shape, "float32", "x")])
        paddle2onnx.export(prefix + ".json", prefix + ".pdiparams", path(name), opset_version=13)
        save_input(name, x=rng.standard_normal([2] + shape).astype(np.float32))


def part_ort():
    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_dynamic, quantize_static
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c2 = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 5)

        def forward(self, x):
            a = torch.relu(self.c1(x))
            b = torch.nn.functional.leaky_relu(torch.sigmoid(self.c2(a)) * a + a, 0.1)
            c = torch.nn.functional.avg_pool2d(torch.cat([b, a], 1)[:, :8], 2)
            return torch.softmax(self.fc(torch.nn.functional.adaptive_avg_pool2d(c, 1).flatten(1)), -1)

    tmp = "/tmp/tessera_wild_float.onnx"
    torch.onnx.export(Net().eval(), torch.randn(2, 3, 8, 8), tmp, opset_version=13, input_names=["x"],
                      output_names=["y"], dynamic_axes={"x": {0: "batch"}})

    class Calibration(CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": rng.standard_normal((2, 3, 8, 8)).astype(np.float32)} for _ in range(8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(tmp, path("ort_quantized_qoperator"), Calibration(), quant_format=QuantFormat.QOperator)
    quantize_dynamic(tmp, "/tmp/tessera_wild_dynamic.onnx")
    for src, name in (("/tmp/tessera_wild_dynamic.onnx", "ort_dynamic_optimized"), (tmp, "ort_float_optimized")):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = path(name)
        ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((3, 3, 8, 8)).astype(np.float32)
    for name in ("ort_quantized_qoperator", "ort_dynamic_optimized", "ort_float_optimized"):
        save_input(name, x=x)
        print(name, sorted({(n.domain, n.op_type) for n in onnx.load(path(name)).graph.node if n.domain}))


def model_of(inputs_file):
    """The .onnx file an input belongs to (torch_vad_if_lstm_8k_in.npz runs torch_vad_if_lstm)."""
    name = os.path.basename(inputs_file)[:-len("_in.npz")]
    while not os.path.exists(path(name)):
        name = name.rsplit("_", 1)[0]
    return name


def part_refs():
    import onnxruntime as ort
    for inputs_file in sorted(glob.glob(os.path.join(HERE, "*_in.npz"))):
        feeds = dict(np.load(inputs_file))
        session = ort.InferenceSession(path(model_of(inputs_file)), providers=["CPUExecutionProvider"])
        outputs = session.run(None, feeds)
        np.savez(inputs_file[:-len("_in.npz")] + "_out.npz",
                 **{o.name: v for o, v in zip(session.get_outputs(), outputs)})
        print(os.path.basename(inputs_file), [v.shape for v in outputs])


if __name__ == "__main__":
    for part in sys.argv[1:] or ["refs"]:
        globals()["part_" + part]()
