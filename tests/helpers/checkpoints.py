"""Tiny MobileVLM checkpoints in the exact published format, built without mvlm's model class.

The folder holds what a ``mtgv/MobileVLM*`` repository holds — ``config.json`` with every published
field (small sizes), ``generation_config.json``, the tokenizer files and ``pytorch_model.bin``
(bf16, single or sharded with its index) or safetensors — and the state-dict keys are the
published ones: the LLaMA keys of transformers' ``LlamaForCausalLM``, the CLIP tower under
``model.vision_tower.vision_tower.vision_model.*`` (as transformers 4.33 named it, with the
``position_ids`` buffer it stored), and the projector under ``model.mm_projector.*``.
The tower's ``config.json`` sits in its own folder, named by ``mm_vision_tower`` (the reference
accepts an existing path there).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from helpers.tokenizers import build_tiny_sentencepiece_tokenizer

__all__ = ["TINY_CLIP", "TINY_LLAMA", "build_tiny_mobilevlm_checkpoint", "published_config_fields"]

PRESET_DIR = Path(__file__).resolve().parents[2] / "src" / "mvlm" / "model" / "presets"

TINY_CLIP: dict[str, Any] = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "image_size": 336,
    "patch_size": 14,
    "projection_dim": 16,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
"""A CLIP ViT with the published geometry (336 px, patch 14: 576 patches) but 32 wide and 3 deep."""

TINY_LLAMA: dict[str, Any] = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
    "max_sequence_length": 512,
}


def published_config_fields(preset: str) -> dict[str, Any]:
    """The published ``config.json`` fields of ``preset`` (read from the package's preset data)."""
    fields = json.loads((PRESET_DIR / f"{preset}.json").read_text())
    fields.pop("_source")
    return fields


def _perturb(state: dict[str, torch.Tensor], generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Random values everywhere (LayerNorm weights, biases...), so every tensor matters in the tests."""
    out = {}
    for key, value in state.items():
        if value.is_floating_point():
            scale = 0.5 / math.sqrt(value.shape[-1]) if value.dim() > 1 else 0.1
            noise = torch.randn(value.shape, generator=generator) * scale
            out[key] = noise + (
                1.0 if key.endswith("norm.weight") or ("layer_norm" in key and key.endswith("weight")) else 0.0
            )
        else:
            out[key] = value.clone()
    return out


def build_tiny_mobilevlm_checkpoint(
    folder: str | Path,
    *,
    preset: str = "MobileVLM_V2-1.7B",
    weight_format: str = "bin",
    shards: int = 1,
    dtype: torch.dtype = torch.bfloat16,
    seed: int = 0,
    include_position_ids: bool = True,
    config_overrides: dict[str, Any] | None = None,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Write a tiny MobileVLM checkpoint folder in the published format.

    Args:
        folder: The checkpoint folder to create.
        preset: Which published ``config.json`` to copy the fields of (``MobileVLM-1.7B`` is v1 /
            ``ldpnet``, ``MobileVLM-3B`` carries the lit-gpt leftovers, ``MobileVLM_V2-*`` use ``ldpnetv2``).
        weight_format: ``"bin"`` (``pytorch_model.bin``) or ``"safetensors"`` (``model.safetensors``).
        shards: More than 1 writes ``*-0000i-of-0000n`` files and the ``.index.json``.
        dtype: Stored dtype of the floating tensors (the published files are bf16).
        seed: Seed of the random weights.
        include_position_ids: Store CLIP's ``position_ids`` buffer, as transformers 4.33 did.
        config_overrides: Extra ``config.json`` fields.
        tokenizer_dir: Copy the tokenizer from here instead of training a new one.

    Returns:
        The checkpoint folder.
    """
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    from mvlm.projectors import create_projector

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is None:
        build_tiny_sentencepiece_tokenizer(folder)
    else:
        for name in ("tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
            (folder / name).write_bytes((Path(tokenizer_dir) / name).read_bytes())
    import sentencepiece as spm

    vocab_size = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model")).vocab_size()

    tower_dir = folder / "vision_tower"
    CLIPVisionConfig(**TINY_CLIP).save_pretrained(tower_dir)

    config = published_config_fields(preset)
    config.update(TINY_LLAMA)
    config.update(
        {"vocab_size": vocab_size, "mm_hidden_size": TINY_CLIP["hidden_size"], "mm_vision_tower": str(tower_dir)}
    )
    if "n_embd" in config:  # the 3B leftovers describe the real model; keep them, contradicting as published
        config.update({"n_embd": 2560, "n_head": 16, "n_layer": 32})
    config.update(config_overrides or {})
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    generation = {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0, "transformers_version": "4.33.1"}
    (folder / "generation_config.json").write_text(json.dumps(generation, indent=2))

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    llama_fields = {
        k: config[k] for k in (*TINY_LLAMA, "vocab_size", "rms_norm_eps", "tie_word_embeddings") if k in config
    }
    llama_fields.pop("max_sequence_length", None)
    state: dict[str, torch.Tensor] = dict(LlamaForCausalLM(LlamaConfig(**llama_fields)).state_dict())
    vision = CLIPVisionModel(CLIPVisionConfig(**TINY_CLIP)).state_dict()
    body = {key.removeprefix("vision_model."): value for key, value in vision.items()}  # 4.x and 5.x alike
    state.update({f"model.vision_tower.vision_tower.vision_model.{k}": v for k, v in body.items()})
    if include_position_ids:
        positions = (TINY_CLIP["image_size"] // TINY_CLIP["patch_size"]) ** 2 + 1
        state["model.vision_tower.vision_tower.vision_model.embeddings.position_ids"] = torch.arange(positions)[None]
    projector = create_projector(config["mm_projector_type"], TINY_CLIP["hidden_size"], TINY_LLAMA["hidden_size"])
    state.update({f"model.mm_projector.{k}": v for k, v in projector.state_dict().items()})
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in _perturb(state, generator).items()}
    _write_weights(folder, state, weight_format, shards)
    return folder


def _write_weights(folder: Path, state: dict[str, torch.Tensor], weight_format: str, shards: int) -> None:
    stem, suffix = {"bin": ("pytorch_model", "bin"), "safetensors": ("model", "safetensors")}[weight_format]

    def save(tensors: dict[str, torch.Tensor], path: Path) -> None:
        if weight_format == "bin":
            torch.save(tensors, path)
        else:
            from safetensors.torch import save_file

            save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})

    if shards == 1:
        save(state, folder / f"{stem}.{suffix}")
        return
    keys = list(state)
    per_shard = math.ceil(len(keys) / shards)
    weight_map = {}
    for index in range(shards):
        name = f"{stem}-{index + 1:05d}-of-{shards:05d}.{suffix}"
        chunk = keys[index * per_shard : (index + 1) * per_shard]
        save({k: state[k] for k in chunk}, folder / name)
        weight_map.update(dict.fromkeys(chunk, name))
    total = sum(v.numel() * v.element_size() for v in state.values())
    index_doc = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (folder / f"{stem}.{suffix}.index.json").write_text(json.dumps(index_doc, indent=2))
