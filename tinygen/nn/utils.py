"""torch.nn.utils's name for gradient clipping (defined in tinygen/optim/clip_grad.py)."""
from tinygen.optim.clip_grad import clip_grad_norm_  # noqa: F401
