"""mvlm: modular building blocks for MobileVLM-family vision-language models.

``import mvlm`` is cheap: the public names below are imported on first use. Import the
sub-packages (``mvlm.projectors``, ...) directly to use a single block on its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvlm import _transformers_hook
from mvlm._lazy import lazy_exports
from mvlm._version import __version__

# public name -> module that defines it; resolved lazily by __getattr__.
_LAZY_EXPORTS: dict[str, str] = {
    "MvlmError": "mvlm.errors",
    "Registry": "mvlm.registry",
    "Projector": "mvlm.projectors",
    "AutoProjector": "mvlm.projectors",
    "create_projector": "mvlm.projectors",
    "list_projectors": "mvlm.projectors",
    "register_projector": "mvlm.projectors",
    "Conversation": "mvlm.prompting",
    "get_conversation": "mvlm.prompting",
    "list_conversations": "mvlm.prompting",
    "register_conversation": "mvlm.prompting",
    "MobileVLM": "mvlm.model",
    "MobileVLMConfig": "mvlm.model",
    "MobileLLaMAConfig": "mvlm.language",
    "VisionTower": "mvlm.vision",
    "AutoVisionTower": "mvlm.vision",
    "ImageProcessor": "mvlm.vision",
    "create_vision_tower": "mvlm.vision",
    "list_vision_towers": "mvlm.vision",
    "register_vision_tower": "mvlm.vision",
    "inference_once": "mvlm.inference",
    "demo_model_path": "mvlm.demo",
}

__all__ = [
    "AutoProjector",
    "AutoVisionTower",
    "Conversation",
    "ImageProcessor",
    "MobileLLaMAConfig",
    "MobileVLM",
    "MobileVLMConfig",
    "MvlmError",
    "Projector",
    "Registry",
    "VisionTower",
    "__version__",
    "create_projector",
    "create_vision_tower",
    "demo_model_path",
    "get_conversation",
    "inference_once",
    "list_conversations",
    "list_projectors",
    "list_vision_towers",
    "register_conversation",
    "register_projector",
    "register_vision_tower",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from mvlm.demo import demo_model_path
    from mvlm.errors import MvlmError
    from mvlm.inference import inference_once
    from mvlm.language import MobileLLaMAConfig
    from mvlm.model import MobileVLM, MobileVLMConfig
    from mvlm.projectors import AutoProjector, Projector, create_projector, list_projectors, register_projector
    from mvlm.prompting import Conversation, get_conversation, list_conversations, register_conversation
    from mvlm.registry import Registry
    from mvlm.vision import (
        AutoVisionTower,
        ImageProcessor,
        VisionTower,
        create_vision_tower,
        list_vision_towers,
        register_vision_tower,
    )


_transformers_hook.install()

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
