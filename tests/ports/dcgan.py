"""DCGAN (Radford et al. 2016), after pytorch/examples/dcgan/main.py for 28x28 one-channel
images: transposed convolutions up from a 1x1 code, strided convolutions down to a logit.
As the example before 2020, `weights_init` (applied with `model.apply`) initialises through
`.data` (`m.weight.data.normal_(0.0, 0.02)`, `m.bias.data.fill_(0)`), and the saved sample
grid reads `fake.data`.
"""


def build(torch, nn, F, rng, nz=16, ngf=8, ndf=8):
    # custom weights initialization called on netG and netD
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            m.weight.data.normal_(0.0, 0.02)
        elif classname.find('BatchNorm') != -1:
            m.weight.data.normal_(1.0, 0.02)
            m.bias.data.fill_(0)

    class Generator(nn.Module):
        def __init__(self):
            super(Generator, self).__init__()
            self.main = nn.Sequential(
                # input is Z, going into a convolution
                nn.ConvTranspose2d(nz, ngf * 2, 7, 1, 0, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.ReLU(True),
                # state size. (ngf*2) x 7 x 7
                nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.ReLU(True),
                # state size. (ngf) x 14 x 14
                nn.ConvTranspose2d(ngf, 1, 4, 2, 1, bias=False),
                nn.Tanh()
                # state size. (nc) x 28 x 28
            )

        def forward(self, input):
            return self.main(input)

    class Discriminator(nn.Module):
        def __init__(self):
            super(Discriminator, self).__init__()
            self.main = nn.Sequential(
                # input is (nc) x 28 x 28
                nn.Conv2d(1, ndf, 4, 2, 1, bias=False),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf) x 14 x 14
                nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(ndf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                # state size. (ndf*2) x 7 x 7
                nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False),
                nn.Sigmoid()
            )

        def forward(self, input):
            output = self.main(input)
            return output.view(-1, 1).squeeze(1)

    netG = Generator()
    netG.apply(weights_init)
    netD = Discriminator()
    netD.apply(weights_init)
    return {"netG": netG, "netD": netD}


def run(torch, nn, F, optim, data, steps, models, rng, nz=16, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    # transforms.Normalize((0.5,), (0.5,)) in the example: pixels to [-1, 1]
    images = torch.tensor(data["images"]) * 2 - 1
    dataloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images),
                                             batch_size=8, shuffle=False, drop_last=True)
    netG, netD = models["netG"].to(device), models["netD"].to(device)
    criterion = nn.BCELoss()
    fixed_noise = rng.randn(4, nz, 1, 1).to(device)
    real_label = 1
    fake_label = 0
    optimizerD = optim.Adam(netD.parameters(), lr=0.0002, betas=(0.5, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=0.0002, betas=(0.5, 0.999))

    losses_d, losses_g, d_x = [], [], []
    for i, data_ in enumerate(dataloader, 0):
        if i == steps:
            break
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        # train with real
        netD.zero_grad()
        real_cpu = data_[0].to(device)
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), real_label, dtype=real_cpu.dtype, device=device)

        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.mean().item()

        # train with fake
        noise = rng.randn(batch_size, nz, 1, 1).to(device)
        fake = netG(noise)
        label.fill_(fake_label)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.mean().item()
        errD = errD_real + errD_fake
        optimizerD.step()

        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(real_label)  # fake labels are real for generator cost
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.mean().item()
        optimizerG.step()
        assert 0 <= D_G_z1 <= 1 and 0 <= D_G_z2 <= 1
        losses_d.append(errD.item())
        losses_g.append(errG.item())
        d_x.append(D_x)

    netG.eval()
    fake = netG(fixed_noise)
    # vutils.save_image(fake.data, '%s/fake_samples.png' % opt.outf, normalize=True) in the
    # example: the grid's values
    grid = fake.data.cpu().numpy()
    return {"loss_d": losses_d, "loss_g": losses_g, "D_x": d_x,
            "fixed_fake_mean": float(grid.mean()), "fixed_fake_shape": list(grid.shape)}
