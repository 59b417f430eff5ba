"""The vision tower and projector of a MobileVLM as a llama.cpp CLIP "mmproj" GGUF file.

The tower's weights come from the checkpoint itself (the ``model.vision_tower.*`` tensors MobileVLM
stores), never from a separate CLIP download. The file follows what llama.cpp's ``clip`` loader reads
for LLaVA-style projectors (``tools/mtmd``; keys in its ``clip-impl.h``)::

    general.architecture = "clip", general.file_type, general.name, general.description
    clip.has_text_encoder = false, clip.has_vision_encoder = true, clip.has_llava_projector = true
    clip.projector_type = "ldp" (ldpnet) | "ldpv2" (ldpnetv2) | "mlp" (mlp2x_gelu)
    clip.use_gelu (false: quick_gelu)
    clip.vision.image_size / patch_size / embedding_length / feed_forward_length / projection_dim
    clip.vision.attention.head_count / attention.layer_norm_epsilon
    clip.vision.block_count = the selected layer (23 of 24 for select_layer -2)
    clip.vision.feature_layer = [the selected layer]
    clip.vision.image_mean / image_std

**The feature layer.** ``mm_vision_select_layer = -2`` means hidden state 23 of CLIP-L's 24 layers.
Without ``clip.vision.feature_layer``, llama.cpp's LLaVA graph runs ``block_count - 1`` layers, so a
file whose ``block_count`` is already 23 loses a second layer (llama.cpp issue 25817). With the key,
llama.cpp runs exactly up to that hidden state; only those layers are written, and
``post_layernorm`` (never used by MobileVLM) is left out.

Tensors: ``v.class_embd``, ``v.patch_embd.weight``, ``v.position_embd.weight``, ``v.pre_ln.*``,
``v.blk.N.{attn_q,attn_k,attn_v,attn_out,ln1,ln2,ffn_down,ffn_up}.*`` (``ffn_down`` holds ``fc1`` and
``ffn_up`` holds ``fc2``: the legacy names every llama.cpp version reads), and the projector as
``mm.*``: ``mm.model.mlp.{1,3}`` + ``mm.model.mb_block.{1,2}.block.*`` (LDP),
``mm.model.mlp.{0,2}`` + ``mm.model.peg.0`` (LDPv2), ``mm.{0,2}`` (MLP). Convolution weights are
stored without their unit axes (``[H,1,3,3] -> [H,3,3]``, ``[O,I,1,1] -> [O,I]``), as llama.cpp's
graph expects. In ``f16`` files, 2-D and convolution weights are f16 and everything else f32.

**Known limit (no GGUF-side fix).** llama.cpp 0.3.36's LLaVA graph appends CLIP's class embedding
after the patches instead of before them (llama.cpp issue 25814, fix in PR 25844), which shifts the
position embeddings; images encoded by llama.cpp's own CLIP therefore differ from MobileVLM's. mvlm's
llama.cpp backend (:mod:`mvlm.inference.llamacpp_backend`) encodes images in PyTorch instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mvlm.errors import ConfigError
from mvlm.export.gguf_tensors import PlannedTensor, import_gguf, write_gguf_file

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = [
    "LLAMACPP_PROJECTOR_TYPES",
    "MMPROJ_STORAGES",
    "clip_tensor_name",
    "llamacpp_projector_type",
    "plan_mmproj_tensors",
    "write_mmproj_gguf",
]

LLAMACPP_PROJECTOR_TYPES: dict[str, str] = {"LDPProjector": "ldp", "LDPv2Projector": "ldpv2", "MLPProjector": "mlp"}
"""mvlm projector class -> llama.cpp ``clip.projector_type`` (``ldpnet``, ``ldpnetv2`` and ``mlp2x_gelu``)."""

MMPROJ_STORAGES: tuple[str, ...] = ("f16", "f32")
"""Storage of the mmproj file: ``f16`` (as llama.cpp's own converter writes it) or ``f32``."""

_TOWER_PREFIX = "model.vision_tower.vision_tower.vision_model."
_PROJECTOR_PREFIX = "model.mm_projector."
_LLAMACPP_GRID = 24  # llama.cpp's LDP / LDPv2 graphs hard-code a 24x24 patch grid
_CLIP_GLOBALS = {
    "embeddings.class_embedding": "v.class_embd",
    "embeddings.patch_embedding.weight": "v.patch_embd.weight",
    "embeddings.position_embedding.weight": "v.position_embd.weight",
    "pre_layrnorm.weight": "v.pre_ln.weight",
    "pre_layrnorm.bias": "v.pre_ln.bias",
}
_CLIP_LAYER_PARTS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.out_proj": "attn_out",
    "layer_norm1": "ln1",
    "layer_norm2": "ln2",
    "mlp.fc1": "ffn_down",  # legacy llama.cpp names: ffn_down = fc1, ffn_up = fc2 (read by old and new versions)
    "mlp.fc2": "ffn_up",
}
_CLIP_LAYER = re.compile(r"^encoder\.layers\.(\d+)\.(.+)\.(weight|bias)$")
_SKIPPED_CLIP = ("post_layernorm.", "embeddings.position_ids")


