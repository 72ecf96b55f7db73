"""MNIST and Fashion-MNIST in torchvision's shape: Datasets of (image, label) pairs.

    train = tinygen.data.MNIST("data", train=True, download=True)
    image, label = train[0]        # image (1, 28, 28) float32 Tensor in [0, 1], label an int
    loader = DataLoader(train, batch_size=64, shuffle=True)

torchvision hands a PIL image to `transform`, and users write transforms.ToTensor() first.
tinygen has no PIL and no torchvision, so the image it serves, and hands to `transform`, is
already what ToTensor() would make: a float32 Tensor (1, 28, 28) = pixels / 255. A ported
`Compose([ToTensor(), Normalize((0.1307,), (0.3081,))])` becomes
`transform=lambda x: (x - 0.1307) / 0.3081`. `.data` (N, 28, 28) uint8 and `.targets` (N,)
int64 are Tensors, and `.classes` the class names, as torchvision's.

The files are found, downloaded and checked by tinygen.data.sources (root is the data
directory: files directly in it, in root/<name>/, or in torchvision's root/MNIST/raw/).
"""
import numpy as np

from tinygen.autograd.tensor import Tensor
from tinygen.data import sources
from tinygen.utils.data import Dataset


class MNIST(Dataset):
    """LeCun et al.'s handwritten digits: 60,000 train or 10,000 test (image, label) pairs."""

    name = "mnist"

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root, self.train = root, train
        self.transform, self.target_transform = transform, target_transform
        pixels, labels = sources.load_arrays(self.name, "train" if train else "test",
                                             data_dir=root, download=download)
        self.data = Tensor(pixels)        # (N, 28, 28) uint8
        self.targets = Tensor(labels)    # (N,) int64
        self.classes = list(sources.IDX_SOURCES[self.name].classes)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        pixels = self.data.array[index]
        image = Tensor(pixels[None].astype(np.float32) / np.float32(255))   # (1, 28, 28)
        target = int(self.targets.array[index])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self):
        return (f"Dataset {type(self).__name__}\n    Number of datapoints: {len(self)}\n"
                f"    Root location: {self.root}\n    Split: {'Train' if self.train else 'Test'}")


class FashionMNIST(MNIST):
    """Xiao et al.'s clothing images, in MNIST's layout: ten classes, same sizes."""

    name = "fashion-mnist"
