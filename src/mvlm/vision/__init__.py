"""Vision towers (pixels ``[B, 3, S, S]`` -> features ``[B, N, hidden]``) and image preprocessing.

Importing this package registers the built-in towers (``clip``, ``siglip``, ``timm``) without
importing transformers or timm: those are imported when a tower is built.

Example:
    >>> import numpy as np
    >>> from mvlm.vision import ImageProcessor, create_vision_tower
    >>> tiny = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
    ...         "num_attention_heads": 4, "image_size": 56, "patch_size": 14}
    >>> tower = create_vision_tower("clip", config=tiny, select_layer=-2, select_feature="patch")
    >>> processor = ImageProcessor.for_tower(tower)
    >>> pixels = processor([np.zeros((30, 50, 3), np.uint8), np.ones((64, 64), np.uint8)])
    >>> pixels.shape, tower(pixels).shape
    (torch.Size([2, 3, 56, 56]), torch.Size([2, 16, 32]))
"""

from mvlm.vision.base import (
    SELECT_FEATURES,
    VISION_TOWERS,
    AutoVisionTower,
    VisionTower,
    VisionTowerFactory,
    create_vision_tower,
    get_vision_tower_class,
    list_vision_towers,
    register_vision_tower,
    resolve_select_layer,
)
from mvlm.vision.clip import CLIPVisionTower
from mvlm.vision.presets import (
    OPENAI_CLIP_MEAN,
    OPENAI_CLIP_STD,
    SIGLIP_MEAN,
    SIGLIP_STD,
    VISION_TOWER_PRESETS,
    get_vision_tower_preset,
    is_vision_tower_preset,
    list_vision_tower_presets,
)
from mvlm.vision.processing import ImageInput, ImageProcessor, expand_to_square, load_image, to_rgb
from mvlm.vision.siglip import SiglipVisionTower
from mvlm.vision.timm import TimmVisionTower
from mvlm.vision.transformers_vit import TransformersViTTower, VisionModelHolder

__all__ = [
    "OPENAI_CLIP_MEAN",
    "OPENAI_CLIP_STD",
    "SELECT_FEATURES",
    "SIGLIP_MEAN",
    "SIGLIP_STD",
    "VISION_TOWERS",
    "VISION_TOWER_PRESETS",
    "AutoVisionTower",
    "CLIPVisionTower",
    "ImageInput",
    "ImageProcessor",
    "SiglipVisionTower",
    "TimmVisionTower",
    "TransformersViTTower",
    "VisionModelHolder",
    "VisionTower",
    "VisionTowerFactory",
    "create_vision_tower",
    "expand_to_square",
    "get_vision_tower_class",
    "get_vision_tower_preset",
    "is_vision_tower_preset",
    "list_vision_tower_presets",
    "list_vision_towers",
    "load_image",
    "register_vision_tower",
    "resolve_select_layer",
    "to_rgb",
]
