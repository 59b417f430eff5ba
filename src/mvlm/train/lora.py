"""LoRA and QLoRA through peft, as the reference's ``--lora_enable`` runs, and merging adapters back.

Targets are every ``nn.Linear`` outside the vision tower and the projector, except ``lm_head``
(the reference's ``find_all_linear_names``). What trained besides the adapters (the projector, and
tower layers if asked) is saved with them in ``non_lora_trainables.bin``; :func:`merge_lora` folds
the adapters into the weights and writes a plain MobileVLM checkpoint.

QLoRA (``bits=4`` / ``8``) loads the language model quantized with bitsandbytes (NF4 with double
quantization for 4 bits, as the reference) and needs a CUDA GPU.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mvlm.errors import CheckpointError, ConfigError, MissingDependencyError

__all__ = [
    "NON_LORA_TRAINABLES",
    "LoraSettings",
    "apply_lora",
    "load_non_lora_trainables",
    "lora_target_modules",
    "merge_lora",
    "quantization_config",
    "save_lora",
    "save_non_lora_trainables",
]

NON_LORA_TRAINABLES = "non_lora_trainables.bin"
"""The file beside the adapter that holds every other trained tensor (the projector), as the reference."""


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (the reference's defaults: r 128, alpha 256, dropout 0.05).

    Attributes:
        r: Rank of the update matrices.
        alpha: Scaling numerator (the update is scaled by ``alpha / r``).
        dropout: Dropout on the LoRA input.
        bits: 16 for LoRA on a float model; 4 or 8 for QLoRA (bitsandbytes, CUDA only).

    Raises:
        ConfigError: A value out of range.
    """

    r: int = 128
    alpha: int = 256
    dropout: float = 0.05
    bits: int = 16

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1:
            raise ConfigError(f"invalid LoRA settings r={self.r}, alpha={self.alpha}, dropout={self.dropout}")
        if self.bits not in (4, 8, 16):
            raise ConfigError(f"LoRA bits must be 4, 8 (QLoRA) or 16, got {self.bits}")


def _import_peft(feature: str) -> Any:
    try:
        import peft
    except ImportError as error:
        raise MissingDependencyError.for_package("peft", feature, "train") from error
    return peft


def lora_target_modules(model: nn.Module) -> list[str]:
    """Full names of the ``nn.Linear`` modules LoRA adapts: all outside the tower and projector, minus ``lm_head``.

    Quantized linear layers (bitsandbytes' ``Linear4bit`` / ``Linear8bitLt`` derive from ``nn.Linear``) count too.
    """
    names = []
    for name, module in model.named_modules():
        outside = not any(part in name.split(".") for part in ("vision_tower", "mm_projector"))
        if isinstance(module, nn.Linear) and outside and name.split(".")[-1] != "lm_head":
            names.append(name)
    return names


def quantization_config(settings: LoraSettings) -> Any:
    """The transformers ``BitsAndBytesConfig`` of a QLoRA run (``None`` for 16-bit LoRA).

    4 bits: NF4, double quantization, bf16 compute (the reference's ``--bits 4``); 8 bits: LLM.int8.
    The tower, the projector and ``lm_head`` stay in floating point.

    Raises:
        ConfigError: QLoRA without a CUDA GPU.
        MissingDependencyError: bitsandbytes is not installed.
    """
    if settings.bits == 16:
        return None
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"QLoRA ({settings.bits}-bit) needs bitsandbytes on a CUDA GPU; on this machine use LoRA (bits=16)"
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise MissingDependencyError.for_package("bitsandbytes", "QLoRA") from error
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=settings.bits == 4,
        load_in_8bit=settings.bits == 8,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        llm_int8_skip_modules=["mm_projector", "vision_tower", "lm_head"],
    )


def apply_lora(model: nn.Module, settings: LoraSettings) -> Any:
    """Wrap ``model`` with LoRA adapters (a peft ``PeftModel``).

    peft freezes everything but the adapters; whatever else trained before the call (the
    projector, tower layers) is made trainable again, as the reference keeps the projector
    training beside the adapters. Call :func:`~mvlm.train.apply_trainable_parts` first, with the
    language model frozen.

    Args:
        model: A :class:`~mvlm.model.MobileVLM` (quantized already for QLoRA: load it with
            ``quantization_config=quantization_config(settings)``).
        settings: Rank, alpha, dropout, bits.

    Returns:
        The ``PeftModel``; ``get_base_model()`` is ``model``.

    Raises:
        MissingDependencyError: peft is not installed.
    """
    peft = _import_peft("LoRA training")
    trained_before = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if settings.bits in (4, 8):
        model = peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        bias="none",
        target_modules=lora_target_modules(model),
        task_type="CAUSAL_LM",
    )
    wrapped = peft.get_peft_model(model, config)
    for parameter in trained_before:
        parameter.requires_grad_(True)
    return wrapped


