"""Gradient descent written by hand, as torch code before torch.optim was the habit.

Part one is the 0.3-era "Learning PyTorch with Examples" two_layer_net_autograd.py: raw
weight tensors with requires_grad, the update through `.data` (`w1.data -= lr *
w1.grad.data`) and the gradients zeroed by hand (`w1.grad.data.zero_()`). Part two is
the update loop of pytorch/examples/word_language_model/main.py on an MNIST MLP:
`model.zero_grad()`, `clip_grad_norm_`, then `p.data.add_(-lr * p.grad)` for every
parameter, and an annealed learning rate. Smaller sizes than the originals.
"""


def build(torch, nn, F, rng, hidden=32):
    class MLP(nn.Module):
        def __init__(self):
            super(MLP, self).__init__()
            self.fc1 = nn.Linear(784, hidden)
            self.fc2 = nn.Linear(hidden, 10)

        def forward(self, x):
            x = x.view(x.size(0), -1)
            return F.log_softmax(self.fc2(torch.tanh(self.fc1(x))), dim=1)

    return {"model": MLP()}


def two_layer_net(torch, rng, steps, N=16, D_in=64, H=32, D_out=8):
    """two_layer_net_autograd.py: y = relu(x w1) w2 fitted by hand-written gradient descent."""
    dtype = torch.float
    # Create random Tensors to hold input and outputs.
    x = rng.randn(N, D_in).type(dtype)
    y = rng.randn(N, D_out).type(dtype)
    # Create random Tensors for weights; requires_grad=True asks for their gradients.
    w1 = rng.randn(D_in, H).type(dtype).requires_grad_(True)
    w2 = rng.randn(H, D_out).type(dtype).requires_grad_(True)

    learning_rate = 1e-4
    losses = []
    for t in range(steps):
        # Forward pass: compute predicted y using operations on Tensors
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        # Compute and print loss; loss.data is a Tensor of shape () holding the loss
        loss = (y_pred - y).pow(2).sum()
        losses.append(loss.data.item())
        loss.backward()
        # Update weights using gradient descent; w1.data is a Tensor, w1.grad is a Tensor
        # and w1.grad.data is a Tensor: none of this is recorded for autograd.
        w1.data -= learning_rate * w1.grad.data
        w2.data -= learning_rate * w2.grad.data
        # Manually zero the gradients after updating weights
        w1.grad.data.zero_()
        w2.grad.data.zero_()
    assert w1.requires_grad and w1.grad_fn is None and w1.grad.abs().sum().item() == 0
    return losses, w1.data.abs().mean().item()


def run(torch, nn, F, optim, data, steps, models, rng, lr=0.5, clip=0.25, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    net_losses, w1_mean = two_layer_net(torch, rng, steps)

    images = torch.tensor(data["images"])
    dataset = torch.utils.data.TensorDataset(images, torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    model = models["model"].to(device)
    criterion = nn.NLLLoss()
    losses, norms = [], []
    for epoch in range(1, 3):
        model.train()
        for batch, (x, targets) in enumerate(train_loader):
            if batch == steps:
                break
            x, targets = x.to(device), targets.to(device)
            model.zero_grad()
            output = model(x)
            loss = criterion(output, targets)
            loss.backward()

            # `clip_grad_norm` helps prevent the exploding gradient problem in RNNs / LSTMs.
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            for p in model.parameters():
                p.data.add_(-lr * p.grad)
            losses.append(loss.item())
            norms.append(norm.item())
        # Anneal the learning rate (the example does so when validation loss stops falling)
        lr /= 4.0
    # every parameter still a leaf that requires grad, its update unrecorded
    assert all(p.requires_grad and p.is_leaf for p in model.parameters())
    return {"two_layer_net": net_losses, "w1_abs_mean": w1_mean, "losses": losses,
            "grad_norms": norms}
