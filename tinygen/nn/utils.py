"""torch.nn.utils: gradient clipping (defined in tinygen/optim/clip_grad.py), parameters as one
flat vector and back, and the weight reparametrizations weight_norm and spectral_norm
(tinygen/nn/reparam.py)."""
from tinygen.autograd.grad_mode import no_grad
from tinygen.autograd.tensor import Tensor
from tinygen.nn.reparam import (  # noqa: F401
    remove_spectral_norm, remove_weight_norm, spectral_norm, weight_norm)
from tinygen.ops.shape import cat, reshape
from tinygen.optim.clip_grad import clip_grad_norm_, clip_grad_value_  # noqa: F401


def parameters_to_vector(parameters):
    """Every parameter flattened and joined, in order: one 1-D Tensor (differentiable)."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: no parameters given")
    return cat([reshape(p, -1) for p in params])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D Tensor vec into the parameters, in order (in place,
    outside the graph)."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError(f"vector_to_parameters: expected a 1-D Tensor, got "
                        f"{getattr(vec, 'shape', type(vec).__name__)}")
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if vec.numel() != total:
        raise ValueError(f"vector_to_parameters: vector of {vec.numel()} values for parameters "
                         f"of {total} values")
    start = 0
    with no_grad():
        for p in params:
            n = p.numel()
            p.copy_(vec.array[start:start + n].reshape(p.shape).astype(p.dtype, copy=False))
            start += n
