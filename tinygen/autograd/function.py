"""Function: one node of the graph. Forward on arrays, backward on Tensors.

    y = Exp()(x)          # forward: runs on x.data, wraps the result, records the node
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
"""
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
        x0 = inputs[0]
        if type(x0) is not Tensor:
            inputs = tuple(as_tensor(x, like=inputs) for x in inputs)
            x0 = inputs[0]
        device = x0.device
        needs_grad = False
        for x in inputs:
            if x.device != device:
                raise RuntimeError(
                    f"{type(self).__name__}: inputs on different devices: "
                    + ", ".join(f"{tuple(t.shape)} on {t.device}" for t in inputs))
            if x.requires_grad:
                needs_grad = True
        self.device = device
        ys = self.forward(*[x.data for x in inputs])
        needs_grad = needs_grad and grad_mode._enabled[0]
        if type(ys) is tuple:
            outputs = tuple(Tensor._make(y, device, needs_grad) for y in ys)
        else:
            outputs = (Tensor._make(ys, device, needs_grad),)
        if self.view_of_input:
            outputs[0]._vc = x0._vc
        if needs_grad:
            self.inputs = inputs
            self.input_versions = [x._vc[0] for x in inputs]
            self.output_versions = [y._vc[0] for y in outputs]
            generation = 0
            for x in inputs:
                if x.generation > generation:
                    generation = x.generation
            self.generation = generation
            for y in outputs:
                y.creator = self
                y.generation = generation + 1
            self._outputs = [weakref.ref(y) for y in outputs]
        if anomaly._enabled[0]:
            self.stack = traceback.extract_stack()[:-1]
            if not anomaly._in_backward[0]:
                anomaly.check_forward(self, outputs)
        return outputs[0] if len(outputs) == 1 else outputs

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
