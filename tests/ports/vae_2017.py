"""VAE (Kingma & Welling 2014), pytorch/examples/vae/main.py as it was in 2017 (torch 0.2-0.3):
Variables, `std = logvar.mul(0.5).exp_()` and `eps.mul(std).add_(mu)` in place on the graph,
eps from `std.data.new(std.size())`, the summed BCE through the legacy
`F.binary_cross_entropy(..., size_average=False)`, `Variable(data, volatile=True)` in the test
loop and the sample grids from `.data`. `loss.data[0]` of that time is `loss.item()` here
(indexing a 0-d tensor is an error since torch 0.5). Smaller layers than the example.
"""


def build(torch, nn, F, rng):
    Variable = torch.autograd.Variable

    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()

            self.fc1 = nn.Linear(784, 64)
            self.fc21 = nn.Linear(64, 8)
            self.fc22 = nn.Linear(64, 8)
            self.fc3 = nn.Linear(8, 64)
            self.fc4 = nn.Linear(64, 784)

            self.relu = nn.ReLU()
            self.sigmoid = nn.Sigmoid()

        def encode(self, x):
            h1 = self.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            if self.training:
                std = logvar.mul(0.5).exp_()
                # .normal_() in the example: the test's shared stream instead
                eps = Variable(std.data.new(std.size()).copy_(rng.randn_like(std)))
                return eps.mul(std).add_(mu)
            else:
                return mu

        def decode(self, z):
            h3 = self.relu(self.fc3(z))
            return self.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    return {"model": VAE()}


def run(torch, nn, F, optim, data, steps, models, rng, batch_size=8, no_cuda=False):
    Variable = torch.autograd.Variable
    cuda = not no_cuda and torch.cuda.is_available()
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]),
                                             torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    test_loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)
    model = models["model"]
    if cuda:
        model.cuda()
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), size_average=False)

        # see Appendix B from VAE paper:
        # Kingma and Welling. Auto-Encoding Variational Bayes. ICLR, 2014
        # https://arxiv.org/abs/1312.6114
        # 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())

        return BCE + KLD

    def train(epoch):
        model.train()
        train_loss = 0
        losses = []
        for batch_idx, (data, _) in enumerate(train_loader):
            if batch_idx == steps:
                break
            data = Variable(data)
            if cuda:
                data = data.cuda()
            optimizer.zero_grad()
            recon_batch, mu, logvar = model(data)
            loss = loss_function(recon_batch, data, mu, logvar)
            loss.backward()
            train_loss += loss.item()
            optimizer.step()
            losses.append(loss.item() / len(data))
        return losses

    def test(epoch):
        model.eval()
        test_loss = 0
        for i, (data, _) in enumerate(test_loader):
            if cuda:
                data = data.cuda()
            data = Variable(data, volatile=True)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
            if i == 0:
                n = min(data.size(0), 8)
                comparison = torch.cat([data[:n],
                                        recon_batch.view(batch_size, 1, 28, 28)[:n]])
                # save_image(comparison.data.cpu(), 'results/reconstruction_' + str(epoch)
                # + '.png', nrow=n): the grid's values
                grid = comparison.data.cpu().numpy()
        test_loss /= len(test_loader.dataset)
        return test_loss, float(grid.mean()), list(grid.shape)

    train_losses, test_losses = [], []
    for epoch in range(1, 3):
        train_losses += train(epoch)
        test_loss, grid_mean, grid_shape = test(epoch)
        test_losses.append(test_loss)
        sample = Variable(rng.randn(16, 8))          # torch.randn(64, 20) in the example
        if cuda:
            sample = sample.cuda()
        sample = model.decode(sample).cpu()
        # save_image(sample.data.view(64, 1, 28, 28), 'results/sample_' + str(epoch) + '.png')
        sample_grid = sample.data.view(16, 1, 28, 28).numpy()
    return {"train_losses": train_losses, "test_losses": test_losses,
            "reconstruction_mean": grid_mean, "reconstruction_shape": grid_shape,
            "sample_mean": float(sample_grid.mean())}
