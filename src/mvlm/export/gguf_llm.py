"""The language model of a MobileVLM as a llama.cpp ``llama``-architecture GGUF file.

What the file holds (the names llama.cpp's ``llama`` loader looks up)::

    general.architecture = "llama", general.name, general.file_type
    llama.context_length / embedding_length / block_count / feed_forward_length
    llama.attention.head_count / head_count_kv / layer_norm_rms_epsilon
    llama.rope.dimension_count / rope.freq_base (+ rope.scaling.* for linear RoPE scaling)
    tokenizer.ggml.*  (the SentencePiece vocabulary: mvlm.export.gguf_vocab)

    token_embd.weight            <- model.embed_tokens.weight
    blk.N.attn_norm.weight       <- model.layers.N.input_layernorm.weight
    blk.N.attn_{q,k,v}.weight    <- model.layers.N.self_attn.{q,k,v}_proj.weight  (q and k permuted, below)
    blk.N.attn_output.weight     <- model.layers.N.self_attn.o_proj.weight
    blk.N.ffn_norm.weight        <- model.layers.N.post_attention_layernorm.weight
    blk.N.ffn_{gate,up,down}.weight <- model.layers.N.mlp.{gate,up,down}_proj.weight
    output_norm.weight           <- model.norm.weight
    output.weight                <- lm_head.weight  (absent when the embeddings are tied)

**The q/k permutation.** transformers' LLaMA rotates the two halves of each head
(``rotate_half``: dimension ``i`` pairs with ``i + head_dim/2``); llama.cpp's ``llama`` RoPE rotates
adjacent pairs (``2i`` with ``2i+1``), as Meta's original weights were laid out. The rows of every
head of ``q_proj`` and ``k_proj`` are therefore reordered so that row ``c * head_dim/2 + j`` (half
``c``, index ``j``) moves to row ``2j + c``: :func:`permute_qk`. :func:`unpermute_qk` undoes it; the
tests check the round trip and, in llama.cpp, the logits.

Vision tower and projector tensors are not part of this file (they go to the mmproj file).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError
from mvlm.export.gguf_tensors import PlannedTensor, import_gguf, storage_fits, write_gguf_file
from mvlm.export.gguf_vocab import add_vocab_metadata, find_tokenizer_model, read_sentencepiece_vocab

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    from torch import Tensor

__all__ = [
    "LANGUAGE_MODEL_STORAGES",
    "llama_tensor_name",
    "permute_qk",
    "plan_language_model_tensors",
    "unpermute_qk",
    "write_language_model_gguf",
]

LANGUAGE_MODEL_STORAGES: dict[str, str] = {
    "f32": "ALL_F32",
    "f16": "MOSTLY_F16",
    "bf16": "MOSTLY_BF16",
    "q8_0": "MOSTLY_Q8_0",
}
"""Storage types the writer produces directly -> their ``general.file_type`` (``gguf.LlamaFileType`` name)."""

_LAYER_TENSORS = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "self_attn.q_proj.bias": "attn_q.bias",
    "self_attn.k_proj.bias": "attn_k.bias",
    "self_attn.v_proj.bias": "attn_v.bias",
    "self_attn.o_proj.bias": "attn_output.bias",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
_GLOBAL_TENSORS = {
    "model.embed_tokens.weight": "token_embd.weight",
    "model.norm.weight": "output_norm.weight",
    "lm_head.weight": "output.weight",
}
_LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_NOT_LANGUAGE = ("model.vision_tower.", "model.mm_projector.")


def llama_tensor_name(key: str) -> str | None:
    """The GGUF name of a MobileVLM state-dict key, or ``None`` for tensors that are not the language model's.

    ``None`` is returned for the vision tower, the projector and non-persistent buffers
    (``rotary_emb.inv_freq``).

    Raises:
        ConfigError: A language-model tensor that llama.cpp's ``llama`` architecture has no place for.

    Example:
        >>> llama_tensor_name("model.layers.3.self_attn.k_proj.weight")
        'blk.3.attn_k.weight'
    """
    if key.startswith(_NOT_LANGUAGE) or key.endswith("rotary_emb.inv_freq"):
        return None
    if key in _GLOBAL_TENSORS:
        return _GLOBAL_TENSORS[key]
    match = _LAYER_KEY.match(key)
    if match and match.group(2) in _LAYER_TENSORS:
        return f"blk.{match.group(1)}.{_LAYER_TENSORS[match.group(2)]}"
    raise ConfigError(
        f"state-dict tensor {key!r} has no place in llama.cpp's llama architecture; only LLaMA-style language "
        "models (MobileLLaMA, Vicuna) can be exported to GGUF"
    )


def _half_head(weight: Any, num_heads: int) -> int:
    rows = weight.shape[0]
    if rows % num_heads or (rows // num_heads) % 2:
        raise ConfigError(f"cannot permute {rows} rows into {num_heads} heads of an even size")
    return rows // num_heads // 2


def permute_qk(weight: Tensor | np.ndarray, num_heads: int) -> Tensor | np.ndarray:
    """Reorder the rows of a ``q_proj`` / ``k_proj`` weight (or bias) from transformers' RoPE layout to llama.cpp's.

    Within each head, row ``c * head_dim/2 + j`` (``c`` in {0, 1}: first or second half) moves to row
    ``2j + c``, so the pairs that RoPE rotates together become adjacent.

    Args:
        weight: ``[num_heads * head_dim, in]`` (or ``[num_heads * head_dim]`` for a bias), torch or numpy.
        num_heads: Heads of this projection (``num_key_value_heads`` for ``k_proj``).

    Returns:
        The same kind of array, same shape, rows reordered.
    """
    half = _half_head(weight, num_heads)
    tail = tuple(weight.shape[1:])
    grouped = weight.reshape(num_heads, 2, half, *tail)
    return grouped.swapaxes(1, 2).reshape(weight.shape)


def unpermute_qk(weight: Tensor | np.ndarray, num_heads: int) -> Tensor | np.ndarray:
    """The inverse of :func:`permute_qk`: llama.cpp's row order back to transformers'."""
    half = _half_head(weight, num_heads)
    tail = tuple(weight.shape[1:])
    grouped = weight.reshape(num_heads, half, 2, *tail)
    return grouped.swapaxes(1, 2).reshape(weight.shape)


def _check_llama(config: Any) -> None:
    if getattr(config, "text_model_type", "llama") != "llama":
        raise ConfigError(
            f"GGUF export writes llama.cpp's llama architecture; this model's language model is "
            f"{config.text_model_type!r}"
        )
    if getattr(config, "hidden_act", "silu") != "silu":
        raise ConfigError(f"llama.cpp's llama architecture uses SiLU; this model's hidden_act is {config.hidden_act!r}")


def _rope(config: Any) -> tuple[float, dict[str, Any]]:
    parameters = dict(getattr(config, "rope_parameters", None) or {})
    legacy = getattr(config, "rope_scaling", None)
    if not parameters and legacy:
        parameters = dict(legacy)
    theta = float(parameters.get("rope_theta", getattr(config, "rope_theta", 10000.0) or 10000.0))
    kind = parameters.get("rope_type", parameters.get("type", "default"))
    if kind in (None, "default"):
        return theta, {}
    if kind == "linear":
        return theta, {"factor": float(parameters["factor"])}
    raise ConfigError(f"RoPE scaling {kind!r} is not supported by the GGUF export (default and linear are)")


def plan_language_model_tensors(model: Any, storage: str) -> list[PlannedTensor]:
    """The language model's tensors, named and permuted for llama.cpp, each in its storage type.

    1-D tensors (norms, biases) stay ``f32``, as llama.cpp expects; 2-D weights take ``storage``, except
    ``q8_0`` rows that are not multiples of 32 values, which fall back to ``f16``.

    Args:
        model: A :class:`~mvlm.MobileVLM` (or any model with the same LLaMA state-dict keys and config).
        storage: ``f32``, ``f16``, ``bf16`` or ``q8_0``.
    """
    import torch

    config = model.config
    heads = {
        "attn_q": config.num_attention_heads,
        "attn_k": getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
    }
    plans: list[PlannedTensor] = []
    for key, tensor in model.state_dict().items():
        name = llama_tensor_name(key)
        if name is None or (name == "output.weight" and getattr(config, "tie_word_embeddings", False)):
            continue
        kind = name.split(".")[-2]
        chosen = "f32" if tensor.dim() == 1 else storage
        if not storage_fits(tuple(tensor.shape), chosen):
            chosen = "f16"

        def values(tensor: torch.Tensor = tensor, kind: str = kind) -> np.ndarray:
            array = tensor.detach().to(device="cpu", dtype=torch.float32).numpy()
            return permute_qk(array, heads[kind]) if kind in heads else array  # type: ignore[return-value]

        plans.append(PlannedTensor(name, tuple(tensor.shape), chosen, values))
    return plans


def write_language_model_gguf(
    model: Any,
    path: str | Path,
    *,
    storage: str = "f16",
    tokenizer_model: str | Path | None = None,
    name: str | None = None,
) -> Path:
    """Write the language model of ``model`` as a llama.cpp ``llama`` GGUF file.

    Args:
        model: A :class:`~mvlm.MobileVLM` whose language model is LLaMA-style (MobileLLaMA, Vicuna).
        path: The ``.gguf`` file to write.
        storage: ``f32``, ``f16``, ``bf16`` or ``q8_0`` (:data:`LANGUAGE_MODEL_STORAGES`); k-quants go
            through :func:`mvlm.export.gguf_quantize.quantize_gguf`.
        tokenizer_model: The SentencePiece ``tokenizer.model``; found beside the checkpoint by default.
        name: ``general.name``; the checkpoint's folder or hub name by default.

    Returns:
        ``path``.

    Raises:
        ConfigError: The language model is not LLaMA-style, uses unsupported RoPE scaling, or the
            storage type is unknown.
        CheckpointError: No ``tokenizer.model`` was found.
        MissingDependencyError: The ``gguf`` package is not installed.
    """
    if storage not in LANGUAGE_MODEL_STORAGES:
        raise ConfigError(f"storage must be one of {sorted(LANGUAGE_MODEL_STORAGES)}, got {storage!r}")
    gguf = import_gguf()
    config = model.config
    _check_llama(config)
    theta, scaling = _rope(config)
    vocab = read_sentencepiece_vocab(find_tokenizer_model(model, tokenizer_model), config.vocab_size)
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    source = getattr(model, "_checkpoint_source", None) or getattr(config, "_name_or_path", "") or "MobileVLM"
    context = getattr(config, "context_length", None) or config.max_position_embeddings
    plans = plan_language_model_tensors(model, storage)

    def metadata(writer: Any) -> None:
        writer.add_name(name or Path(str(source).rstrip("/")).name)
        writer.add_file_type(int(gguf.LlamaFileType[LANGUAGE_MODEL_STORAGES[storage]]))
        if storage == "q8_0":
            writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_vocab_size(len(vocab))
        writer.add_context_length(int(context))
        writer.add_embedding_length(config.hidden_size)
        writer.add_block_count(config.num_hidden_layers)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_layer_norm_rms_eps(float(config.rms_norm_eps))
        writer.add_rope_dimension_count(head_dim)
        writer.add_rope_freq_base(theta)
        if head_dim * heads != config.hidden_size:
            writer.add_key_length(head_dim)
            writer.add_value_length(head_dim)
        if scaling:
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(scaling["factor"])
        add_vocab_metadata(writer, vocab, pad_token_id=getattr(config, "pad_token_id", None))

    return write_gguf_file(path, "llama", metadata, plans)
