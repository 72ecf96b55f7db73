"""B1-B4 (benchmarks/bench_models.py) at tiny sizes, layer for layer the same: the same ops in
the same order, so the same kernel launches and host syncs a step (the kernels' choices do
not depend on sizes on the cuda device), at a size the CUDA simulator runs in seconds."""
import numpy as np
import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
import tinygen.optim as optim


def tiny_step(mid, device="cuda"):
    """A closure running one training step of model `mid` ('B1'..'B4') on `device`."""
    tg.manual_seed(0)
    bce = F.binary_cross_entropy_with_logits
    rng = np.random.default_rng(0)

    def batch(shape):
        return tg.tensor((rng.random(shape) < 0.3).astype(np.float32), device=device)
    if mid == "B1":   # 784-400-(20, 20) / 20-400-784 -> 16-8-(2, 2) / 2-8-16, batch 3
        enc, mu_h, lv_h, d1, d2 = (nn.Linear(i, o).to(device) for i, o in
                                   ((16, 8), (8, 2), (8, 2), (2, 8), (8, 16)))
        opt = optim.Adam([p for m in (enc, mu_h, lv_h, d1, d2) for p in m.parameters()], lr=1e-3)
        x = batch((3, 16))

        def step():
            h = F.relu(enc(x))
            mu, lv = mu_h(h), lv_h(h)
            z = mu + (lv * 0.5).exp() * tg.randn(3, 2, device=device)
            loss = bce(d2(F.relu(d1(z))), x, reduction="sum") - 0.5 * (1 + lv - mu * mu - lv.exp()).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    if mid == "B2":   # channels 128/64 -> 4/2, images 28 -> 8, batch 2
        G = nn.Sequential(nn.Linear(4, 4 * 2 * 2), nn.BatchNorm1d(4 * 2 * 2), nn.ReLU(),
                          nn.Unflatten(1, (4, 2, 2)), nn.ConvTranspose2d(4, 2, 4, 2, 1),
                          nn.BatchNorm2d(2), nn.ReLU(), nn.ConvTranspose2d(2, 1, 4, 2, 1)).to(device)
        D = nn.Sequential(nn.Conv2d(1, 2, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(2, 4, 4, 2, 1),
                          nn.BatchNorm2d(4), nn.LeakyReLU(0.2), nn.Flatten(),
                          nn.Linear(4 * 2 * 2, 1)).to(device)
        opt_g = optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        opt_d = optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        x = tg.tensor(rng.random((2, 1, 8, 8)).astype(np.float32), device=device)
        ones, zeros = tg.ones(2, 1, device=device), tg.zeros(2, 1, device=device)

        def step():
            fake = F.sigmoid(G(tg.randn(2, 4, device=device)))
            loss_d = bce(D(x), ones) + bce(D(fake.detach()), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = bce(D(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        return step
    if mid == "B3":   # 64 channels -> 2, 28x28 -> 6x6, batch 2
        layers = [nn.MaskedConv2d(1, 2, 7, mask_type="A", padding=3)]
        for _ in range(5):
            layers += [nn.MaskedConv2d(2, 2, 3, mask_type="B", padding=1), nn.ReLU()]
        net = nn.Sequential(*layers, nn.Conv2d(2, 2, 1), nn.ReLU(), nn.Conv2d(2, 1, 1)).to(device)
        opt = optim.Adam(net.parameters(), lr=1e-3)
        x = batch((2, 1, 6, 6))

        def step():
            loss = bce(net(x), x, reduction="sum") * (1.0 / 2)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return step
    # B4: channels 32/64 -> 2/4, 28 -> 8, batch 2
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3, 2, 1), nn.ReLU(), nn.Conv2d(2, 4, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(4 * 2 * 2, 3), nn.Linear(3, 4 * 2 * 2), nn.ReLU(),
        nn.Unflatten(1, (4, 2, 2)), nn.ConvTranspose2d(4, 2, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(2, 1, 4, 2, 1)).to(device)
    opt = optim.Adam(net.parameters(), lr=1e-3)
    x = batch((2, 1, 8, 8))

    def step():
        loss = bce(net(x), x, reduction="sum")
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step
