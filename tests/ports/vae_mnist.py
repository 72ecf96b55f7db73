"""VAE on MNIST, after pytorch/examples/vae/main.py (Kingma & Welling 2014), smaller layers.

Written against torch; the port test runs this same source with `torch, nn, F, optim` bound
to tinygen's modules. `rng` supplies the random draws (randn/rand/randint returning the
framework's tensors from one shared NumPy stream), so both runs see the same noise.
"""


def build(torch, nn, F, rng):
    class VAE(nn.Module):
        def __init__(self):
            super(VAE, self).__init__()
            self.fc1 = nn.Linear(784, 64)
            self.fc21 = nn.Linear(64, 8)
            self.fc22 = nn.Linear(64, 8)
            self.fc3 = nn.Linear(8, 64)
            self.fc4 = nn.Linear(64, 784)

        def encode(self, x):
            h1 = F.relu(self.fc1(x))
            return self.fc21(h1), self.fc22(h1)

        def reparameterize(self, mu, logvar):
            std = torch.exp(0.5 * logvar)
            eps = rng.randn_like(std)          # torch.randn_like(std) in the example
            return mu + eps * std

        def decode(self, z):
            h3 = F.relu(self.fc3(z))
            return torch.sigmoid(self.fc4(h3))

        def forward(self, x):
            mu, logvar = self.encode(x.view(-1, 784))
            z = self.reparameterize(mu, logvar)
            return self.decode(z), mu, logvar

    return {"model": VAE()}


def run(torch, nn, F, optim, data, steps, models, rng, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]),
                                             torch.tensor(data["labels"]))
    train_loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    model = models["model"].to(device)
    optimizer = optim.Adam(model.parameters(), lr=1e-3)

    # Reconstruction + KL divergence losses summed over all elements and batch
    def loss_function(recon_x, x, mu, logvar):
        BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction='sum')
        # see Appendix B from VAE paper: 0.5 * sum(1 + log(sigma^2) - mu^2 - sigma^2)
        KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return BCE + KLD

    losses = []
    model.train()
    train_loss = 0
    for batch_idx, (x, _) in enumerate(train_loader):
        if batch_idx == steps:
            break
        x = x.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(x)
        loss = loss_function(recon_batch, x, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
        losses.append(loss.item() / len(x))

    model.eval()
    with torch.no_grad():
        sample = rng.randn(4, 8).to(device)
        sample = model.decode(sample).cpu()
        test_loss = 0
        for x, _ in train_loader:
            x = x.to(device)
            recon_batch, mu, logvar = model(x)
            test_loss += loss_function(recon_batch, x, mu, logvar).item()
    test_loss /= len(train_loader.dataset)
    return {"losses": losses, "test_loss": test_loss, "sample_mean": sample.mean().item(),
            "sample_shape": list(sample.view(4, 1, 28, 28).shape)}
