"""Models of the benchmark suite (``run.py``): MobileVLM in the published shapes with random weights, its
quantized layer sets, and transformers' LLaVA of the same size sharing the same weights.

Nothing is downloaded: every model is built from a preset config and initialised at random. To fit
several variants in memory at once (so they can be timed alternately), they share modules:

* the int8 / int4 variants are other lists of decoder layers, swapped into the one model
  (:class:`LayerSets`); tower, projector, embeddings and ``lm_head`` are shared;
* the LLaVA peer (:func:`build_llava_peer`) is a ``LlavaForConditionalGeneration`` built on the meta
  device whose CLIP tower, language model and ``lm_head`` are the MobileVLM's modules; only its MLP
  projector (``mlp2x_gelu``) is its own. It runs the generic path: every CLIP layer with all hidden
  states kept, 576 image tokens, transformers' LLaVA forward and ``generate``.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from mvlm import MobileVLM
from mvlm.inference.quantization import Int4Linear, Int8Linear, quantize_int4, quantize_int8
from mvlm.model import MobileVLMConfig

SHAPES: dict[str, str] = {
    "mobilevlm-1.7b": "MobileVLM-1.7B",
    "mobilevlm-3b": "MobileVLM-3B",
    "mobilevlm-v2-1.7b": "MobileVLM_V2-1.7B",
}
"""``--model-shape`` -> mvlm preset (published configs: MobileLLaMA-1.4B / 2.7B, CLIP ViT-L/14-336, LDP / LDPv2)."""

QUICK_OVERRIDES: dict[str, Any] = {
    "hidden_size": 256,
    "intermediate_size": 704,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}
"""``--quick``: a small language model (the tower stays ViT-L/14-336 unless ``quick_tower``)."""

QUICK_TOWER: dict[str, Any] = {
    "hidden_size": 128,
    "intermediate_size": 512,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "image_size": 336,
    "patch_size": 14,
    "hidden_act": "quick_gelu",
    "projection_dim": 128,
}


def build_mobilevlm(shape: str, quick: bool = False, seed: int = 0) -> MobileVLM:
    """A MobileVLM of ``shape`` with random weights (float32, eval mode)."""
    preset = SHAPES[shape]
    overrides: dict[str, Any] = {}
    if quick:
        overrides = {**QUICK_OVERRIDES, "mm_vision_config": QUICK_TOWER, "mm_hidden_size": QUICK_TOWER["hidden_size"]}
    config = MobileVLMConfig.from_preset(preset, **overrides)
    torch.manual_seed(seed)
    model = MobileVLM(config).float().eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def language_linears(model: MobileVLM) -> dict[str, nn.Module]:
    """The decoding weights read per token: every layer's linear layers and ``lm_head`` (not the embedding)."""
    return {
        name: module
        for name, module in model.named_modules()
        if isinstance(module, (nn.Linear, Int8Linear, Int4Linear))
        and (name.startswith("model.layers.") or name == "lm_head")
    }


def _read_per_token(module: nn.Module) -> int:
    """Bytes of the tensors a decoding step reads from ``module`` alone (not its children).

    A quantized layer that also holds PyTorch's packed layout (bf16 models) reads that layout only.
    """
    tensors = [*module.parameters(recurse=False), *module.buffers(recurse=False)]
    if isinstance(module, Int4Linear) and module.torch_packed is not None:
        tensors = [module.torch_packed, module.torch_scale_zeros, *module.parameters(recurse=False)]
    elif isinstance(module, Int8Linear) and module.torch_scale is not None:
        tensors = [module.weight_int8, module.torch_scale, *module.parameters(recurse=False)]
    return sum(t.numel() * t.element_size() for t in tensors)


def decode_bytes_per_token(model: MobileVLM) -> int:
    """Weight bytes one decoding step reads: the layers (linear + norms) and ``lm_head``."""
    parts = (model.model.layers, model.model.norm, model.lm_head)
    return sum(_read_per_token(module) for part in parts for module in part.modules())


class LayerSets:
    """Decoder-layer lists of one model (its own, ``int8``, ``int4``), swapped in with :meth:`use`.

    The model's own layers are the set ``base`` (``float32`` for the float32 model, ``bfloat16`` for its
    bf16 copy); the quantized sets are made from them (a bf16 model's int4 layers also get PyTorch's
    int4 layout, as ``quantize_int4`` gives bf16 models).
    """

    def __init__(self, model: MobileVLM, formats: list[str], base: str = "float32") -> None:
        self.model = model
        self.base = base
        self.sets: dict[str, nn.ModuleList] = {base: model.model.layers}
        for name in formats:
            if name == base:
                continue
            layers = nn.ModuleList()
            for layer in model.model.layers:  # one layer at a time: peak memory +1 float layer
                quantized = copy.deepcopy(layer)
                if name == "int8":
                    quantize_int8(quantized, skip=())
                elif name == "int4":
                    quantize_int4(quantized, skip=())
                else:
                    raise ValueError(f"unknown weight format {name!r}")
                layers.append(quantized)
            self.sets[name] = layers

    def use(self, name: str) -> MobileVLM:
        """Put the ``name`` layers into the model (and return it)."""
        self.model.model.layers = self.sets[name]
        return self.model


def build_llava_peer(model: MobileVLM) -> Any:
    """transformers' ``LlavaForConditionalGeneration`` of the same size, sharing the MobileVLM's weights.

    Same CLIP tower (all layers, feature layer -2, CLS dropped: 576 tokens at 336 px), same Llama
    language model and head; its own ``mlp2x_gelu`` projector with random weights.
    """
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    clip = model.vision_tower.vision_tower.vision_model  # transformers' CLIPVisionModel, every layer kept
    text = model.config.language_config() if hasattr(model.config, "language_config") else model.config
    text_config = LlamaConfig(**{k: v for k, v in text.to_dict().items() if k in LlamaConfig().to_dict()})
    text_config.vocab_size = model.config.vocab_size
    image_token_id = model.config.vocab_size - 1  # the benchmark's random text never uses the last id
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(**clip.config.to_dict()),
        text_config=text_config,
        image_token_id=image_token_id,
        projector_hidden_act="gelu",
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        image_seq_length=(clip.config.image_size // clip.config.patch_size) ** 2,
    )
    with torch.device("meta"):
        peer = LlavaForConditionalGeneration(config)
    peer.model.vision_tower = clip
    peer.model.language_model = model.model
    peer.lm_head = model.lm_head
    peer.model.multi_modal_projector = peer.model.multi_modal_projector.to_empty(device="cpu")
    torch.manual_seed(1)
    for parameter in peer.model.multi_modal_projector.parameters():
        nn.init.normal_(parameter, std=0.02)
    meta = [name for name, p in [*peer.named_parameters(), *peer.named_buffers()] if p.is_meta]
    if meta:
        raise RuntimeError(f"LLaVA peer has unset tensors: {meta[:5]}")
    peer.config.image_token_id = image_token_id
    return peer.eval()
