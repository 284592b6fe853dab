"""Ops written in Python on the C++ ops (so autograd flows through them): remainder and
floor_divide (Python's % and //), and einsum."""
import builtins
import string

from . import _tessera as _C
from ._tessera import Tensor


def _pair(a, b):
    """Both operands as tensors (a number takes the dtype promotion gives it beside the other)."""
    if not isinstance(a, Tensor):
        a = _C._full([], a, _C.result_type(b, a), str(b.device))
    if not isinstance(b, Tensor):
        b = _C._full([], b, _C.result_type(a, b), str(a.device))
    return a, b


def remainder(input, other):
    """Python's %: the remainder with the sign of the divisor (torch.remainder)."""
    a, b = _pair(input, other)
    r = _C.fmod(a, b)
    fix = (r != 0).logical_and((r < 0).logical_xor(b < 0))
    return _C.where(fix, r + b, r)


def floor_divide(input, other):
    """Python's //: the quotient rounded down (torch.floor_divide)."""
    a, b = _pair(input, other)
    if a.is_floating_point() or b.is_floating_point():
        return (a / b).floor()
    q = (a - remainder(a, b)) / b  # exact: the numerator is a multiple of b
    return q.round().to(_C.result_type(a, b))


# --- einsum ---------------------------------------------------------------------------------------
def _parse(equation, operands):
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(operands):
        raise ValueError(f"einsum: the equation has {len(terms)} operands, {len(operands)} tensors were given")
    used = set(c for c in eq if c.isalpha())
    free = [c for c in string.ascii_letters if c not in used]
    ell = None  # the letters '...' stands for (the most dims any operand gives it)
    out_terms = []
    for term, op in zip(terms, operands):
        if not builtins.all(c.isalpha() or c == "." for c in term):
            raise ValueError(f"einsum: invalid subscript '{term}' (letters and '...' only)")
        if "..." in term:
            n = op.dim() - (len(term) - 3)
            if n < 0:
                raise ValueError(f"einsum: operand with shape {op.shape} has fewer dims than '{term}' names")
            if ell is None or n > len(ell):
                ell = "".join(free[:n])
        elif len(term) != op.dim():
            raise ValueError(f"einsum: subscript '{term}' names {len(term)} dims, the operand has shape {op.shape}")
    ell = ell or ""
    for term, op in zip(terms, operands):
        if "..." in term:
            n = op.dim() - (len(term) - 3)
            term = term.replace("...", ell[len(ell) - n:])
        out_terms.append(term)
    if arrow:
        out = rhs.replace("...", ell)
    else:  # implicit output: '...' first, then the letters that appear once, sorted
        counts = {}
        for t in out_terms:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, k in counts.items() if k == 1 and c not in ell))
    for c in out:
        if not builtins.any(c in t for t in out_terms):
            raise ValueError(f"einsum: output subscript '{c}' does not appear in the inputs")
    if len(set(out)) != len(out):
        raise ValueError(f"einsum: output subscript '{out}' repeats a letter")
    return out_terms, out


