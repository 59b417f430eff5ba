"""The assembled MobileVLM: configuration, model, checkpoint loading and saving."""

import mvlm.model.auto  # noqa: F401 - registers mobilevlm with transformers' auto classes
from mvlm.model.configuration import MODEL_PRESETS, MobileVLMConfig, list_model_presets
from mvlm.model.modeling import MobileVLM, MobileVLMForCausalLM, MobileVLMPreTrainedModel
from mvlm.model.splicing import IGNORE_INDEX, splice_image_features

__all__ = [
    "IGNORE_INDEX",
    "MODEL_PRESETS",
    "MobileVLM",
    "MobileVLMConfig",
    "MobileVLMForCausalLM",
    "MobileVLMPreTrainedModel",
    "list_model_presets",
    "splice_image_features",
]
