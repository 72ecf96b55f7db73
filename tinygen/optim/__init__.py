"""tinygen.optim: optimizers (SGD, Adam, AdamW, Adamax, NAdam, RAdam, RMSprop, Adagrad,
Adadelta, LBFGS), learning-rate schedules (optim.lr_scheduler) and gradient clipping.

    opt = optim.Adam(model.parameters(), lr=1e-3)
    sched = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        for x in loader:
            opt.zero_grad()
            model.loss(x).backward()
            optim.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
        sched.step()
"""
from tinygen.optim import lr_scheduler, swa_utils  # noqa: F401
from tinygen.optim.adadelta import Adadelta  # noqa: F401
from tinygen.optim.adagrad import Adagrad  # noqa: F401
from tinygen.optim.adam import Adam, AdamW  # noqa: F401
from tinygen.optim.adamax import Adamax  # noqa: F401
from tinygen.optim.clip_grad import clip_grad_norm_  # noqa: F401
from tinygen.optim.lbfgs import LBFGS  # noqa: F401
from tinygen.optim.nadam import NAdam  # noqa: F401
from tinygen.optim.optimizer import Optimizer  # noqa: F401
from tinygen.optim.radam import RAdam  # noqa: F401
from tinygen.optim.rmsprop import RMSprop  # noqa: F401
from tinygen.optim.sgd import SGD  # noqa: F401
