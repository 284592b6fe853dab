"""ONNX graphs of the inference models, built node by node from the same weights (their PyTorch
names) with the onnx package, for onnxruntime and OpenVINO. Written independently of tessera's
exporter, so the peers run a graph no part of tessera made."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import workloads as W

OPSET = 17


class Graph:
    def __init__(self, weights):
        self.w, self.nodes, self.inits, self.names, self.n = weights, [], [], set(), 0

    def init(self, name, array=None):
        if name not in self.names:
            self.names.add(name)
            self.inits.append(numpy_helper.from_array(np.ascontiguousarray(self.w[name] if array is None else array), name))
        return name

    def node(self, op, inputs, **attrs):
        self.n += 1
        out = f"{op.lower()}_{self.n}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv(self, x, weight, stride=1, pad=0, groups=1, bias=None):
        k = self.w[weight].shape[2:]
        ins = [x, self.init(weight)] + ([self.init(bias)] if bias else [])
        return self.node("Conv", ins, kernel_shape=list(k), strides=[stride] * len(k), pads=[pad] * (2 * len(k)),
                         group=groups)

    def bn(self, x, prefix):
        ins = [x] + [self.init(f"{prefix}.{p}") for p in ("weight", "bias", "running_mean", "running_var")]
        return self.node("BatchNormalization", ins, epsilon=1e-5)

    def relu(self, x):
        return self.node("Relu", [x])

    def relu6(self, x):
        return self.node("Clip", [x, self.init("__zero", np.array(0, np.float32)), self.init("__six", np.array(6, np.float32))])

    def fc(self, x, prefix):
        return self.node("Gemm", [x, self.init(prefix + ".weight"), self.init(prefix + ".bias")], transB=1)

    def head(self, x, prefix):
        return self.fc(self.node("Flatten", [self.node("GlobalAveragePool", [x])]), prefix)

    def model(self, x_shape, y_shape):
        self.nodes[-1].output[0] = "output"
        g = helper.make_graph(self.nodes, "bench", [helper.make_tensor_value_info("input", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, y_shape)], self.inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tessera-bench")
        onnx.checker.check_model(m)
        return m


def resnet50(weights, batch):
    g = Graph(weights)
    x = g.relu(g.bn(g.conv("input", "conv1.weight", 2, 3), "bn1"))
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    for li, (blocks, stride) in enumerate([(3, 1), (4, 2), (6, 2), (3, 2)], start=1):
        for b in range(blocks):
            p, s = f"layer{li}.{b}", stride if b == 0 else 1
            y = g.relu(g.bn(g.conv(x, p + ".conv1.weight"), p + ".bn1"))
            y = g.relu(g.bn(g.conv(y, p + ".conv2.weight", s, 1), p + ".bn2"))
            y = g.bn(g.conv(y, p + ".conv3.weight"), p + ".bn3")
            identity = g.bn(g.conv(x, p + ".downsample.0.weight", s), p + ".downsample.1") if b == 0 else x
            x = g.relu(g.node("Add", [y, identity]))
    g.head(x, "fc")
    return g.model([batch, 3, 224, 224], [batch, 1000])


def mobilenet(weights, batch):
    g = Graph(weights)
    x = g.relu6(g.bn(g.conv("input", "stem.weight", 2, 1), "stem_bn"))
    for i, (cin, _, stride) in enumerate(W.MOBILENET_BLOCKS):
        x = g.relu6(g.bn(g.conv(x, f"blocks.{i}.dw.weight", stride, 1, groups=cin), f"blocks.{i}.dw_bn"))
        x = g.relu6(g.bn(g.conv(x, f"blocks.{i}.pw.weight"), f"blocks.{i}.pw_bn"))
    g.head(x, "fc")
    return g.model([batch, 3, 96, 96], [batch, 10])


def kws(weights, batch):
    g = Graph(weights)
    h = W.KWS_HIDDEN

    def onnx_gates(a):  # PyTorch's gate blocks (i, f, g, o) in ONNX's order (i, o, f, c)
        i, f, c, o = np.split(a, 4, axis=0)
        return np.concatenate([i, o, f, c], axis=0)

    x = g.node("Transpose", ["input"], perm=[0, 2, 1])  # [batch, features, frames] for Conv
    # [frames, batch, channels]: the LSTM's default layout (onnxruntime has no batch-first LSTM)
    x = g.node("Transpose", [g.relu(g.conv(x, "conv.weight", 1, 1, bias="conv.bias"))], perm=[2, 0, 1])
    wi = g.init("lstm.W", onnx_gates(weights["lstm.weight_ih_l0"])[None])
    wh = g.init("lstm.R", onnx_gates(weights["lstm.weight_hh_l0"])[None])
    b = g.init("lstm.B", np.concatenate([onnx_gates(weights["lstm.bias_ih_l0"]),
                                        onnx_gates(weights["lstm.bias_hh_l0"])])[None])
    g.n += 1
    g.nodes.append(helper.make_node("LSTM", [x, wi, wh, b], ["lstm_y", "lstm_h"], hidden_size=h))
    last = g.node("Reshape", ["lstm_h", g.init("__shape", np.array([batch, h], np.int64))])
    g.fc(last, "fc")
    return g.model([batch, W.KWS_FRAMES, W.KWS_FEATURES], [batch, W.KWS_CLASSES])


BUILDERS = {"resnet50": resnet50, "mobilenet": mobilenet, "kws": kws}


def path_for(data_dir, workload, weights, tag):
    """The ONNX file of a workload's model (written on first use; tag keeps workers apart)."""
    s = W.spec(workload)
    path = os.path.join(data_dir, f"{workload}.{tag}.onnx")
    if not os.path.exists(path):
        m = BUILDERS[s["model"]](weights, s["batch"])
        tmp = path + ".tmp"
        onnx.save(m, tmp)
        os.replace(tmp, path)
    return path
