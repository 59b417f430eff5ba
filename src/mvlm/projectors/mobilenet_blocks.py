"""MobileNetV3 building blocks as LDP (MobileVLM v1) uses them.

Rebuilt from their published semantics (torchvision 0.15's ``InvertedResidual`` /
``SqueezeExcitation`` / ``Conv2dNormActivation`` and timm's ``LayerNormAct2d``) with the same
attribute names and nesting, so the published state-dict keys (``block.0.0.weight``,
``block.1.fc1.weight``, ...) load unchanged. Neither torchvision nor timm is needed.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["ChannelLayerNorm2d", "InvertedResidual", "SqueezeExcitation", "make_divisible"]


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to a multiple of ``divisor`` (at least ``divisor``), never losing over 10 %.

    This is the channel rounding MobileNet uses for the squeeze width: 512 for 2048 // 4.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


class ChannelLayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a ``[B, C, H, W]`` map (each pixel normalised on its own).

    Same parameters (``weight``, ``bias``) and numerics as timm's ``LayerNormAct2d`` without an
    activation: permute to channels-last, ``layer_norm`` over C, permute back.
    """

    def __init__(self, num_channels: int, eps: float = 1e-5) -> None:
        super().__init__(num_channels, eps=eps)

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: ``x * gate(fc2(act(fc1(avgpool(x)))))``.

    The defaults (ReLU, hard-sigmoid gate) are MobileNetV3's, as LDP uses them.

    Args:
        channels: Input and output channels.
        squeeze_channels: Width of the bottleneck.
        activation: Activation between the two 1x1 convs.
        gate: Activation that turns the excitation into a per-channel scale.
    """

    def __init__(
        self,
        channels: int,
        squeeze_channels: int,
        activation: type[nn.Module] = nn.ReLU,
        gate: type[nn.Module] = nn.Hardsigmoid,
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.activation = activation()
        self.scale_activation = gate()

    def forward(self, x: Tensor) -> Tensor:
        scale = self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


class InvertedResidual(nn.Module):
    """MobileNetV3 inverted residual whose expanded width equals its input width (so no expand conv).

    ``block`` = [depthwise 3x3 conv (no bias) -> channel LayerNorm -> Hardswish,
    squeeze-excitation, pointwise 1x1 conv (no bias) -> channel LayerNorm]; the input is added back
    when ``stride == 1``.

    Args:
        channels: Input = expanded = output channels.
        stride: Stride of the depthwise conv (1 keeps the grid, 2 halves it).
        kernel_size: Depthwise kernel size (3 in LDP).
        layer_norm_eps: Epsilon of the channel LayerNorms.
    """

    def __init__(self, channels: int, stride: int = 1, kernel_size: int = 3, layer_norm_eps: float = 1e-5) -> None:
        super().__init__()
        depthwise = nn.Sequential(
            nn.Conv2d(
                channels,
                channels,
                kernel_size,
                stride=stride,
                padding=(kernel_size - 1) // 2,
                groups=channels,
                bias=False,
            ),
            ChannelLayerNorm2d(channels, eps=layer_norm_eps),
            nn.Hardswish(),
        )
        pointwise = nn.Sequential(
            nn.Conv2d(channels, channels, 1, bias=False),
            ChannelLayerNorm2d(channels, eps=layer_norm_eps),
        )
        self.block = nn.Sequential(depthwise, SqueezeExcitation(channels, make_divisible(channels // 4, 8)), pointwise)
        self.stride = stride
        self.kernel_size = kernel_size
        self.use_res_connect = stride == 1

    def forward(self, x: Tensor) -> Tensor:
        out = self.block(x)
        return out + x if self.use_res_connect else out

    def output_size(self, size: int) -> int:
        """Grid side after this block for an input side ``size``."""
        padding = (self.kernel_size - 1) // 2
        return (size + 2 * padding - self.kernel_size) // self.stride + 1
