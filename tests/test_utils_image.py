"""make_grid / save_image against torchvision's algorithm (transcribed below, run on torch),
and the PNG they write read back pixel for pixel."""
import io
import math

import numpy as np
import pytest

import tinygen as tg
from tinygen.utils import make_grid, save_image


def torchvision_make_grid(torch, tensor, nrow=8, padding=2, normalize=False, value_range=None,
                          scale_each=False, pad_value=0.0):
    """torchvision.utils.make_grid (0.19) as published, argument checks left out."""
    if isinstance(tensor, list):
        tensor = torch.stack(tensor, dim=0)
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 3:
        if tensor.size(0) == 1:
            tensor = torch.cat((tensor, tensor, tensor), 0)
        tensor = tensor.unsqueeze(0)
    if tensor.dim() == 4 and tensor.size(1) == 1:
        tensor = torch.cat((tensor, tensor, tensor), 1)
    if normalize is True:
        tensor = tensor.clone()

        def norm_ip(img, low, high):
            img.clamp_(min=low, max=high)
            img.sub_(low).div_(max(high - low, 1e-5))

        def norm_range(t, value_range):
            if value_range is not None:
                norm_ip(t, value_range[0], value_range[1])
            else:
                norm_ip(t, float(t.min()), float(t.max()))

        if scale_each is True:
            for t in tensor:
                norm_range(t, value_range)
        else:
            norm_range(tensor, value_range)
    if tensor.size(0) == 1:
        return tensor.squeeze(0)
    nmaps = tensor.size(0)
    xmaps = min(nrow, nmaps)
    ymaps = int(math.ceil(float(nmaps) / xmaps))
    height, width = int(tensor.size(2) + padding), int(tensor.size(3) + padding)
    num_channels = tensor.size(1)
    grid = tensor.new_full((num_channels, height * ymaps + padding, width * xmaps + padding),
                           pad_value)
    k = 0
    for y in range(ymaps):
        for x in range(xmaps):
            if k >= nmaps:
                break
            grid.narrow(1, y * height + padding, height - padding).narrow(
                2, x * width + padding, width - padding).copy_(tensor[k])
            k = k + 1
    return grid


CASES = [
    dict(shape=(5, 1, 4, 3)), dict(shape=(5, 1, 4, 3), nrow=2, padding=1, pad_value=0.5),
    dict(shape=(7, 3, 2, 2), nrow=3, normalize=True),
    dict(shape=(4, 3, 3, 3), normalize=True, scale_each=True),
    dict(shape=(4, 1, 3, 3), normalize=True, value_range=(-1.0, 1.0), padding=0),
    dict(shape=(1, 3, 4, 4)), dict(shape=(3, 4, 4)), dict(shape=(1, 4, 4)), dict(shape=(4, 5)),
    dict(shape=(9, 1, 2, 2), nrow=20),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_make_grid_equals_torchvision(case):
    torch = pytest.importorskip("torch")
    case = dict(case)
    x = np.random.default_rng(0).standard_normal(case.pop("shape")).astype(np.float32)
    want = torchvision_make_grid(torch, torch.from_numpy(x), **case).numpy()
    got = make_grid(tg.tensor(x), **case)
    assert isinstance(got, tg.Tensor) and got.dtype == tg.float32
    np.testing.assert_array_equal(got.numpy(), want)


def test_make_grid_of_a_list_and_bad_input():
    images = [tg.rand(1, 2, 2) for _ in range(3)]
    assert make_grid(images, padding=0).shape == (3, 2, 6)
    with pytest.raises(TypeError, match="value_range"):
        make_grid(tg.rand(2, 1, 2, 2), normalize=True, value_range=[0, 1])
    with pytest.raises(ValueError, match="make_grid"):
        make_grid(tg.rand(1, 1, 1, 2, 2))


def test_save_image_writes_torchvisions_pixels(tmp_path):
    import matplotlib.image
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).random((6, 1, 5, 4)).astype(np.float32)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = -0.2, 1.3    # clamped as torchvision clamps
    path = tmp_path / "grid.png"
    save_image(tg.tensor(x), path, nrow=4, padding=1, pad_value=1)
    grid = torchvision_make_grid(torch, torch.from_numpy(x), nrow=4, padding=1, pad_value=1)
    want = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8).numpy()
    got = np.round(matplotlib.image.imread(path)[..., :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(got, want)
    buf = io.BytesIO()
    save_image(tg.tensor(x), buf)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
