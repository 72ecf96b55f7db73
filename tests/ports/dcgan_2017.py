"""DCGAN (Radford et al. 2016), pytorch/examples/dcgan/main.py as it was in 2017 (torch 0.2),
for 28x28 one-channel images: buffers made once with torch.FloatTensor(...) and reused batch
after batch (`input.resize_as_(real_cpu).copy_(real_cpu)`, `label.resize_(batch_size)
.fill_(real_label)`, `noise.resize_(batch_size, nz, 1, 1)`), wrapped in Variables, the
`isinstance(input.data, torch.cuda.FloatTensor)` test before data_parallel, weights_init
through `.data`, D(x) as `output.data.mean()`, and the progress line formatted from tensors
(the nn.parallel.data_parallel branch for several GPUs is left out: tinygen has one device).
`.normal_(0, 1)` on the noise buffers draws from the test's shared stream instead, and
`errD.data[0]` of that time is `errD.item()` (indexing a 0-d tensor is an error since 0.5).
"""


def build(torch, nn, F, rng, nz=16, ngf=8, ndf=8, ngpu=1):
    # custom weights initialization called on netG and netD
    def weights_init(m):
        classname = m.__class__.__name__
        if classname.find('Conv') != -1:
            m.weight.data.normal_(0.0, 0.02)
        elif classname.find('BatchNorm') != -1:
            m.weight.data.normal_(1.0, 0.02)
            m.bias.data.fill_(0)

    class _netG(nn.Module):
        def __init__(self, ngpu):
            super(_netG, self).__init__()
            self.ngpu = ngpu
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
            # the example: nn.parallel.data_parallel(self.main, input, range(self.ngpu)) when
            # isinstance(input.data, torch.cuda.FloatTensor) and self.ngpu > 1 (one device here)
            assert not (isinstance(input.data, torch.cuda.FloatTensor) and self.ngpu > 1)
            output = self.main(input)
            return output

    class _netD(nn.Module):
        def __init__(self, ngpu):
            super(_netD, self).__init__()
            self.ngpu = ngpu
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
            assert not (isinstance(input.data, torch.cuda.FloatTensor) and self.ngpu > 1)
            output = self.main(input)

            return output.view(-1, 1).squeeze(1)

    netG = _netG(ngpu)
    netG.apply(weights_init)
    netD = _netD(ngpu)
    netD.apply(weights_init)
    return {"netG": netG, "netD": netD}


def run(torch, nn, F, optim, data, steps, models, rng, nz=16, batchSize=8, lr=0.0002, beta1=0.5,
        no_cuda=False):
    Variable = torch.autograd.Variable
    cuda = not no_cuda and torch.cuda.is_available()
    # transforms.Normalize((0.5,), (0.5,)) in the example: pixels to [-1, 1]
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]) * 2 - 1,
                                             torch.tensor(data["labels"]))
    dataloader = torch.utils.data.DataLoader(dataset, batch_size=batchSize, shuffle=False)
    netG, netD = models["netG"], models["netD"]

    criterion = nn.BCELoss()

    input = torch.FloatTensor(batchSize, 1, 28, 28)
    noise = torch.FloatTensor(batchSize, nz, 1, 1)
    fixed_noise = torch.FloatTensor(batchSize, nz, 1, 1).copy_(rng.randn(batchSize, nz, 1, 1))
    label = torch.FloatTensor(batchSize)
    real_label = 1
    fake_label = 0

    if cuda:
        netD.cuda()
        netG.cuda()
        criterion.cuda()
        input, label = input.cuda(), label.cuda()
        noise, fixed_noise = noise.cuda(), fixed_noise.cuda()

    fixed_noise = Variable(fixed_noise)

    # setup optimizer
    optimizerD = optim.Adam(netD.parameters(), lr=lr, betas=(beta1, 0.999))
    optimizerG = optim.Adam(netG.parameters(), lr=lr, betas=(beta1, 0.999))

    losses_d, losses_g, d_x, lines = [], [], [], []
    for epoch in range(2):
        for i, data in enumerate(dataloader, 0):
            if i == steps // 2:
                break
            ############################
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            ###########################
            # train with real
            netD.zero_grad()
            real_cpu, _ = data
            batch_size = real_cpu.size(0)
            if cuda:
                real_cpu = real_cpu.cuda()
            input.resize_as_(real_cpu).copy_(real_cpu)
            label.resize_(batch_size).fill_(real_label)
            inputv = Variable(input)
            labelv = Variable(label)

            output = netD(inputv)
            errD_real = criterion(output, labelv)
            errD_real.backward()
            D_x = output.data.mean()

            # train with fake
            noise.resize_(batch_size, nz, 1, 1).copy_(rng.randn(batch_size, nz, 1, 1))
            noisev = Variable(noise)
            fake = netG(noisev)
            labelv = Variable(label.fill_(fake_label))
            output = netD(fake.detach())
            errD_fake = criterion(output, labelv)
            errD_fake.backward()
            D_G_z1 = output.data.mean()
            errD = errD_real + errD_fake
            optimizerD.step()

            ############################
            # (2) Update G network: maximize log(D(G(z)))
            ###########################
            netG.zero_grad()
            labelv = Variable(label.fill_(real_label))  # fake labels are real for generator cost
            output = netD(fake)
            errG = criterion(output, labelv)
            errG.backward()
            D_G_z2 = output.data.mean()
            optimizerG.step()

            lines.append('[%d/%d][%d/%d] Loss_D: %.4f Loss_G: %.4f D(x): %.4f D(G(z)): %.4f / %.4f'
                         % (epoch, 2, i, len(dataloader),
                            errD.item(), errG.item(), D_x, D_G_z1, D_G_z2))
            losses_d.append(errD.item())
            losses_g.append(errG.item())
            d_x.append(float(D_x))
        # vutils.save_image(fake.data, '%s/fake_samples_epoch_%03d.png' % (opt.outf, epoch),
        # normalize=True) in the example: the grid's values
        fake = netG(fixed_noise)
        grid = fake.data.cpu().numpy()
    assert all(line.startswith('[') and 'Loss_D: ' in line for line in lines)
    return {"loss_d": losses_d, "loss_g": losses_g, "D_x": d_x,
            "fixed_fake_mean": float(grid.mean()), "label_shape": list(label.shape)}
