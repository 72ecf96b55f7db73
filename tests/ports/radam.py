"""A hand-written optimizer: RAdam (Liu et al. 2020), as LiyuanLucasLiu/RAdam's radam.py of
2019 wrote it, subclassing torch.optim.Optimizer: param_groups and per-parameter state,
updates through `.data` with the deprecated number-first overloads of that time
(`exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad)`, `exp_avg.mul_(beta1).add_(1 -
beta1, grad)`, `p_data_fp32.addcdiv_(-step_size * lr, exp_avg, denom)`), then
`p.data.copy_(p_data_fp32)`. It trains a small MLP classifier with weight decay; the
rectification term switches on at step 6 (N_sma >= 5), so both branches run.
"""
import math


def build(torch, nn, F, rng, hidden=32):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))
    return {"model": model}


def make_radam(torch):
    Optimizer = torch.optim.Optimizer

    class RAdam(Optimizer):

        def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                     degenerated_to_sgd=True):
            if not 0.0 <= lr:
                raise ValueError("Invalid learning rate: {}".format(lr))
            if not 0.0 <= eps:
                raise ValueError("Invalid epsilon value: {}".format(eps))
            if not 0.0 <= betas[0] < 1.0:
                raise ValueError("Invalid beta parameter at index 0: {}".format(betas[0]))
            if not 0.0 <= betas[1] < 1.0:
                raise ValueError("Invalid beta parameter at index 1: {}".format(betas[1]))

            self.degenerated_to_sgd = degenerated_to_sgd
            defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                            buffer=[[None, None, None] for _ in range(10)])
            super(RAdam, self).__init__(params, defaults)

        def __setstate__(self, state):
            super(RAdam, self).__setstate__(state)

        def step(self, closure=None):

            loss = None
            if closure is not None:
                loss = closure()

            for group in self.param_groups:

                for p in group['params']:
                    if p.grad is None:
                        continue
                    grad = p.grad.data.float()
                    if grad.is_sparse:
                        raise RuntimeError('RAdam does not support sparse gradients')

                    p_data_fp32 = p.data.float()

                    state = self.state[p]

                    if len(state) == 0:
                        state['step'] = 0
                        state['exp_avg'] = torch.zeros_like(p_data_fp32)
                        state['exp_avg_sq'] = torch.zeros_like(p_data_fp32)
                    else:
                        state['exp_avg'] = state['exp_avg'].type_as(p_data_fp32)
                        state['exp_avg_sq'] = state['exp_avg_sq'].type_as(p_data_fp32)

                    exp_avg, exp_avg_sq = state['exp_avg'], state['exp_avg_sq']
                    beta1, beta2 = group['betas']

                    exp_avg_sq.mul_(beta2).addcmul_(1 - beta2, grad, grad)
                    exp_avg.mul_(beta1).add_(1 - beta1, grad)

                    state['step'] += 1
                    buffered = group['buffer'][int(state['step'] % 10)]
                    if state['step'] == buffered[0]:
                        N_sma, step_size = buffered[1], buffered[2]
                    else:
                        buffered[0] = state['step']
                        beta2_t = beta2 ** state['step']
                        N_sma_max = 2 / (1 - beta2) - 1
                        N_sma = N_sma_max - 2 * state['step'] * beta2_t / (1 - beta2_t)
                        buffered[1] = N_sma

                        # more conservative since it's an approximated value
                        if N_sma >= 5:
                            step_size = math.sqrt(
                                (1 - beta2_t) * (N_sma - 4) / (N_sma_max - 4) * (N_sma - 2)
                                / N_sma * N_sma_max / (N_sma_max - 2)) / (1 - beta1 ** state['step'])
                        elif self.degenerated_to_sgd:
                            step_size = 1.0 / (1 - beta1 ** state['step'])
                        else:
                            step_size = -1
                        buffered[2] = step_size

                    # more conservative since it's an approximated value
                    if N_sma >= 5:
                        if group['weight_decay'] != 0:
                            p_data_fp32.add_(-group['weight_decay'] * group['lr'], p_data_fp32)
                        denom = exp_avg_sq.sqrt().add_(group['eps'])
                        p_data_fp32.addcdiv_(-step_size * group['lr'], exp_avg, denom)
                        p.data.copy_(p_data_fp32)
                    elif step_size > 0:
                        if group['weight_decay'] != 0:
                            p_data_fp32.add_(-group['weight_decay'] * group['lr'], p_data_fp32)
                        p_data_fp32.add_(-step_size * group['lr'], exp_avg)
                        p.data.copy_(p_data_fp32)

            return loss

    return RAdam


def run(torch, nn, F, optim, data, steps, models, rng, no_cuda=False):
    device = torch.device("cuda" if not no_cuda and torch.cuda.is_available() else "cpu")
    RAdam = make_radam(torch)
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]),
                                             torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    model = models["model"].to(device)
    optimizer = RAdam(model.parameters(), lr=0.01, weight_decay=1e-2)
    losses = []
    for epoch in range(2):          # 2 * steps updates: past the rectification's 5 steps
        for i, (x, target) in enumerate(train_loader):
            if i == steps:
                break
            x, target = x.to(device), target.to(device)

            def closure():
                optimizer.zero_grad()
                loss = F.cross_entropy(model(x), target)
                loss.backward()
                return loss
            losses.append(optimizer.step(closure).item())
    state = optimizer.state[next(iter(model.parameters()))]
    return {"losses": losses, "steps": state['step'],
            "exp_avg_sq_sum": state['exp_avg_sq'].sum().item()}
