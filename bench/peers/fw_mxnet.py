"""MXNet 1.9 Gluon, hybridized (static allocation), NCHW with its oneDNN (MKL-DNN) kernels."""
import mxnet as mx
from mxnet import autograd, gluon

import workloads as W

NAME = "MXNet"


def setup(threads):
    pass  # OMP_NUM_THREADS, set by the worker before the import, holds the threads


def version():
    return mx.__version__


def variants(workload):
    return ["hybridized"] if W.spec(workload)["kind"] == "train" else []


def _net(workload):
    nn = gluon.nn
    net = nn.HybridSequential()
    if workload == "cnn_train":
        net.add(nn.Conv2D(50, 3, padding=1, activation="relu"), nn.Conv2D(50, 3, padding=1), nn.MaxPool2D(2),
                nn.Activation("relu"), nn.Dropout(0.25),
                nn.Conv2D(100, 3, padding=1, activation="relu"), nn.Conv2D(100, 3, padding=1), nn.MaxPool2D(2),
                nn.Activation("relu"), nn.Dropout(0.25),
                nn.Flatten(), nn.Dense(512, activation="relu"), nn.Dropout(0.5), nn.Dense(10))
        return net

    class Sentiment(gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(W.GRU_VOCAB, W.GRU_EMBED)
            self.gru = gluon.rnn.GRU(W.GRU_HIDDEN, layout="NTC", input_size=W.GRU_EMBED)
            self.fc = nn.Dense(2)

        def hybrid_forward(self, F, x):
            out = self.gru(self.emb(x))
            return self.fc(F.squeeze(F.slice_axis(out, axis=1, begin=-1, end=None), axis=1))
    return Sentiment()


def make(workload, variant, data, weights, data_dir):
    mx.random.seed(0)
    net = _net(workload)
    net.initialize(mx.init.Xavier())
    net.hybridize(static_alloc=True, static_shape=True)
    x, y = mx.nd.array(data["x"]), mx.nd.array(data["y"])
    if workload == "cnn_train":
        trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.01, "momentum": 0.9})
    else:
        trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                                                "epsilon": 1e-8})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    batch = data["x"].shape[0]

    def step():
        with autograd.record():
            loss = loss_fn(net(x), y)
        loss.backward()
        trainer.step(batch)
        return float(loss.mean().asscalar())
    return step
