"""Adversarial autoencoder (Makhzani et al. 2016), after eriklindernoren/PyTorch-GAN
implementations/aae: a Gaussian encoder, a decoder, and a discriminator that tells the codes
from prior samples; L1 reconstruction + a small adversarial term. Halfway through, the
models and optimizers are saved with torch.save and restored with torch.load into fresh
ones (the usual checkpoint-and-resume), and ReduceLROnPlateau watches the loss.
"""
import itertools

img_shape = (1, 28, 28)
latent_dim = 8


def build(torch, nn, F, rng):
    def reparameterization(mu, logvar):
        std = torch.exp(logvar / 2)
        sampled_z = rng.randn(mu.size(0), latent_dim).to(mu.device)
        z = sampled_z * std + mu
        return z

    class Encoder(nn.Module):
        def __init__(self):
            super(Encoder, self).__init__()
            self.model = nn.Sequential(
                nn.Linear(784, 64),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 64),
                nn.BatchNorm1d(64),
                nn.LeakyReLU(0.2, inplace=True),
            )
            self.mu = nn.Linear(64, latent_dim)
            self.logvar = nn.Linear(64, latent_dim)

        def forward(self, img):
            img_flat = img.view(img.shape[0], -1)
            x = self.model(img_flat)
            mu = self.mu(x)
            logvar = self.logvar(x)
            z = reparameterization(mu, logvar)
            return z

    class Decoder(nn.Module):
        def __init__(self):
            super(Decoder, self).__init__()
            self.model = nn.Sequential(
                nn.Linear(latent_dim, 64),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 64),
                nn.BatchNorm1d(64),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 784),
                nn.Tanh(),
            )

        def forward(self, z):
            img_flat = self.model(z)
            img = img_flat.view(img_flat.shape[0], *img_shape)
            return img

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            self.model = nn.Sequential(
                nn.Linear(latent_dim, 32),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(32, 16),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(16, 1),
                nn.Sigmoid(),
            )

        def forward(self, z):
            validity = self.model(z)
            return validity

    return {"encoder": Encoder(), "decoder": Decoder(), "discriminator": Discriminator(),
            # the fresh models a checkpoint is restored into (their own initial weights
            # are overwritten by the load)
            "encoder2": Encoder(), "decoder2": Decoder(), "discriminator2": Discriminator()}


def run(torch, nn, F, optim, data, steps, models, rng, checkpoint_path=None, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    images = torch.tensor(data["images"]) * 2 - 1
    dataloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images),
                                             batch_size=8, shuffle=False)
    # Use binary cross-entropy loss
    adversarial_loss = torch.nn.BCELoss()
    pixelwise_loss = torch.nn.L1Loss()

    def make_optimizers(encoder, decoder, discriminator):
        optimizer_G = torch.optim.Adam(
            itertools.chain(encoder.parameters(), decoder.parameters()), lr=0.0002,
            betas=(0.5, 0.999))
        optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))
        return optimizer_G, optimizer_D

    encoder, decoder, discriminator = (models[k].to(device)
                                       for k in ("encoder", "decoder", "discriminator"))
    optimizer_G, optimizer_D = make_optimizers(encoder, decoder, discriminator)
    scheduler = optim.lr_scheduler.ReduceLROnPlateau(optimizer_G, factor=0.5, patience=0)

    g_losses, d_losses, lrs = [], [], []
    for i, (imgs,) in enumerate(dataloader):
        if i == steps:
            break
        if i == steps // 2:
            # checkpoint and resume into fresh models and optimizers
            torch.save({"encoder": encoder.state_dict(), "decoder": decoder.state_dict(),
                        "discriminator": discriminator.state_dict(),
                        "optimizer_G": optimizer_G.state_dict(),
                        "optimizer_D": optimizer_D.state_dict(), "step": i}, checkpoint_path)
            checkpoint = torch.load(checkpoint_path)
            encoder, decoder, discriminator = (models[k].to(device)
                                               for k in ("encoder2", "decoder2", "discriminator2"))
            encoder.load_state_dict(checkpoint["encoder"])
            decoder.load_state_dict(checkpoint["decoder"])
            discriminator.load_state_dict(checkpoint["discriminator"])
            optimizer_G, optimizer_D = make_optimizers(encoder, decoder, discriminator)
            optimizer_G.load_state_dict(checkpoint["optimizer_G"])
            optimizer_D.load_state_dict(checkpoint["optimizer_D"])
            scheduler.optimizer = optimizer_G
            assert checkpoint["step"] == i
        valid = torch.ones(imgs.shape[0], 1, device=device)
        fake = torch.zeros(imgs.shape[0], 1, device=device)
        real_imgs = imgs.to(device)

        # -----------------
        #  Train Generator
        # -----------------
        optimizer_G.zero_grad()
        encoded_imgs = encoder(real_imgs)
        decoded_imgs = decoder(encoded_imgs)
        # Loss measures generator's ability to fool the discriminator
        g_loss = 0.001 * adversarial_loss(discriminator(encoded_imgs), valid) + 0.999 * pixelwise_loss(
            decoded_imgs, real_imgs
        )
        g_loss.backward()
        optimizer_G.step()

        # ---------------------
        #  Train Discriminator
        # ---------------------
        optimizer_D.zero_grad()
        # Sample noise as discriminator ground truth
        z = rng.randn(imgs.shape[0], latent_dim).to(device)
        # Measure discriminator's ability to classify real from generated samples
        real_loss = adversarial_loss(discriminator(z), valid)
        fake_loss = adversarial_loss(discriminator(encoded_imgs.detach()), fake)
        d_loss = 0.5 * (real_loss + fake_loss)
        d_loss.backward()
        optimizer_D.step()
        scheduler.step(g_loss.item())
        g_losses.append(g_loss.item())
        d_losses.append(d_loss.item())
        lrs.append(optimizer_G.param_groups[0]["lr"])
    return {"g_loss": g_losses, "d_loss": d_losses, "lr": lrs}