def _unsupported(model: Any, why: str) -> ConfigError:
    name = getattr(model.config, "mm_projector_type", type(model.mm_projector).__name__)
    supported = "ldpnet (llama.cpp 'ldp'), ldpnetv2 ('ldpv2') and mlp2x_gelu ('mlp')"
    return ConfigError(f"llama.cpp cannot run projector '{name}' of this model: {why}; it runs {supported}")


def llamacpp_projector_type(model: Any) -> str:
    """llama.cpp's ``clip.projector_type`` for the model's projector and tower, or a clear error.

    Args:
        model: A :class:`~mvlm.MobileVLM`.

    Returns:
        ``"ldp"``, ``"ldpv2"`` or ``"mlp"``.

    Raises:
        ConfigError: The projector (named in the message) or the tower is one llama.cpp's CLIP graph
            cannot run: other projector types, LDP/LDPv2 with another grid or stride, MLPs that are not
            two layers deep, non-CLIP towers, ``cls_patch`` features.
    """
    projector = model.mm_projector
    kind = LLAMACPP_PROJECTOR_TYPES.get(type(projector).__name__)
    if kind is None:
        raise _unsupported(model, f"llama.cpp has no graph for {type(projector).__name__}")
    tower = model.vision_tower
    if getattr(model.config, "vision_tower_type", "clip") != "clip" or not getattr(tower, "has_cls_token", False):
        raise _unsupported(model, "the mmproj export takes CLIP towers only")
    if tower.select_feature != "patch":
        raise _unsupported(model, f"select_feature {tower.select_feature!r} (llama.cpp drops the CLS token)")
    if kind == "mlp" and getattr(projector, "depth", 2) != 2:
        raise _unsupported(model, f"an MLP of depth {projector.depth} (llama.cpp's 'mlp' has exactly two layers)")
    if kind in ("ldp", "ldpv2"):
        if tower.grid != (_LLAMACPP_GRID, _LLAMACPP_GRID):
            grid = f"{tower.grid[0]}x{tower.grid[1]}"
            raise _unsupported(model, f"a {grid} patch grid (llama.cpp's LDP graphs need 24x24)")
        if projector.num_output_tokens(tower.num_patches) != (_LLAMACPP_GRID // 2) ** 2:
            raise _unsupported(model, "an output grid other than 12x12 (llama.cpp pools 24x24 by 2)")
    return kind


def clip_tensor_name(key: str, num_layers: int) -> str | None:
    """The mmproj name of a tower key (relative to ``vision_model.``), or ``None`` if it is not written.

    Layers at or past ``num_layers`` (never run for the selected feature), ``post_layernorm`` and the
    ``position_ids`` buffer are not written.

    Raises:
        ConfigError: A tower tensor llama.cpp's CLIP has no name for.

    Example:
        >>> clip_tensor_name("encoder.layers.0.mlp.fc1.weight", 23)
        'v.blk.0.ffn_down.weight'
    """
    if key.startswith(_SKIPPED_CLIP):
        return None
    if key in _CLIP_GLOBALS:
        return _CLIP_GLOBALS[key]
    match = _CLIP_LAYER.match(key)
    if match and match.group(2) in _CLIP_LAYER_PARTS:
        layer = int(match.group(1))
        return None if layer >= num_layers else f"v.blk.{layer}.{_CLIP_LAYER_PARTS[match.group(2)]}.{match.group(3)}"
    raise ConfigError(f"vision tower tensor {key!r} has no name in llama.cpp's CLIP model")


def _projector_tensor_name(key: str, kind: str) -> str:
    if kind == "ldpv2":
        return "mm.model." + key.replace("mlp.mlp.", "mlp.", 1).replace("peg.peg.", "peg.", 1)
    return "mm." + key  # ldp: model.mlp.1.weight -> mm.model.mlp.1.weight; mlp: 0.weight -> mm.0.weight


def _drop_unit_axes(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) != 4:
        return shape
    out_channels, in_channels, kernel_h, kernel_w = shape
    if (kernel_h, kernel_w) == (1, 1):
        return (out_channels, in_channels)  # pointwise conv / SE fc -> a matrix
    if in_channels == 1:
        return (out_channels, kernel_h, kernel_w)  # depthwise conv -> [channels, kh, kw]
    return shape


def plan_mmproj_tensors(model: Any, storage: str = "f16") -> list[PlannedTensor]:
    """The tower (up to the selected layer) and projector tensors, named and shaped for llama.cpp.

    Args:
        model: A :class:`~mvlm.MobileVLM` (checked with :func:`llamacpp_projector_type`).
        storage: ``f16``: 2-D and convolution weights f16, the rest f32 (as llama.cpp's converter);
            ``f32``: everything f32.
    """
    import torch

    kind = llamacpp_projector_type(model)
    num_layers = model.vision_tower.selected_layer
    plans: list[PlannedTensor] = []
    state = model.state_dict()
    tower_keys = [k for k in state if k.startswith(_TOWER_PREFIX)]
    if not tower_keys:
        raise _unsupported(model, f"no tower tensors under {_TOWER_PREFIX!r}")
    for key in tower_keys + [k for k in state if k.startswith(_PROJECTOR_PREFIX)]:
        tensor = state[key]
        if key.startswith(_TOWER_PREFIX):
            name = clip_tensor_name(key.removeprefix(_TOWER_PREFIX), num_layers)
            is_matrix = tensor.dim() == 4 or (tensor.dim() == 2 and name is not None and name.endswith(".weight"))
        else:
            name = _projector_tensor_name(key.removeprefix(_PROJECTOR_PREFIX), kind)
            is_matrix = tensor.dim() in (2, 4)
        if name is None:
            continue
        shape = _drop_unit_axes(tuple(tensor.shape))
        chosen = "f16" if storage == "f16" and is_matrix else "f32"

        def values(tensor: torch.Tensor = tensor, shape: tuple[int, ...] = shape) -> np.ndarray:
            return tensor.detach().to(device="cpu", dtype=torch.float32).reshape(shape).numpy()

        plans.append(PlannedTensor(name, shape, chosen, values))
    return plans


def write_mmproj_gguf(model: Any, path: str | Path, *, storage: str = "f16", name: str | None = None) -> Path:
    """Write the vision tower and projector of ``model`` as a llama.cpp CLIP mmproj GGUF file.

    Args:
        model: A :class:`~mvlm.MobileVLM` with a CLIP tower and an ``ldpnet`` / ``ldpnetv2`` /
            ``mlp2x_gelu`` projector.
        path: The ``.gguf`` file to write (``mmproj-model-f16.gguf`` by convention).
        storage: ``f16`` (default, as llama.cpp's converter) or ``f32``.
        name: ``general.name``; the tower's ``mm_vision_tower`` by default.

    Returns:
        ``path``.

    Raises:
        ConfigError: A projector or tower llama.cpp cannot run (the message names it), or an unknown storage.
        MissingDependencyError: The ``gguf`` package is not installed.
    """
    if storage not in MMPROJ_STORAGES:
        raise ConfigError(f"mmproj storage must be one of {MMPROJ_STORAGES}, got {storage!r}")
    gguf = import_gguf()
    kind = llamacpp_projector_type(model)
    tower = model.vision_tower
    vision = tower.hf_config
    processing = tower.processor_config()
    plans = plan_mmproj_tensors(model, storage)
    hidden_act = getattr(vision, "hidden_act", "quick_gelu")
    if hidden_act not in ("quick_gelu", "gelu"):
        raise _unsupported(model, f"the tower's activation {hidden_act!r} (llama.cpp's CLIP has quick_gelu and gelu)")

    def metadata(writer: Any) -> None:
        writer.add_bool("clip.has_text_encoder", False)
        writer.add_bool("clip.has_vision_encoder", True)
        writer.add_bool("clip.has_llava_projector", True)
        writer.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16 if storage == "f16" else gguf.LlamaFileType.ALL_F32))
        writer.add_name(name or str(getattr(model.config, "mm_vision_tower", "") or "clip"))
        writer.add_description("image encoder for LLaVA")
        writer.add_string("clip.projector_type", kind)
        writer.add_uint32("clip.vision.image_size", tower.image_size)
        writer.add_uint32("clip.vision.patch_size", tower.patch_size)
        writer.add_uint32("clip.vision.embedding_length", tower.hidden_size)
        writer.add_uint32("clip.vision.feed_forward_length", int(vision.intermediate_size))
        writer.add_uint32("clip.vision.projection_dim", int(getattr(vision, "projection_dim", 0) or 0))
        writer.add_uint32("clip.vision.attention.head_count", int(vision.num_attention_heads))
        writer.add_float32("clip.vision.attention.layer_norm_epsilon", float(vision.layer_norm_eps))
        writer.add_uint32("clip.vision.block_count", tower.selected_layer)
        writer.add_array("clip.vision.feature_layer", [tower.selected_layer])
        writer.add_array("clip.vision.image_mean", [float(v) for v in processing["image_mean"]])
        writer.add_array("clip.vision.image_std", [float(v) for v in processing["image_std"]])
        writer.add_bool("clip.use_gelu", hidden_act == "gelu")

    return write_gguf_file(path, "clip", metadata, plans)
