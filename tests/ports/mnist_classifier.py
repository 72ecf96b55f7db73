"""MNIST classifier, after pytorch/examples/mnist/main.py: two convolutions, max pooling,
dropout, log_softmax + nll_loss, Adadelta with StepLR, and the test loop's accuracy count
(argmax, eq, view_as). Narrower layers than the example.
"""


def build(torch, nn, F, rng, p1=0.25, p2=0.5):
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 8, 3, 1)
            self.conv2 = nn.Conv2d(8, 16, 3, 1)
            self.pool = nn.MaxPool2d(2)
            self.dropout1 = nn.Dropout2d(p1)
            self.dropout2 = nn.Dropout(p2)
            self.fc1 = nn.Linear(2304, 32)
            self.fc2 = nn.Linear(32, 10)

        def forward(self, x):
            x = self.conv1(x)
            x = F.relu(x)
            x = self.conv2(x)
            x = F.relu(x)
            x = self.pool(x)
            x = self.dropout1(x)
            x = torch.flatten(x, 1)
            x = self.fc1(x)
            x = F.relu(x)
            x = self.dropout2(x)
            x = self.fc2(x)
            output = F.log_softmax(x, dim=1)
            return output

    return {"model": Net()}


def run(torch, nn, F, optim, data, steps, models, rng, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    # transforms.Normalize((0.1307,), (0.3081,)) in the example
    images = (torch.tensor(data["images"]) - 0.1307) / 0.3081
    dataset = torch.utils.data.TensorDataset(images, torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    test_loader = torch.utils.data.DataLoader(dataset, batch_size=16)
    model = models["model"].to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)

    losses, lrs = [], []
    for epoch in range(1, 3):
        model.train()
        for batch_idx, (x, target) in enumerate(train_loader):
            if batch_idx == steps:
                break
            x, target = x.to(device), target.to(device)
            optimizer.zero_grad()
            output = model(x)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
        lrs.append(scheduler.get_last_lr()[0])

    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for x, target in test_loader:
            x, target = x.to(device), target.to(device)
            output = model(x)
            test_loss += F.nll_loss(output, target, reduction='sum').item()  # sum up batch loss
            pred = output.argmax(dim=1, keepdim=True)  # get the index of the max log-probability
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    return {"losses": losses, "lrs": lrs, "test_loss": test_loss, "correct": correct}
