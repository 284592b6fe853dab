"""tessera.distributed.optim: ZeroRedundancyOptimizer, as torch.distributed.optim's (ZeRO stage 1)."""
from .. import _tessera

_D = _tessera._dist


class ZeroRedundancyOptimizer:
    """Shards optimizer_class's state over the ranks: each rank builds optimizer_class over about
    1/N of params (by size) with **defaults and updates only those; after each step every
    parameter is broadcast from its owner, so the result is the unsharded optimizer's. Gradients
    must already agree across ranks (DistributedDataParallel). state_dict() needs
    consolidate_state_dict() first (a collective: every rank calls it; then every rank holds it)."""

    def __init__(self, params, optimizer_class, **defaults):
        self._params = list(params)
        if not self._params:
            raise ValueError("ZeroRedundancyOptimizer: no parameters")
        self._z = _D.ZeroRedundancyOptimizer(self._params, lambda p: optimizer_class(p, **defaults))

    def step(self, closure=None):
        """Updates this rank's parameters, then broadcasts every parameter from its owner."""
        loss = None
        if closure is not None:
            from .. import enable_grad
            with enable_grad():
                loss = closure()
        self._z.step()
        return loss

    def zero_grad(self, set_to_none=True):
        """Clears every parameter's gradient (to None by default)."""
        self._z.zero_grad(set_to_none)

    @property
    def optim(self):
        """This rank's optimizer over the parameters it owns (None when it owns none)."""
        return self._z.local

    def owner(self, index):
        """The rank that owns parameter `index` (in the order given)."""
        return self._z.owner(index)

    def consolidate_state_dict(self, to=0):
        """Gathers every rank's shard (every rank calls it, and every rank holds the result; `to`
        is accepted as in PyTorch)."""
        self._z.consolidate_state_dict()

    def state_dict(self):
        """The unsharded optimizer's state_dict (after consolidate_state_dict)."""
        return self._z.state_dict(len(self._params))

    def load_state_dict(self, state_dict):
        """A full state_dict (an unsharded optimizer's, or this one's): each rank takes its shard."""
        self._z.load_state_dict(state_dict)
