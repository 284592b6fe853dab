"""JAX: the training step written with jax.numpy and lax (no extra libraries), jit-compiled.
Images in NHWC; PyTorch's update rules (SGD momentum: v = 0.9 v + g, p -= lr v; Adam)."""
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

import workloads as W

NAME = "JAX"


def setup(threads):
    pass  # XLA_FLAGS (set by the worker before the import) hold the threads


def version():
    return jax.__version__


def variants(workload):
    return ["jit"] if W.spec(workload)["kind"] == "train" else []


def _glorot(rng, shape, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return jnp.asarray(rng.uniform(-lim, lim, shape).astype(np.float32))


def _cnn(rng):
    p = {}
    for name, (i, o) in {"c1": (3, 50), "c2": (50, 50), "c3": (50, 100), "c4": (100, 100)}.items():
        p[name] = _glorot(rng, (3, 3, i, o), 9 * i, 9 * o), jnp.zeros(o)
    p["f1"] = _glorot(rng, (6400, 512), 6400, 512), jnp.zeros(512)
    p["f2"] = _glorot(rng, (512, 10), 512, 10), jnp.zeros(10)

    def conv(x, wb):
        return lax.conv_general_dilated(x, wb[0], (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")) + wb[1]

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")

    def drop(x, rate, key):
        return jnp.where(jax.random.bernoulli(key, 1 - rate, x.shape), x / (1 - rate), 0)

    def forward(p, x, key):
        k = jax.random.split(key, 3)
        x = jax.nn.relu(conv(x, p["c1"]))
        x = drop(jax.nn.relu(pool(conv(x, p["c2"]))), 0.25, k[0])
        x = jax.nn.relu(conv(x, p["c3"]))
        x = drop(jax.nn.relu(pool(conv(x, p["c4"]))), 0.25, k[1])
        x = drop(jax.nn.relu(x.reshape(x.shape[0], -1) @ p["f1"][0] + p["f1"][1]), 0.5, k[2])
        return x @ p["f2"][0] + p["f2"][1]
    return p, forward


def _gru(rng):
    h, e = W.GRU_HIDDEN, W.GRU_EMBED
    s = 1 / np.sqrt(h)
    u = lambda *shape: jnp.asarray(rng.uniform(-s, s, shape).astype(np.float32))  # noqa: E731
    p = {"emb": jnp.asarray(rng.standard_normal((W.GRU_VOCAB, e)).astype(np.float32)),
         "wi": u(e, 3 * h), "wh": u(h, 3 * h), "bi": u(3 * h), "bh": u(3 * h), "fw": u(h, 2), "fb": u(2)}

    def forward(p, x, key):
        xs = p["emb"][x] @ p["wi"] + p["bi"]  # [batch, time, 3h], PyTorch's gate order (r, z, n)

        def cell(hprev, xt):
            hh = hprev @ p["wh"] + p["bh"]
            r = jax.nn.sigmoid(xt[:, :h] + hh[:, :h])
            z = jax.nn.sigmoid(xt[:, h:2 * h] + hh[:, h:2 * h])
            n = jnp.tanh(xt[:, 2 * h:] + r * hh[:, 2 * h:])
            hnew = (1 - z) * n + z * hprev
            return hnew, None
        hlast, _ = lax.scan(cell, jnp.zeros((x.shape[0], h)), jnp.swapaxes(xs, 0, 1))
        return hlast @ p["fw"] + p["fb"]
    return p, forward


def make(workload, variant, data, weights, data_dir):
    rng = np.random.default_rng(0)
    params, forward = (_cnn if workload == "cnn_train" else _gru)(rng)
    x = jnp.asarray(data["x"].transpose(0, 2, 3, 1) if workload == "cnn_train" else data["x"])
    y = jnp.asarray(data["y"])

    def loss_fn(p, key):
        logits = forward(p, x, key)
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))

    if workload == "cnn_train":
        state = jax.tree_util.tree_map(jnp.zeros_like, params)

        @jax.jit
        def step(p, v, key, t):
            loss, g = jax.value_and_grad(loss_fn)(p, key)
            v = jax.tree_util.tree_map(lambda v_, g_: 0.9 * v_ + g_, v, g)
            return jax.tree_util.tree_map(lambda p_, v_: p_ - 0.01 * v_, p, v), v, loss
    else:
        state = (jax.tree_util.tree_map(jnp.zeros_like, params), jax.tree_util.tree_map(jnp.zeros_like, params))

        @jax.jit
        def step(p, mv, key, t):
            loss, g = jax.value_and_grad(loss_fn)(p, key)
            m = jax.tree_util.tree_map(lambda m_, g_: 0.9 * m_ + 0.1 * g_, mv[0], g)
            v = jax.tree_util.tree_map(lambda v_, g_: 0.999 * v_ + 0.001 * g_ * g_, mv[1], g)
            c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
            p = jax.tree_util.tree_map(lambda p_, m_, v_: p_ - 1e-3 * (m_ / c1) / (jnp.sqrt(v_ / c2) + 1e-8), p, m, v)
            return p, (m, v), loss

    box = {"p": params, "s": state, "key": jax.random.PRNGKey(0), "t": 0}

    def run():
        box["key"], sub = jax.random.split(box["key"])
        box["t"] += 1
        box["p"], box["s"], loss = step(box["p"], box["s"], sub, float(box["t"]))
        return float(loss)
    return run
