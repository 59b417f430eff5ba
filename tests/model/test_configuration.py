"""MobileVLMConfig reads every published config.json unchanged and writes the published names back."""

from __future__ import annotations

import json

import pytest
from transformers import AutoConfig

import mvlm  # noqa: F401 - registers mobilevlm with transformers
from helpers.checkpoints import published_config_fields
from mvlm.errors import ConfigError, UnknownNameError
from mvlm.model import MobileVLMConfig, list_model_presets

PRESETS = ["MobileVLM-1.7B", "MobileVLM-3B", "MobileVLM_V2-1.7B", "MobileVLM_V2-3B", "MobileVLM_V2-7B"]


def test_all_five_published_presets_exist():
    assert list_model_presets() == PRESETS


@pytest.mark.parametrize("name", PRESETS)
def test_published_config_json_loads_unchanged(tmp_path, name):
    fields = published_config_fields(name)
    (tmp_path / "config.json").write_text(json.dumps(fields))
    config = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(config, MobileVLMConfig)
    for key in ("mm_projector_type", "mm_vision_tower", "mm_hidden_size", "hidden_size", "num_hidden_layers"):
        assert getattr(config, key) == fields[key]
    assert config.rope_parameters["rope_theta"] == 10000.0


def test_3b_lit_gpt_leftovers_are_kept_but_transformers_keys_win():
    config = MobileVLMConfig.from_preset("MobileVLM-3B")
    assert config.n_head == 16 and config.num_attention_heads == 32
    assert config.head_dim == 80  # 2560 / 32, not 2560 / 16
    assert config.language_config().num_attention_heads == 32


@pytest.mark.parametrize(
    ("name", "projector", "hidden", "context"),
    [
        ("MobileVLM-1.7B", "ldpnet", 2048, 2048),
        ("MobileVLM-3B", "ldpnet", 2560, 2048),
        ("MobileVLM_V2-1.7B", "ldpnetv2", 2048, 2048),
        ("mobilevlm-v2-3b", "ldpnetv2", 2560, 2048),
        ("MobileVLM_V2-7B", "ldpnetv2", 4096, 4096),
    ],
)
def test_presets(name, projector, hidden, context):
    config = MobileVLMConfig.from_preset(name)
    assert (config.mm_projector_type, config.hidden_size, config.context_length) == (projector, hidden, context)
    assert config.mm_vision_tower == "openai/clip-vit-large-patch14-336"


def test_saved_config_keeps_the_published_field_names(tmp_path):
    MobileVLMConfig.from_preset("MobileVLM_V2-1.7B").save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    published = published_config_fields("MobileVLM_V2-1.7B")
    for key in (
        "rope_theta",
        "rope_scaling",
        "torch_dtype",
        "mm_projector_type",
        "mm_vision_select_layer",
        "model_type",
    ):
        assert saved[key] == published[key], key
    assert MobileVLMConfig.from_pretrained(tmp_path).to_dict() == MobileVLMConfig(**saved).to_dict()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mm_vision_select_feature", "cls", "mm_vision_select_feature"),
        ("image_aspect_ratio", "anyres", "image_aspect_ratio"),
        ("image_grid_pinpoints", [[336, 672]], "image_grid_pinpoints"),
        ("mm_use_im_start_end", True, "mm_use_im_start_end"),
    ],
)
def test_unsupported_values_are_config_errors(field, value, message):
    with pytest.raises(ConfigError, match=message):
        MobileVLMConfig(**{field: value})


def test_unknown_preset():
    with pytest.raises(UnknownNameError, match=r"MobileVLM_V2-1\.7B"):
        MobileVLMConfig.from_preset("MobileVLM_V2-1.8B")


def test_missing_projector_type_means_linear_as_the_reference():
    assert MobileVLMConfig().mm_projector_type == "linear"
    assert MobileVLMConfig(mm_projector_type=None).mm_projector_type == "linear"


def test_published_torch_dtype_is_read_and_printed_without_a_deprecation_warning(tmp_path):
    from transformers.utils import logging as hf_logging

    fields = published_config_fields("MobileVLM_V2-1.7B")
    (tmp_path / "config.json").write_text(json.dumps(fields))
    messages: list[str] = []
    logger = hf_logging.get_logger("transformers.configuration_utils")
    original = logger.warning_once
    logger.warning_once = lambda message, *args, **kwargs: messages.append(str(message))  # type: ignore[method-assign]
    try:
        config = MobileVLMConfig.from_pretrained(tmp_path)
        text = repr(config)
    finally:
        logger.warning_once = original  # type: ignore[method-assign]
    assert str(config.dtype).removeprefix("torch.") == fields["torch_dtype"]
    assert config.torch_dtype == config.dtype and '"torch_dtype"' in text
    assert not [m for m in messages if "torch_dtype" in m], messages
