"""Function: one node of the graph. Forward on arrays, backward on Tensors.

    y = Exp()(x)          # forward: runs on x.array, wraps the result, records the node
    Exp.backward(gy)      # returns gx = gy * y, built from differentiable ops

Writing backward with tinygen ops (not raw arrays) is what makes gradients of gradients
work: under `create_graph=True` the backward pass records its own graph.

Memory is visible: a node holds its inputs (strongly: backward needs them), its outputs
weakly (a strong reference would make a cycle output -> creator -> output), and whatever
arrays its forward chose to keep on `self`. After a backward without retain_graph the
node is released: inputs and saved arrays dropped, and a second backward through it
raises.

Version counters: every in-place change to a Tensor bumps `tensor._version`. A node records
the versions of its inputs (and outputs) when it runs; backward compares them and refuses
to use a tensor that was changed in place since. This is stricter than PyTorch, which only
checks the tensors a backward actually saves.

Custom ops as torch writes them (a class with static `forward(ctx, *args)` and
`backward(ctx, *grads)`, called as `F.apply(...)`) also work: FunctionCtx below is both
their `ctx` and their graph node. The two styles share everything after forward.
"""
import functools
import inspect
import traceback
import weakref

from tinygen.autograd import anomaly, grad_mode
from tinygen.autograd.tensor import Tensor, as_tensor


class Function:
    """Base class of every differentiable op.

    Subclasses define `forward(self, *arrays) -> array | tuple of arrays` and
    `backward(self, *gys) -> Tensor | tuple` (one gradient per input, None for none).
    Non-tensor arguments (dims, strides) go to `__init__`. Inside forward, `self.device`
    names the inputs' device; inside backward, `self.inputs` holds the input Tensors and
    `self.output` / `self.outputs` the outputs.
    """

    inputs = None
    generation = 0
    device = "cpu"
    released = False
    view_of_input = False   # True for ops whose output is a view of inputs[0]'s memory

    def __call__(self, *inputs):
        for x in inputs:
            if type(x) is not Tensor and not isinstance(x, Tensor):  # an array or a number
                inputs = tuple(as_tensor(x, like=inputs) for x in inputs)
                break
        x0 = inputs[0]
        device = x0.device
        needs_grad = False
        arrays = []
        for x in inputs:
            if x.device != device:
                raise RuntimeError(
                    f"{type(self).__name__}: inputs on different devices: "
                    + ", ".join(f"{tuple(t.shape)} on {t.device}" for t in inputs))
            if x.requires_grad:
                needs_grad = True
            arrays.append(x.array)
        self.device = device
        ys = self.forward(*arrays)
        needs_grad = needs_grad and grad_mode._local.enabled
        if type(ys) is tuple:
            outputs = tuple([Tensor.wrap(y, device, needs_grad) for y in ys])
        else:
            outputs = (Tensor.wrap(ys, device, needs_grad),)
        if self.view_of_input:
            outputs[0]._vc = x0._vc
        if needs_grad:
            self._connect(inputs, outputs)
        if anomaly._enabled[0]:
            self.stack = traceback.extract_stack()[:-1]
            if not anomaly._in_backward.active:
                anomaly.check_forward(self, outputs)
        return outputs[0] if len(outputs) == 1 else outputs

    def _connect(self, inputs, outputs):
        """Record this node in the graph: outputs -> self -> inputs.

        Plain loops, no comprehensions: every op with a gradient runs this, and in CPython
        3.11 each comprehension is a function call of its own (0.25 us of a 3.2 us mul)."""
        self.inputs = inputs
        self.input_versions = versions = []
        generation = 0
        for x in inputs:
            versions.append(x._vc[0])
            if x.generation > generation:
                generation = x.generation
        self.generation = generation
        self.output_versions = versions = []
        self._outputs = refs = []
        for y in outputs:
            versions.append(y._vc[0])
            refs.append(weakref.ref(y))
            if y.requires_grad:
                y.creator = self
                y.generation = generation + 1

    @classmethod
    def apply(cls, *args):
        """Run the op: cls()(*args) for tinygen-style ops; for torch-style ones (static
        forward(ctx, ...) and backward(ctx, ...)), the forward with a fresh ctx."""
        if not isinstance(inspect.getattr_static(cls, "forward"), staticmethod):
            return cls()(*args)
        return FunctionCtx(cls).run(args)

    def forward(self, *xs):
        raise NotImplementedError(f"{type(self).__name__} defines no forward")

    def backward(self, *gys):
        raise NotImplementedError(f"{type(self).__name__} defines no backward")

    @property
    def output(self):
        """The first output Tensor (alive during backward, since a gradient reached it)."""
        return self._outputs[0]()

    @property
    def outputs(self):
        return tuple(ref() for ref in self._outputs)

    @property
    def name(self):
        return type(self).__name__

    def check_versions(self):
        """Raise if an input was modified in place after this node used it."""
        for x, version in zip(self.inputs, self.input_versions):
            if x._version != version:
                raise RuntimeError(
                    f"{self.name}: a tensor of shape {tuple(x.shape)} that this op needs for "
                    f"backward was modified in place (version {version} -> {x._version}); "
                    f"clone it before the in-place change")
        for y, version in zip(self.outputs, self.output_versions):
            if y is not None and y._version != version:
                raise RuntimeError(
                    f"{self.name}: its output of shape {tuple(y.shape)} was modified in place "
                    f"(version {version} -> {y._version}) before backward")

    def release(self):
        """Drop what backward needed: inputs and arrays saved on the node."""
        keep = ("generation", "device", "_outputs")
        for key in list(vars(self)):
            if key not in keep:
                delattr(self, key)
        self.released = True


