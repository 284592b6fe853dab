"""Ops written in Python on the C++ ops (so autograd flows through them): remainder and
floor_divide (Python's % and //), and einsum."""
import builtins
import string

from . import _tessera as _C
from ._tessera import Tensor


def _pair(a, b):
    """Both operands as tensors (a number takes the dtype promotion gives it beside the other)."""
    if not isinstance(a, Tensor):
        a = _C._full([], a, _C.result_type(b, a))
    if not isinstance(b, Tensor):
        b = _C._full([], b, _C.result_type(a, b))
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
        eye = _C.eye(n, dtype=op.dtype) if op.is_floating_point() else _C.eye(n).to(op.dtype)
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
