"""Write your own projector, register it, and build it by name — as a config would.

Run: python examples/custom_projector.py
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mvlm.projectors import AutoProjector, Projector, create_projector, register_projector
from mvlm.projectors.grid import GridLike, infer_grid, map_to_tokens, tokens_to_map


@register_projector("strided_conv", aliases=("my_proj",))
class StridedConvProjector(Projector):
    """A strided convolution over the token grid, then a linear layer: N tokens -> N / stride^2.

    Args:
        in_dim: Vision feature width.
        out_dim: Language-model width.
        stride: Down-sampling factor per grid side.
    """

    def __init__(self, in_dim: int, out_dim: int, stride: int = 2) -> None:
        super().__init__(in_dim, out_dim)  # validates and stores in_dim / out_dim
        self.stride = stride
        self.conv = nn.Conv2d(in_dim, in_dim, kernel_size=stride, stride=stride)
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, features: Tensor, grid: GridLike | None = None) -> Tensor:
        """``[batch, h*w, in_dim]`` -> ``[batch, (h//stride)*(w//stride), out_dim]``."""
        self.check_features(features)
        h, w = infer_grid(features.shape[1], grid, "strided_conv")
        return self.proj(map_to_tokens(self.conv(tokens_to_map(features, (h, w)))))

    def num_output_tokens(self, num_input_tokens: int, grid: GridLike | None = None) -> int:
        h, w = infer_grid(num_input_tokens, grid, "strided_conv")
        return (h // self.stride) * (w // self.stride)


def main() -> None:
    features = torch.randn(2, 576, 1024)  # CLIP ViT-L/14-336 patch features

    projector = create_projector("my_proj", in_dim=1024, out_dim=2048, stride=3)
    tokens = projector(features)
    assert tokens.shape == (2, projector.num_output_tokens(576), 2048) == (2, 64, 2048)

    # A MobileVLM-style config names the projector; AutoProjector builds it.
    config = {"mm_projector_type": "strided_conv", "mm_hidden_size": 1024, "hidden_size": 2048}  # default stride 2
    from_config = AutoProjector.from_config(config)
    print(
        f"{type(from_config).__name__}: {features.shape[1]} vision tokens -> {from_config(features).shape[1]} LM tokens"
    )


if __name__ == "__main__":
    main()
