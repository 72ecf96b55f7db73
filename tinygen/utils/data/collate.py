"""default_collate: a list of samples -> one batch, with torch's rules.

    Tensors             -> stacked: (B, *shape)
    NumPy arrays        -> stacked Tensors of the same dtype (float64 stays float64)
    NumPy scalars       -> a (B,) Tensor of their dtype
    Python floats       -> a float64 Tensor; ints -> int64; bools -> bool (as torch)
    str / bytes         -> the list as it is
    dicts               -> a dict of collated values, key by key
    tuples / lists      -> a list of collated fields (a namedtuple stays one)

default_convert (used when batch_size=None) turns arrays into Tensors and leaves the rest.
"""
import collections.abc

import numpy as np

from tinygen import backend
from tinygen.autograd.tensor import Tensor, tensor
from tinygen.ops.shape import stack


def _stackable(array):
    return array.dtype.kind not in "USOV"   # strings and objects cannot become Tensors


def default_collate(batch):
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(t.shape) for t in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: stack expects each tensor to be equal size, "
                               f"got shapes {sorted(shapes)}")
        if any(t.requires_grad for t in batch):
            return stack(list(batch), 0)         # keeps the graph, as torch.stack would
        xp = backend.array_module(elem.device)   # else one array stack, no graph nodes
        return Tensor.wrap(xp.stack([t.array for t in batch]), elem.device, False)
    if isinstance(elem, np.ndarray) and _stackable(elem):
        shapes = {a.shape for a in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"default_collate: stack expects each array to be equal size, "
                               f"got shapes {sorted(shapes)}")
        return Tensor(np.stack(batch))   # a new array: no copy needed
    if isinstance(elem, np.generic) and _stackable(np.asarray(elem)):
        return Tensor(np.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=np.float64)
    if isinstance(elem, int):                      # bool is an int: [True, ...] -> bool
        return tensor(batch)
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            return type(elem)(collated)
        except TypeError:                          # a mapping type that cannot be built so
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):   # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(list(field)) for field in zip(*batch)]
        if isinstance(elem, tuple):
            return fields                          # torch returns a list for tuples
        try:
            return type(elem)(fields)
        except TypeError:
            return fields
    raise TypeError(f"default_collate: batch must contain tensors, numpy arrays, numbers, "
                    f"dicts or lists; found {type(elem)}")


def default_convert(data):
    """Arrays (also inside dicts, lists, tuples) -> Tensors; everything else unchanged."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return tensor(data) if _stackable(data) else data
    if isinstance(data, np.generic):
        return tensor(data) if _stackable(np.asarray(data)) else data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(value) for key, value in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