class FunctionCtx(Function):
    """The graph node (and the `ctx`) of one call of a torch-style custom Function:

        class Cube(tg.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):            # Tensors in, Tensors out (runs under no_grad)
                ctx.save_for_backward(x)
                ctx.k = k                      # anything else: an attribute of ctx
                return x ** 3 * k
            @staticmethod
            def backward(ctx, gy):             # one gradient per forward argument
                x, = ctx.saved_tensors
                return gy * 3 * x ** 2 * ctx.k, None

        y = Cube.apply(x, 2.0)

    torch 2's other form works too: forward(*args) without ctx, and a static
    setup_context(ctx, inputs, output) that saves what backward needs.
    backward is written with tinygen ops, so it is differentiable again under create_graph.
    """

    def __init__(self, fn_cls):
        self.fn_cls = fn_cls
        self._saved = ()
        self._non_differentiable = ()
        self.needs_input_grad = ()

    @property
    def name(self):
        return f"{self.fn_cls.__name__}Backward"

    def save_for_backward(self, *tensors):
        """Keep these (inputs, outputs, or None) for backward; read them as ctx.saved_tensors."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"{self.fn_cls.__name__}: save_for_backward takes Tensors or "
                                f"None, got {type(t).__name__}; keep other values as ctx "
                                f"attributes")
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self.released:
            raise RuntimeError(f"{self.name}: trying to backward through the graph a second "
                               f"time (saved tensors are freed after the first backward); pass "
                               f"retain_graph=True to the first backward if you need to")
        # an output saved in forward is given back as the output Tensor of the graph
        return tuple(self.outputs[t[1]] if type(t) is tuple else t for t in self._saved)

    def mark_non_differentiable(self, *outputs):
        """These outputs get no gradient (integer indices, masks): requires_grad=False."""
        self._non_differentiable = outputs

    def mark_dirty(self, *tensors):
        """Accepted for torch compatibility; tinygen's version counters catch in-place use."""

    def set_materialize_grads(self, value):
        """Accepted for torch compatibility: tinygen always passes zeros, never None, for
        outputs that received no gradient."""

    def release(self):
        fn_cls = self.fn_cls
        super().release()
        self.fn_cls = fn_cls  # kept: error messages name the function

    def run(self, args):
        """forward(ctx, *args), then the node links the outputs to the Tensor arguments."""
        tensors = [a for a in args if isinstance(a, Tensor)]
        self.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        self._positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if tensors:
            self.device = tensors[0].device
        with grad_mode.no_grad():
            if _defines_setup_context(self.fn_cls):   # torch 2's style: forward without ctx
                result = self.fn_cls.forward(*args)
                self.fn_cls.setup_context(self, args, result)
            else:
                result = self.fn_cls.forward(self, *args)
        single = not isinstance(result, tuple)
        results = (result,) if single else result
        needs_grad = grad_mode._local.enabled and any(self.needs_input_grad)
        outputs = []
        for r in results:
            if not isinstance(r, Tensor):
                outputs.append(r)  # a non-Tensor output passes through
                continue
            differentiable = needs_grad and r.dtype.kind == "f" and not any(
                r is t for t in self._non_differentiable)
            outputs.append(Tensor.wrap(r.array, r.device, differentiable))
        tensor_results = [r for r in results if isinstance(r, Tensor)]
        out_tensors = [o for o in outputs if isinstance(o, Tensor)]
        # an output saved for backward is looked up through the node when backward reads it
        # (a strong reference would make the cycle output -> node -> output)
        self._saved = tuple(next((("output", k) for k, r in enumerate(tensor_results) if r is t),
                                 t) for t in self._saved)
        if needs_grad:
            self._n_results = len(results)
            self._out_positions = [k for k, o in enumerate(outputs) if isinstance(o, Tensor)]
            self._connect(tuple(tensors), tuple(out_tensors))
        return outputs[0] if single else tuple(outputs)

    def backward(self, *gys):
        grads = [None] * self._n_results  # None for the outputs that are not Tensors
        for k, g in zip(self._out_positions, gys):
            grads[k] = g
        gxs = self.fn_cls.backward(self, *grads)
        if not isinstance(gxs, tuple):
            gxs = (gxs,)
        n = len(self.needs_input_grad)
        if len(gxs) < n or any(g is not None for g in gxs[n:]):
            raise RuntimeError(f"{self.fn_cls.__name__}.backward returned {len(gxs)} gradients, "
                               f"expected {n} (one per argument of forward, None for "
                               f"non-Tensor arguments)")
        result = []
        for i in self._positions:
            g = gxs[i]
            if g is not None and not isinstance(g, Tensor):
                g = as_tensor(g, like=self.inputs)
            result.append(g)
        return tuple(result)


def _defines_setup_context(fn_cls):
    return any("setup_context" in vars(c) for c in fn_cls.__mro__ if c is not Function)


def once_differentiable(backward):
    """Decorator for a torch-style backward that is not itself differentiable: it runs under
    no_grad, so asking for a second derivative through it gets no graph."""
    @functools.wraps(backward)
    def wrapper(ctx, *gys):
        with grad_mode.no_grad():
            return backward(ctx, *gys)
    return wrapper
