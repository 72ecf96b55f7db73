"""Conditional GAN (Mirza & Osindero 2014), after eriklindernoren/PyTorch-GAN
implementations/cgan: the class label enters both networks through nn.Embedding, concatenated
with the noise (generator) or the flattened image (discriminator); least-squares loss.
"""
n_classes = 10
latent_dim = 16
img_shape = (1, 28, 28)


def build(torch, nn, F, rng, dropout=0.4):
    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()

            self.label_emb = nn.Embedding(n_classes, n_classes)

            def block(in_feat, out_feat, normalize=True):
                layers = [nn.Linear(in_feat, out_feat)]
                if normalize:
                    layers.append(nn.BatchNorm1d(out_feat, 0.8))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                return layers

            self.model = nn.Sequential(
                *block(latent_dim + n_classes, 32, normalize=False),
                *block(32, 64),
                nn.Linear(64, 784),
                nn.Tanh()
            )

        def forward(self, noise, labels):
            # Concatenate label embedding and image to produce input
            gen_input = torch.cat((self.label_emb(labels), noise), -1)
            img = self.model(gen_input)
            img = img.view(img.size(0), *img_shape)
            return img

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()

            self.label_embedding = nn.Embedding(n_classes, n_classes)

            self.model = nn.Sequential(
                nn.Linear(n_classes + 784, 64),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 64),
                nn.Dropout(dropout),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 1),
            )

        def forward(self, img, labels):
            # Concatenate label embedding and image to produce input
            d_in = torch.cat((img.view(img.size(0), -1), self.label_embedding(labels)), -1)
            validity = self.model(d_in)
            return validity

    return {"generator": Generator(), "discriminator": Discriminator()}


def run(torch, nn, F, optim, data, steps, models, rng, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]) * 2 - 1,
                                             torch.tensor(data["labels"]))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    generator = models["generator"].to(device)
    discriminator = models["discriminator"].to(device)
    # Loss functions
    adversarial_loss = torch.nn.MSELoss()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))

    d_losses, g_losses = [], []
    for i, (imgs, labels) in enumerate(dataloader):
        if i == steps:
            break
        batch_size = imgs.shape[0]
        # Adversarial ground truths
        valid = torch.ones(batch_size, 1, device=device)
        fake = torch.zeros(batch_size, 1, device=device)
        # Configure input
        real_imgs = imgs.to(device)
        labels = labels.to(device)

        # -----------------
        #  Train Generator
        # -----------------
        optimizer_G.zero_grad()
        # Sample noise and labels as generator input
        z = rng.randn(batch_size, latent_dim).to(device)
        gen_labels = rng.randint(0, n_classes, (batch_size,)).to(device)
        # Generate a batch of images
        gen_imgs = generator(z, gen_labels)
        # Loss measures generator's ability to fool the discriminator
        validity = discriminator(gen_imgs, gen_labels)
        g_loss = adversarial_loss(validity, valid)
        g_loss.backward()
        optimizer_G.step()

        # ---------------------
        #  Train Discriminator
        # ---------------------
        optimizer_D.zero_grad()
        # Loss for real images
        validity_real = discriminator(real_imgs, labels)
        d_real_loss = adversarial_loss(validity_real, valid)
        # Loss for fake images
        validity_fake = discriminator(gen_imgs.detach(), gen_labels)
        d_fake_loss = adversarial_loss(validity_fake, fake)
        # Total discriminator loss
        d_loss = (d_real_loss + d_fake_loss) / 2
        d_loss.backward()
        optimizer_D.step()
        d_losses.append(d_loss.item())
        g_losses.append(g_loss.item())

    # sample_image: one row per class
    generator.eval()
    with torch.no_grad():
        z = rng.randn(n_classes, latent_dim).to(device)
        labels = torch.arange(n_classes, device=device)
        gen_imgs = generator(z, labels)
    return {"d_loss": d_losses, "g_loss": g_losses, "sample_mean": gen_imgs.mean().item()}
