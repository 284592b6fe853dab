"""TensorBoard logs, with torch.utils.tensorboard's SummaryWriter interface:

    from tessera.utils.tensorboard import SummaryWriter
    with SummaryWriter("runs/exp1") as w:
        for step in range(100):
            w.add_scalar("loss/train", loss, step)
        w.add_histogram("fc.weight", model.fc.weight, step)

then `tensorboard --logdir runs`. The event files are written by tessera's C++ writer; values
may be tessera tensors, numpy arrays or Python numbers.
"""
import numbers as _numbers

import numpy as _np

from .. import _tessera
from .._tessera import Tensor as _Tensor

_W = _tessera._tensorboard.SummaryWriter


def _tensor(what, values):
    if isinstance(values, _Tensor):
        return values
    from .. import tensor
    a = _np.asarray(values)
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"{what}: expected a tessera.Tensor, a numpy array or numbers, got {type(values).__name__}")
    return tensor(a)


def _step(what, global_step):
    if global_step is None:
        return 0
    if isinstance(global_step, bool) or not isinstance(global_step, (_numbers.Integral, _Tensor)):
        raise TypeError(f"{what}: global_step must be an int, got {type(global_step).__name__}")
    return int(global_step)


def _number(what, value):
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f"{what}: expected a number or a one-element tensor, got {type(value).__name__} ({e})") \
            from None


class SummaryWriter:
    """Writes TensorBoard event files into log_dir (default runs/<date>_<host><comment>), as
    torch.utils.tensorboard.SummaryWriter: add_scalar, add_scalars, add_histogram, add_image,
    add_images, add_text, add_graph, flush, close; usable as a context manager. purge_step: a restarted run
    at that step; TensorBoard drops the earlier files' events from there on."""

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        self._w = _W(log_dir or "", comment, purge_step, max_queue, float(flush_secs), filename_suffix)

    def get_logdir(self):
        """The folder the event file is written into."""
        return self._w.log_dir

    @property
    def log_dir(self):
        """The folder the event file is written into."""
        return self._w.log_dir

    @property
    def file_path(self):
        """The event file's path."""
        return self._w.file_path

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None):
        """Records scalar_value (a number or one-element tensor) under tag at global_step."""
        what = f"add_scalar '{tag}'"
        self._w.add_scalar(tag, _number(what, scalar_value), _step(what, global_step), walltime)

    def add_scalars(self, main_tag, tag_scalar_dict, global_step=None, walltime=None):
        """Several scalars in one chart: each key gets its own run, log_dir/<main_tag>_<key>."""
        what = f"add_scalars '{main_tag}'"
        values = {str(k): _number(what, v) for k, v in tag_scalar_dict.items()}
        self._w.add_scalars(main_tag, values, _step(what, global_step), walltime)

    def add_histogram(self, tag, values, global_step=None, bins="tensorflow", walltime=None):
        """A histogram of values; bins 'tensorflow' (exponential buckets, PyTorch's default) or a
        number of equal-width buckets."""
        what = f"add_histogram '{tag}'"
        if isinstance(bins, str):
            if bins != "tensorflow":
                raise ValueError(f"{what}: bins is 'tensorflow' or a number of buckets, not '{bins}'")
            nbins = 0
        elif isinstance(bins, _numbers.Integral) and not isinstance(bins, bool) and bins > 0:
            nbins = int(bins)
        else:
            raise ValueError(f"{what}: bins is 'tensorflow' or a positive number of buckets, not {bins!r}")
        self._w.add_histogram(tag, _tensor(what, values), _step(what, global_step), nbins, walltime)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        """An image: CHW (default), HWC or HW; floats in [0, 1] or uint8; 1, 3 or 4 channels."""
        what = f"add_image '{tag}'"
        self._w.add_image(tag, _tensor(what, img_tensor), _step(what, global_step), dataformats, walltime)

    def add_images(self, tag, img_tensor, global_step=None, walltime=None, dataformats="NCHW"):
        """A batch of images (NCHW or NHWC) tiled into one image, eight to a row."""
        what = f"add_images '{tag}'"
        self._w.add_images(tag, _tensor(what, img_tensor), _step(what, global_step), dataformats, walltime)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        """Text (rendered as markdown by TensorBoard) under tag at global_step."""
        what = f"add_text '{tag}'"
        if not isinstance(text_string, str):
            raise TypeError(f"{what}: expected a str, got {type(text_string).__name__}")
        self._w.add_text(tag, text_string, _step(what, global_step), walltime)

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        """The model's graph for TensorBoard's Graphs tab. tessera runs model on input_to_model (a
        tensor or a tuple of them) in eval mode with autograd on, then restores the mode, and
        writes the ops autograd recorded: parameters under their module's scope, tensor shapes
        on the edges. (verbose and use_strict_trace are accepted for PyTorch's signature.)"""
        if input_to_model is None:
            raise ValueError("add_graph: tessera draws the graph by running the model; pass input_to_model, an "
                             "example input")
        from .. import enable_grad
        raw = input_to_model if isinstance(input_to_model, (tuple, list)) else (input_to_model,)
        inputs = [_tensor("add_graph", x).detach().requires_grad_(True) for x in raw]
        was_training = model.training
        model.eval()
        try:
            with enable_grad():
                out = model(*inputs)
        finally:
            model.train(was_training)
        outs = []

        def collect(o):  # tensors in nested tuples and lists (an LSTM's (out, (h, c)))
            if isinstance(o, _Tensor):
                outs.append(o)
            elif isinstance(o, (tuple, list)):
                for item in o:
                    collect(item)

        collect(out)
        names = ["input"] if len(inputs) == 1 else [f"input_{i}" for i in range(len(inputs))]
        self._w.add_graph(outs, list(model.named_parameters()), list(zip(names, inputs)))

    def flush(self):
        """Writes pending events to disk."""
        self._w.flush()

    def close(self):
        """Flushes and closes the event files; adding afterwards raises."""
        self._w.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
