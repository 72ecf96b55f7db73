"""Grad mode: whether ops record the graph.

    with tg.no_grad():            # ops run, nothing is recorded (evaluation, optimizer steps)
    with tg.enable_grad():        # record again inside a no_grad block
    with tg.set_grad_enabled(b):  # either, chosen by a flag

Backward itself runs under no_grad unless create_graph=True, so a plain backward records
nothing and a create_graph backward records the graph of the gradient (for gradients of
gradients).
"""

# A one-element list, read directly by Function.__call__ on the hot path.
_enabled = [True]


def is_grad_enabled():
    return _enabled[0]


class set_grad_enabled:
    """Context manager (and decorator) that sets grad mode to `mode` inside the block."""

    def __init__(self, mode=True):
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = _enabled[0]
        _enabled[0] = self.mode

    def __exit__(self, *exc):
        _enabled[0] = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper


class no_grad(set_grad_enabled):
    """Run the block without recording the graph."""

    def __init__(self):
        super().__init__(False)


class enable_grad(set_grad_enabled):
    """Record the graph inside the block, even within no_grad."""

    def __init__(self):
        super().__init__(True)
