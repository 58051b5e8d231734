"""CIFAR-10 ResNets: He et al.'s ResNet-20/32/56 (option-A shortcuts) and the thesis ResNet-18.

Module names match the checkpoints in ``../shared/weights/cifar10-resnet`` (akamaster's keys
without the ``module.`` prefix), so those state dicts load strictly.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18

from invert.encoders.specs import CIFAR_RESNET_ALIASES, RESNET_ALIASES, register
from invert.encoders.weights import load_state_dict_file
from invert.errors import InvertError

CIFAR = {"input_shape": (3, 32, 32), "aliases": CIFAR_RESNET_ALIASES}


def shared_weights(depth: int) -> Callable[[], dict[str, torch.Tensor]]:
    """The trained CIFAR-10 ResNet-{20,32,56} from the offline ``shared/weights`` folder (read when asked for)."""

    def load() -> dict[str, torch.Tensor]:
        from invert.io import shared_dir

        root = shared_dir()
        found = sorted((root / "weights" / "cifar10-resnet").glob(f"resnet{depth}-*.th")) if root else []
        if not found:
            raise InvertError(
                f"trained weights for cifar_resnet{depth} not found: set INVERT_SHARED to the folder holding "
                f"weights/cifar10-resnet/resnet{depth}-*.th, or pass --weights FILE"
            )
        return load_state_dict_file(found[0])

    return load


class PadShortcut(nn.Module):
    """Option-A shortcut: stride-2 subsample and zero-pad channels; parameter-free."""

    def __init__(self, pad_channels: int):
        super().__init__()
        self.pad_channels = pad_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad_channels, self.pad_channels))


class CifarBasicBlock(nn.Module):
    """3×3–3×3 residual block with an option-A (padding) shortcut when the shape changes."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=False)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = PadShortcut(planes // 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """He et al. (2016) CIFAR ResNet-(6n+2): 16/32/64 channels, 32×32 input, 10 classes."""

    def __init__(self, blocks_per_stage: int, num_classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=False)
        self.in_planes = 16
        self.layer1 = self._stage(16, blocks_per_stage, 1)
        self.layer2 = self._stage(32, blocks_per_stage, 2)
        self.layer3 = self._stage(64, blocks_per_stage, 2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():  # the reference init (Kaiming normal for conv and linear)
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def _stage(self, planes: int, n: int, stride: int) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(CifarBasicBlock(self.in_planes, planes, s))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(self.flatten(self.avgpool(x)))


@register(**CIFAR, trained_weights=shared_weights(20), description="He et al. CIFAR-10 ResNet-20 (option-A shortcuts)")
def cifar_resnet20(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(3, num_classes)


@register(**CIFAR, trained_weights=shared_weights(32), description="He et al. CIFAR-10 ResNet-32 (option-A shortcuts)")
def cifar_resnet32(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(5, num_classes)


@register(**CIFAR, trained_weights=shared_weights(56), description="He et al. CIFAR-10 ResNet-56 (option-A shortcuts)")
def cifar_resnet56(num_classes: int = 10) -> CifarResNet:
    return CifarResNet(9, num_classes)


@register(
    input_shape=(3, 32, 32),
    aliases=RESNET_ALIASES,
    description="ResNet-18 for CIFAR-10 (3×3 stem, no max-pool), the thesis encoder",
)
def cifar_resnet18(num_classes: int = 10) -> nn.Module:
    """The thesis ResNet-18 for CIFAR: torchvision's ResNet-18 with a 3×3 stride-1 stem and no max-pool."""
    model = resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model
