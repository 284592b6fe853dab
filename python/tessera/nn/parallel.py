"""torch.nn.parallel's names: DataParallel and DistributedDataParallel.

DataParallel runs its module on the one device there is: without a GPU, or with one, PyTorch's
DataParallel does the same (it only splits batches across two or more GPUs). With two or more
GPUs tessera refuses it and points to DistributedDataParallel, which PyTorch recommends too.
"""
from . import Module


class DataParallel(Module):
    """Wraps module so that ported code keeps working (state dict keys get the `module.` prefix, as
    in PyTorch); forward calls the module."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        from .. import cuda
        devices = cuda.device_count() if cuda.is_available() else 0
        used = len(device_ids) if device_ids is not None else devices
        if used >= 2:
            raise ValueError(f"DataParallel: splitting batches across {used} GPUs in one process is not supported; "
                             "use tessera.distributed's DistributedDataParallel with one process per GPU "
                             "(tessera run --nproc-per-node N), as PyTorch recommends")
        self.module = module
        self.device_ids, self.output_device, self.dim = device_ids, output_device, dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def __getattr__(name):
    if name == "DistributedDataParallel":
        from ..distributed import DistributedDataParallel
        return DistributedDataParallel
    raise AttributeError(f"module 'tessera.nn.parallel' has no attribute '{name}'")