def _diagonal(op, term):
    """Takes the diagonal over repeated letters in one operand (ii -> i)."""
    while len(set(term)) != len(term):
        c = next(ch for ch in term if term.count(ch) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        n = op.shape[i]
        if op.shape[j] != n:
            raise ValueError(f"einsum: subscript '{c}' has sizes {n} and {op.shape[j]} in one operand")
        eye = _C._eye(n, None, op.dtype if op.is_floating_point() else _C.float32, str(op.device)).to(op.dtype)
        shape = [1] * op.dim()
        shape[i], shape[j] = n, n
        op = (op * eye.reshape(shape)).sum(j)
        term = term[:j] + term[j + 1:]
    return op, term


def _sum_out(op, term, keep):
    """Sums the letters of term not in keep."""
    dims = [k for k, c in enumerate(term) if c not in keep]
    if dims:
        op = op.sum(dims)
        term = "".join(c for c in term if c in keep)
    return op, term


def _contract(a, ta, b, tb, keep):
    """a (letters ta) times b (letters tb), summed over the shared letters not in keep, as one
    batched matmul; returns the result and its letters."""
    batch = [c for c in ta if c in tb and c in keep]
    inner = [c for c in ta if c in tb and c not in keep]
    left = [c for c in ta if c not in tb]
    right = [c for c in tb if c not in ta]
    size = {}
    for t, op in ((ta, a), (tb, b)):
        for c, n in zip(t, op.shape):
            if c in size and size[c] != n and n != 1 and size[c] != 1:
                raise ValueError(f"einsum: subscript '{c}' has sizes {size[c]} and {n}")
            size[c] = builtins.max(size.get(c, 1), n)
    a = a.permute([ta.index(c) for c in batch + left + inner]) if ta else a
    b = b.permute([tb.index(c) for c in batch + inner + right]) if tb else b
    a = a.expand([size[c] for c in batch + left + inner]) if ta else a
    b = b.expand([size[c] for c in batch + inner + right]) if tb else b

    def prod(cs):
        p = 1
        for c in cs:
            p *= size[c]
        return p

    nb, nl, nk, nr = prod(batch), prod(left), prod(inner), prod(right)
    out = _C.matmul(a.reshape(nb, nl, nk), b.reshape(nb, nk, nr))
    return out.reshape([size[c] for c in batch + left + right]), "".join(batch + left + right)


def einsum(equation, *operands):
    """Einstein summation (torch.einsum): 'ij,jk->ik', batch dims, '...', implicit outputs,
    diagonals ('ii->i'), any number of operands (contracted left to right as batched matmuls)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum: at least one operand is needed")
    terms, out = _parse(equation, operands)
    ops = []
    for op, t in zip(operands, terms):
        op, t = _diagonal(op, t)
        ops.append((op, t))
    # Letters needed after step k: the output's and those of the operands still to come.
    acc, ta = ops[0]
    for k in range(1, len(ops) + 1):
        later = set(out)
        for _, t in ops[k + 1:]:
            later |= set(t)
        if k == len(ops):
            acc, ta = _sum_out(acc, ta, later)
            break
        b, tb = ops[k]
        keep = later | set(c for c in ta if c not in tb) | set(c for c in tb if c not in ta)
        acc, ta = _sum_out(acc, ta, later | set(tb))
        b, tb = _sum_out(b, tb, later | set(ta))
        acc, ta = _contract(acc, ta, b, tb, keep)
    return acc.permute([ta.index(c) for c in out]) if out else acc.reshape([])


# --- elementwise functions composed of the C++ ones (autograd flows through them) ------------------
_LN2, _LN10 = 0.6931471805599453, 2.302585092994046


def tan(input):
    """Tangent elementwise."""
    return input.sin() / input.cos()


def atan(input):
    """Arctangent elementwise."""
    return _C.atan2(input, 1.0)


def asin(input):
    """Arcsine elementwise (NaN outside [-1, 1])."""
    return _C.atan2(input, (1 - input * input).sqrt())


def acos(input):
    """Arccosine elementwise (NaN outside [-1, 1])."""
    return _C.atan2((1 - input * input).sqrt(), input)


def sinh(input):
    """Hyperbolic sine elementwise."""
    return (input.expm1() - (-input).expm1()) * 0.5


def cosh(input):
    """Hyperbolic cosine elementwise."""
    return (input.exp() + (-input).exp()) * 0.5


def log2(input):
    """Base-2 logarithm elementwise."""
    return input.log() / _LN2


def log10(input):
    """Base-10 logarithm elementwise."""
    return input.log() / _LN10


def exp2(input):
    """2 ** x elementwise."""
    return (input * _LN2).exp()


def lerp(input, end, weight):
    """input + weight * (end - input)."""
    return input + (end - input) * weight


def outer(input, vec2):
    """The outer product of two 1-D tensors."""
    if input.dim() != 1 or vec2.dim() != 1:
        raise ValueError(f"outer: expected two 1-D tensors, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)


def diag(input, diagonal=0):
    """A 1-D tensor placed on a diagonal of a square matrix (above the main one for diagonal > 0),
    or a 2-D tensor's diagonal as a 1-D tensor (torch.diag)."""
    d = diagonal
    if input.dim() == 1:
        k = input.shape[0]
        eye = _C._eye(k, None, input.dtype if input.is_floating_point() else _C.float32, str(input.device)).to(input.dtype)
        square = eye * input.unsqueeze(0)  # v on the main diagonal
        a = builtins.abs(d)
        # (before, after) pairs from the last dim: columns, then rows
        return _C.pad(square, [a, 0, 0, a] if d >= 0 else [0, a, a, 0])
    if input.dim() == 2:
        rows, cols = input.shape
        m = input.narrow(1, d, builtins.max(cols - d, 0)) if d >= 0 else input.narrow(0, -d, builtins.max(rows + d, 0))
        k = builtins.min(m.shape[0], m.shape[1])
        return einsum("ii->i", m.narrow(0, 0, k).narrow(1, 0, k))
    raise ValueError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(input.shape)}")


def trace(input):
    """The sum of a 2-D tensor's main diagonal."""
    if input.dim() != 2:
        raise ValueError(f"trace: expected a 2-D tensor, got shape {tuple(input.shape)}")
    return diag(input).sum()


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids from 1-D tensors; indexing 'ij' (matrix) or 'xy' (Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got '{indexing}'")
    ts_ = list(tensors)
    if indexing == "xy" and len(ts_) >= 2:
        ts_[0], ts_[1] = ts_[1], ts_[0]
    shape = [t.numel() for t in ts_]
    grids = []
    for i, t in enumerate(ts_):
        view = [1] * len(ts_)
        view[i] = -1
        grids.append(t.reshape(view).expand(shape))
    if indexing == "xy" and len(grids) >= 2:  # the first two inputs' grids, back in their order
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)
