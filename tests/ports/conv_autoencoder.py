"""Convolutional autoencoder with nn.Upsample in the decoder, as in the common "denoising
autoencoder" tutorials: conv + max-pool down to 4x7x7, conv + upsample (nearest, then
bilinear) back to 1x28x28, MSE reconstruction loss, AdamW with a cosine schedule.
"""


def build(torch, nn, F, rng):
    class ConvAutoencoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Sequential(
                nn.Conv2d(1, 8, 3, padding=1),   # 8 x 28 x 28
                nn.ReLU(),
                nn.MaxPool2d(2, 2),              # 8 x 14 x 14
                nn.Conv2d(8, 4, 3, padding=1),   # 4 x 14 x 14
                nn.ReLU(),
                nn.MaxPool2d(2, 2),              # 4 x 7 x 7
            )
            self.decoder = nn.Sequential(
                nn.Conv2d(4, 8, 3, padding=1),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode='nearest'),                          # 14 x 14
                nn.Conv2d(8, 8, 3, padding=1),
                nn.ReLU(),
                nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),    # 28 x 28
                nn.Conv2d(8, 1, 3, padding=1),
                nn.Sigmoid(),
            )

        def forward(self, x):
            return self.decoder(self.encoder(x))

    return {"model": ConvAutoencoder()}


def run(torch, nn, F, optim, data, steps, models, rng, noise_factor=0.3, no_cuda=False):
    use_cuda = not no_cuda and torch.cuda.is_available()
    device = torch.device("cuda" if use_cuda else "cpu")
    dataset = torch.utils.data.TensorDataset(torch.tensor(data["images"]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=False)
    model = models["model"].to(device)
    criterion = nn.MSELoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)

    losses = []
    model.train()
    for i, (images,) in enumerate(loader):
        if i == steps:
            break
        images = images.to(device)
        # add noise, keep the pixels in [0, 1]
        noisy = images + noise_factor * rng.randn(*images.shape).to(device)
        noisy = torch.clamp(noisy, 0., 1.)
        outputs = model(noisy)
        loss = criterion(outputs, images)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())

    model.eval()
    with torch.no_grad():
        images = next(iter(loader))[0].to(device)
        recon = model(images)
    return {"losses": losses, "recon_mean": recon.mean().item(),
            "recon_shape": list(recon.shape), "last_lr": scheduler.get_last_lr()[0]}
