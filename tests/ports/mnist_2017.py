"""MNIST classifier, pytorch/examples/mnist/main.py as it was in 2017 (torch 0.2): Variables,
F.dropout(training=self.training), `F.log_softmax(x)` with torch's implicit dim, SGD with
momentum, the test loop's `F.nll_loss(output, target, size_average=False)` and
`output.data.max(1, keepdim=True)[1]`, `pred.eq(target.data.view_as(pred)).long().cpu().sum()`.
`.data[0]` of that time is `.item()` here (indexing a 0-d tensor is an error since torch 0.5).
Narrower layers than the example.
"""


def build(torch, nn, F, rng, p=0.5):
    class Net(nn.Module):
        def __init__(self):
            super(Net, self).__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=5)
            self.conv2 = nn.Conv2d(4, 8, kernel_size=5)
            self.conv2_drop = nn.Dropout2d(p)
            self.fc1 = nn.Linear(128, 16)
            self.fc2 = nn.Linear(16, 10)

        def forward(self, x):
            x = F.relu(F.max_pool2d(self.conv1(x), 2))
            x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
            x = x.view(-1, 128)
            x = F.relu(self.fc1(x))
            x = F.dropout(x, p=p, training=self.training)
            x = self.fc2(x)
            return F.log_softmax(x)

    return {"model": Net()}


def run(torch, nn, F, optim, data, steps, models, rng, lr=0.01, momentum=0.5, no_cuda=False):
    Variable = torch.autograd.Variable
    cuda = not no_cuda and torch.cuda.is_available()
    # transforms.Normalize((0.1307,), (0.3081,)) in the example
    images = (torch.tensor(data["images"]) - 0.1307) / 0.3081
    dataset = torch.utils.data.TensorDataset(images, torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    test_loader = torch.utils.data.DataLoader(dataset, batch_size=16, shuffle=False)
    model = models["model"]
    if cuda:
        model.cuda()
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=momentum)

    def train(epoch):
        model.train()
        losses = []
        for batch_idx, (data, target) in enumerate(train_loader):
            if batch_idx == steps:
                break
            if cuda:
                data, target = data.cuda(), target.cuda()
            data, target = Variable(data), Variable(target)
            optimizer.zero_grad()
            output = model(data)
            loss = F.nll_loss(output, target)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        return losses

    def test():
        model.eval()
        test_loss = 0
        correct = 0
        for data, target in test_loader:
            if cuda:
                data, target = data.cuda(), target.cuda()
            data, target = Variable(data, volatile=True), Variable(target)
            output = model(data)
            test_loss += F.nll_loss(output, target, size_average=False).item()  # sum up batch loss
            pred = output.data.max(1, keepdim=True)[1]  # get the index of the max log-probability
            correct += pred.eq(target.data.view_as(pred)).long().cpu().sum().item()
        test_loss /= len(test_loader.dataset)
        return test_loss, correct

    losses, test_losses, corrects = [], [], []
    for epoch in range(1, 3):
        losses += train(epoch)
        test_loss, correct = test()
        test_losses.append(test_loss)
        corrects.append(correct)
    return {"losses": losses, "test_loss": test_losses, "correct": corrects}