def _non_lora_trainables(model: Any) -> dict[str, Any]:
    """Trained tensors of a peft model that are not adapters, under the base model's names."""
    base = model.get_base_model()
    return {
        name: parameter.detach().cpu().clone()
        for name, parameter in base.named_parameters()
        if parameter.requires_grad and "lora_" not in name
    }


def save_non_lora_trainables(model: Any, folder: str | os.PathLike[str]) -> Path:
    """Write the trained non-adapter tensors of a peft-wrapped MobileVLM to ``folder/non_lora_trainables.bin``."""
    import torch

    path = Path(folder) / NON_LORA_TRAINABLES
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(_non_lora_trainables(model), path)
    return path


def load_non_lora_trainables(model: nn.Module, path: str | os.PathLike[str]) -> None:
    """Load ``non_lora_trainables.bin`` into a MobileVLM (plain or peft-wrapped).

    Names are those of the base model; the reference's ``base_model.model.`` prefix is accepted too.

    Raises:
        CheckpointError: The file is unreadable or names tensors the model does not have.
    """
    from mvlm.model.loading import read_state_dict

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    own = dict(base.named_parameters())
    state = {name.removeprefix("base_model.model."): value for name, value in read_state_dict(path).items()}
    unknown = sorted(name for name in state if name not in own)
    if unknown:
        raise CheckpointError(f"{path}: tensors {unknown[:8]} are not parameters of this model")
    mismatched = sorted(name for name, value in state.items() if value.shape != own[name].shape)
    if mismatched:
        raise CheckpointError(f"{path}: tensors {mismatched[:8]} have another shape than the model's")
    for name, value in state.items():
        own[name].data.copy_(value)


def save_lora(model: Any, folder: str | os.PathLike[str]) -> Path:
    """Write a LoRA run's result into ``folder``: the adapter (peft layout), the non-LoRA trainables, ``config.json``.

    Args:
        model: The peft-wrapped MobileVLM.
        folder: The output folder.

    Returns:
        ``folder`` as a path.
    """
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    save_non_lora_trainables(model, target)
    model.get_base_model().config.save_pretrained(target)
    return target


def _is_mobilevlm_checkpoint(path: str | os.PathLike[str]) -> bool:
    config = Path(path) / "config.json"
    if not config.is_file():
        return True  # a hub id: let from_pretrained decide
    try:
        return json.loads(config.read_text()).get("model_type") == "mobilevlm"
    except (OSError, ValueError):
        return False


def _load_base(base: str | os.PathLike[str], adapter_dir: Path) -> Any:
    """The model a LoRA run adapted: a MobileVLM checkpoint, or a language model assembled with the adapter's config."""
    import torch

    from mvlm.model import MobileVLM, MobileVLMConfig
    from mvlm.model.assembly import assemble_mobilevlm

    if _is_mobilevlm_checkpoint(base):
        return MobileVLM.from_pretrained(base, dtype=torch.float32)
    if not (adapter_dir / "config.json").is_file():
        raise CheckpointError(
            f"{base} is a language model, not a MobileVLM; the adapter folder {adapter_dir} needs the run's "
            "config.json to assemble the model around it"
        )
    config = MobileVLMConfig.from_pretrained(adapter_dir)
    tower = None if config.mm_vision_config else config.mm_vision_tower
    return assemble_mobilevlm(config, language_model=base, vision_tower=tower, dtype=torch.float32)


def merge_lora(base: str | os.PathLike[str], adapter: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Merge a LoRA run into its base and save a plain MobileVLM checkpoint (the reference's ``mergelora.py``).

    Args:
        base: What the LoRA run started from: a MobileVLM checkpoint, or (v1 stage II) the language
            model (e.g. MobileLLaMA-1.4B-Chat), which is assembled with the tower named in the
            adapter folder's ``config.json``.
        adapter: The LoRA output folder (peft adapter + ``non_lora_trainables.bin`` + ``config.json``).
        output: Where to write the merged checkpoint (safetensors, published layout, tokenizer).

    Returns:
        ``output`` as a path.

    Raises:
        MissingDependencyError: peft is not installed.
        CheckpointError: A file is missing or does not fit.
    """
    peft = _import_peft("merging LoRA adapters")
    adapter_dir = Path(adapter)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise CheckpointError(f"{adapter_dir} holds no adapter_config.json; pass the output folder of a LoRA run")
    model = _load_base(base, adapter_dir)
    tokenizer = model.tokenizer
    trainables = adapter_dir / NON_LORA_TRAINABLES
    if trainables.is_file():
        load_non_lora_trainables(model, trainables)
    try:
        merged = peft.PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (OSError, ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"could not load the LoRA adapter from {adapter_dir}: {error}") from error
    merged.tokenizer = tokenizer
    merged.config.use_cache = True
    merged.save_pretrained(output)
    return Path(output)
