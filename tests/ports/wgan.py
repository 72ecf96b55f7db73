"""WGAN (Arjovsky et al. 2017), after eriklindernoren/PyTorch-GAN implementations/wgan/wgan.py:
an MLP generator and critic, the critic maximizing E[D(x)] - E[D(G(z))] with RMSprop and its
weights clipped to [-c, c] after every step through `p.data.clamp_(-c, c)`; the generator
trained every n_critic steps. Written as the original, in 0.4-era idioms: a `Tensor` type
chosen by device, `Variable(imgs.type(Tensor))`, noise as `Tensor(np.random.normal(...))`
(`np_random` here: the test's NumPy stream), `gen_imgs.data[:25]` for the saved grid.
Smaller layers than the original.
"""
img_shape = (1, 28, 28)
latent_dim = 16


def build(torch, nn, F, rng):
    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()

            def block(in_feat, out_feat, normalize=True):
                layers = [nn.Linear(in_feat, out_feat)]
                if normalize:
                    layers.append(nn.BatchNorm1d(out_feat, 0.8))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
                return layers

            self.model = nn.Sequential(
                *block(latent_dim, 32, normalize=False),
                *block(32, 64),
                nn.Linear(64, 784),
                nn.Tanh()
            )

        def forward(self, z):
            img = self.model(z)
            img = img.view(img.shape[0], *img_shape)
            return img

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()

            self.model = nn.Sequential(
                nn.Linear(784, 64),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(64, 32),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Linear(32, 1),
            )

        def forward(self, img):
            img_flat = img.view(img.shape[0], -1)
            validity = self.model(img_flat)
            return validity

    return {"generator": Generator(), "discriminator": Discriminator()}


def run(torch, nn, F, optim, data, steps, models, rng, lr=0.00005, n_critic=2,
        clip_value=0.01, no_cuda=False):
    Variable = torch.autograd.Variable   # from torch.autograd import Variable
    np_random = rng.np_random            # np.random in the original
    cuda = not no_cuda and torch.cuda.is_available()
    dataloader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(data["images"]) * 2 - 1),
        batch_size=8, shuffle=False)
    generator, discriminator = models["generator"], models["discriminator"]
    if cuda:
        generator.cuda()
        discriminator.cuda()

    # Optimizers
    optimizer_G = torch.optim.RMSprop(generator.parameters(), lr=lr)
    optimizer_D = torch.optim.RMSprop(discriminator.parameters(), lr=lr)

    Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor

    d_losses, g_losses, largest = [], [], []
    batches_done = 0
    for i, (imgs,) in enumerate(dataloader):
        if i == steps:
            break
        # Configure input
        real_imgs = Variable(imgs.type(Tensor))

        # ---------------------
        #  Train Discriminator
        # ---------------------
        optimizer_D.zero_grad()
        # Sample noise as generator input
        z = Variable(Tensor(np_random.normal(0, 1, (imgs.shape[0], latent_dim))))
        # Generate a batch of images
        fake_imgs = generator(z).detach()
        # Adversarial loss
        loss_D = -torch.mean(discriminator(real_imgs)) + torch.mean(discriminator(fake_imgs))
        loss_D.backward()
        optimizer_D.step()

        # Clip weights of discriminator
        for p in discriminator.parameters():
            p.data.clamp_(-clip_value, clip_value)
        largest.append(max(p.data.abs().max().item() for p in discriminator.parameters()))
        d_losses.append(loss_D.item())

        # Train the generator every n_critic iterations
        if i % n_critic == 0:
            # -----------------
            #  Train Generator
            # -----------------
            optimizer_G.zero_grad()
            # Generate a batch of images
            gen_imgs = generator(z)
            # Adversarial loss
            loss_G = -torch.mean(discriminator(gen_imgs))
            loss_G.backward()
            optimizer_G.step()
            g_losses.append(loss_G.item())

        if batches_done % 2 == 0:
            # save_image(gen_imgs.data[:25], "images/%d.png" % batches_done, nrow=5,
            # normalize=True) in the original: the grid's values
            grid = gen_imgs.data[:25].cpu().numpy()
            grid_mean, grid_shape = float(grid.mean()), list(grid.shape)
        batches_done += 1
    return {"loss_D": d_losses, "loss_G": g_losses, "largest_critic_weight": largest,
            "grid_mean": grid_mean, "grid_shape": grid_shape}
