"""WGAN-GP (Gulrajani et al. 2017), after eriklindernoren/PyTorch-GAN implementations/wgan_gp:
an MLP generator and critic; the critic's loss has the gradient penalty
lambda * (||grad_x D(x_hat)|| - 1)^2 at random interpolates x_hat, computed with
autograd.grad(create_graph=True) so that the penalty itself is differentiated. In the
original's 0.4-era idioms: a `Tensor` type chosen by device, `Variable(imgs.type(Tensor))`,
random draws as `Tensor(np.random.random(...))` (`np_random` here: the test's NumPy stream),
`real_samples.data.size(0)`.
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


def run(torch, nn, F, optim, data, steps, models, rng, n_critic=2, lambda_gp=10, no_cuda=False):
    Variable = torch.autograd.Variable   # from torch.autograd import Variable
    np_random = rng.np_random            # np.random in the original
    cuda = not no_cuda and torch.cuda.is_available()
    images = torch.tensor(data["images"]) * 2 - 1
    dataloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images),
                                             batch_size=8, shuffle=False)
    generator, discriminator = models["generator"], models["discriminator"]
    if cuda:
        generator.cuda()
        discriminator.cuda()
    optimizer_G = torch.optim.Adam(generator.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizer_D = torch.optim.Adam(discriminator.parameters(), lr=0.0002, betas=(0.5, 0.999))

    Tensor = torch.cuda.FloatTensor if cuda else torch.FloatTensor

    def compute_gradient_penalty(D, real_samples, fake_samples):
        """Calculates the gradient penalty loss for WGAN GP"""
        # Random weight term for interpolation between real and fake samples
        alpha = Tensor(np_random.random((real_samples.data.size(0), 1, 1, 1)))
        # Get random interpolation between real and fake samples
        interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
        d_interpolates = D(interpolates)
        fake = Variable(Tensor(real_samples.shape[0], 1).fill_(1.0), requires_grad=False)
        # Get gradient w.r.t. interpolates
        gradients = torch.autograd.grad(
            outputs=d_interpolates,
            inputs=interpolates,
            grad_outputs=fake,
            create_graph=True,
            retain_graph=True,
            only_inputs=True,
        )[0]
        gradients = gradients.view(gradients.size(0), -1)
        gradient_penalty = ((gradients.norm(2, dim=1) - 1) ** 2).mean()
        return gradient_penalty

    d_losses, g_losses, penalties = [], [], []
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
        fake_imgs = generator(z)
        # Real images
        real_validity = discriminator(real_imgs)
        # Fake images
        fake_validity = discriminator(fake_imgs)
        # Gradient penalty
        gradient_penalty = compute_gradient_penalty(discriminator, real_imgs.data, fake_imgs.data)
        # Adversarial loss
        d_loss = -torch.mean(real_validity) + torch.mean(fake_validity) + lambda_gp * gradient_penalty
        d_loss.backward()
        optimizer_D.step()
        optimizer_G.zero_grad()
        d_losses.append(d_loss.item())
        penalties.append(gradient_penalty.item())

        # Train the generator every n_critic steps
        if i % n_critic == 0:
            # -----------------
            #  Train Generator
            # -----------------
            # Generate a batch of images
            fake_imgs = generator(z)
            # Loss measures generator's ability to fool the discriminator
            # Train on fake images
            fake_validity = discriminator(fake_imgs)
            g_loss = -torch.mean(fake_validity)
            g_loss.backward()
            optimizer_G.step()
            g_losses.append(g_loss.item())
    return {"d_loss": d_losses, "g_loss": g_losses, "gradient_penalty": penalties}
