"""PixelCNN (van den Oord et al. 2016), after jzbontar/pixelcnn-pytorch: masked convolutions
written as a subclass of nn.Conv2d that zeroes the weights' future taps through
`self.weight.data`, a 256-way softmax per pixel trained with cross_entropy. Narrower and
shallower than the original.

Old torch code reaches into `.data` like this everywhere (the mask, the target pixels,
`nn.init.normal_(m.weight.data, ...)`); tinygen's `.data` is torch's (a Tensor sharing the
values, outside the graph), so the script runs as written.
"""


def build(torch, nn, F, rng, fm=8):
    class MaskedConv2d(nn.Conv2d):
        def __init__(self, mask_type, *args, **kwargs):
            super(MaskedConv2d, self).__init__(*args, **kwargs)
            assert mask_type in {'A', 'B'}
            self.register_buffer('mask', self.weight.data.clone())
            _, _, kH, kW = self.weight.size()
            self.mask.fill_(1)
            self.mask[:, :, kH // 2, kW // 2 + (mask_type == 'B'):] = 0
            self.mask[:, :, kH // 2 + 1:] = 0

        def forward(self, x):
            self.weight.data *= self.mask
            return super(MaskedConv2d, self).forward(x)

    net = nn.Sequential(
        MaskedConv2d('A', 1, fm, 7, 1, 3, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        MaskedConv2d('B', fm, fm, 7, 1, 3, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        MaskedConv2d('B', fm, fm, 7, 1, 3, bias=False), nn.BatchNorm2d(fm), nn.ReLU(True),
        nn.Conv2d(fm, 256, 1))
    return {"net": net}


def run(torch, nn, F, optim, data, steps, models, rng, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    # binarized pixels in {0, 1}, as 0 or 255 targets of the 256-way softmax
    images = (torch.tensor(data["images"]) > 0.5).float()
    tr = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(images, images),
                                     batch_size=8, shuffle=False)
    net = models["net"].to(device)
    optimizer = optim.Adam(net.parameters())
    losses = []
    net.train()
    for i, (input, _) in enumerate(tr):
        if i == steps:
            break
        input = input.to(device)
        target = (input.data[:, 0] * 255).long()
        loss = F.cross_entropy(net(input), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # one pixel of a sample, drawn from the model's distribution (as the original's loop)
    net.eval()
    with torch.no_grad():
        sample = torch.zeros(2, 1, 28, 28, device=device)
        out = net(sample)
        probs = F.softmax(out[:, :, 0, 0], dim=1).data
    return {"losses": losses, "first_pixel_p0": probs[:, 0].sum().item()}
