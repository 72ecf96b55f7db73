"""tinygen.utils: torch.utils.data (the data pipeline) and torchvision.utils' picture helpers.

    from tinygen.utils.data import DataLoader, TensorDataset
    from tinygen.utils import save_image, make_grid
"""
from tinygen.utils import data  # noqa: F401  (tg.utils.data after `import tinygen`)
from tinygen.utils.image import make_grid, save_image  # noqa: F401,E402
