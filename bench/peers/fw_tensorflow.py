"""TensorFlow 2.x with Keras 3: the training step as a tf.function, and once more compiled by XLA.
Images in NHWC, the layout TensorFlow's CPU kernels (oneDNN) prefer."""
import tensorflow as tf

import workloads as W

NAME = "TensorFlow"


def setup(threads):
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def version():
    return tf.__version__


def variants(workload):
    return ["tf.function", "xla"] if W.spec(workload)["kind"] == "train" else []


def _model(name):
    import keras
    L = keras.layers
    if name == "cnn_train":
        return keras.Sequential([
            keras.Input((32, 32, 3)),
            L.Conv2D(50, 3, padding="same", activation="relu"), L.Conv2D(50, 3, padding="same"),
            L.MaxPooling2D(2), L.ReLU(), L.Dropout(0.25),
            L.Conv2D(100, 3, padding="same", activation="relu"), L.Conv2D(100, 3, padding="same"),
            L.MaxPooling2D(2), L.ReLU(), L.Dropout(0.25),
            L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5), L.Dense(10)])
    return keras.Sequential([keras.Input((W.GRU_LEN,), dtype="int64"), L.Embedding(W.GRU_VOCAB, W.GRU_EMBED),
                             L.GRU(W.GRU_HIDDEN), L.Dense(2)])


def make(workload, variant, data, weights, data_dir):
    import keras
    tf.random.set_seed(0)
    model = _model(workload)
    if workload == "cnn_train":
        opt = keras.optimizers.SGD(0.01, momentum=0.9)
        x = tf.constant(data["x"].transpose(0, 2, 3, 1))
    else:
        opt = keras.optimizers.Adam(1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-8)
        x = tf.constant(data["x"])
    y = tf.constant(data["y"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt.build(model.trainable_variables)

    @tf.function(jit_compile=variant == "xla")
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return lambda: float(step())
