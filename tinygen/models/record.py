"""Record: the named likelihood terms a model returns.

    t = vae.terms(x)
    t.elbo, t["kl"], list(t)           # fields are Tensors: per example, per latent, per pixel
    t.scalars()                        # {'elbo': -98.1, ...}: batch means, for logging

A small dataclass-like object: attribute access, item access, iteration over names.
"""


class Record:
    def __init__(self, **terms):
        self.__dict__.update(terms)

    def __getitem__(self, name):
        return self.__dict__[name]

    def __iter__(self):
        return iter(self.__dict__)

    def __contains__(self, name):
        return name in self.__dict__

    def items(self):
        return self.__dict__.items()

    def scalars(self):
        """Each term's mean over all its elements, as a Python float (for logs and bars)."""
        out = {}
        for name, value in self.__dict__.items():
            data = getattr(value, "array", value)
            try:
                out[name] = float(data.mean())
            except (AttributeError, TypeError):
                continue
        return out

    def __repr__(self):
        parts = [f"{k}={tuple(getattr(v, 'shape', ()))}" for k, v in self.__dict__.items()]
        return f"Record({', '.join(parts)})"
