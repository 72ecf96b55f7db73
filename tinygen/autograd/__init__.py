"""tinygen's autograd core: Tensor, Function, the backward walk, grad modes, checks and views."""
from tinygen.autograd.anomaly import AnomalyError, detect_anomaly, set_detect_anomaly  # noqa: F401
from tinygen.autograd.engine import grad, tensors_backward as backward  # noqa: F401
from tinygen.autograd import functional  # noqa: F401
from tinygen.autograd.function import Function, FunctionCtx, once_differentiable  # noqa: F401
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from tinygen.autograd.grad_mode import inference_mode  # noqa: F401
from tinygen.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck, jacobians  # noqa: F401
from tinygen.autograd.graph import to_dot  # noqa: F401
from tinygen.autograd.legacy import Variable  # noqa: F401
from tinygen.autograd.tensor import Tensor, tensor  # noqa: F401

# tensor.backward() is the engine's walk; the engine imports Tensor, so the method is attached
# here rather than imported by tensor.py (one explicit assignment, as ops/__init__.py does)
from tinygen.autograd.engine import tensor_backward  # noqa: E402

Tensor.backward = tensor_backward
