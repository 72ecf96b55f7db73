"""Grad mode: whether ops record the graph.

    with tg.no_grad():            # ops run, nothing is recorded (evaluation, optimizer steps)
    with tg.enable_grad():        # record again inside a no_grad block
    with tg.set_grad_enabled(b):  # either, chosen by a flag (tg.set_grad_enabled(b) alone sets it)

    @tg.no_grad()                 # each also decorates a function (or generator function);
    def evaluate(model): ...      # @tg.no_grad without parentheses works too, as in torch

Backward itself runs under no_grad unless create_graph=True, so a plain backward records
nothing and a create_graph backward records the graph of the gradient (for gradients of
gradients).

Grad mode belongs to a thread, as torch's: a no_grad block in one thread (an evaluation loop,
a DataLoader worker) leaves every other thread recording, and a new thread starts with grad
enabled, whatever the thread that started it was in.
"""
import functools
import inspect
import threading


class _ThreadGradMode(threading.local):
    enabled = True          # each thread's own; read directly by Function.__call__ (hot path)


_local = _ThreadGradMode()


def is_grad_enabled():
    """Whether ops run in this thread record the graph."""
    return _local.enabled


class _GradMode:
    """Context manager and decorator (`@tg.no_grad()` and `@tg.no_grad` both work, as torch)."""

    def __new__(cls, *args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs and cls is not set_grad_enabled:
            return cls()(args[0])          # @no_grad without parentheses
        return super().__new__(cls)

    def __enter__(self):
        self.prev = _local.enabled
        _local.enabled = self.mode

    def __exit__(self, *exc):
        _local.enabled = self.prev
        return False

    def __call__(self, fn):
        mode = self.mode

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def wrapper(*args, **kwargs):   # noqa: F811  every step of the generator in the mode
                gen = fn(*args, **kwargs)
                with set_grad_enabled(mode):
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        gen.close()
                        raise
                    with set_grad_enabled(mode):
                        try:
                            value = gen.send(sent)
                        except StopIteration as stop:
                            return stop.value
        return wrapper


class set_grad_enabled(_GradMode):
    """Sets grad mode to `mode`: at once when called as a function (torch's
    `tg.set_grad_enabled(False)`), restored at the end of a `with` block; also a decorator."""

    def __init__(self, mode=True):
        self.mode = bool(mode)
        self.prev = _local.enabled
        _local.enabled = self.mode

    def __enter__(self):
        pass

    def __call__(self, fn):
        _local.enabled = self.prev   # as a decorator: leave the current mode alone
        return super().__call__(fn)


class no_grad(_GradMode):
    """Run the block (or the decorated function) without recording the graph."""

    def __init__(self, fn=None):
        self.mode = False


class enable_grad(_GradMode):
    """Record the graph inside the block, even within no_grad."""

    def __init__(self, fn=None):
        self.mode = True


class inference_mode(_GradMode):
    """torch.inference_mode: here the same as no_grad (mode=False: record as usual)."""

    def __init__(self, mode=True):
        if callable(mode):
            mode = True
        self.mode = not mode
