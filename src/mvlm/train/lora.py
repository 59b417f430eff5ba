"""LoRA and QLoRA through peft, as the reference's ``--lora_enable`` runs, and merging adapters back.

Targets are every ``nn.Linear`` outside the vision tower and the projector, except ``lm_head``
(the reference's ``find_all_linear_names``). The projector trains fully beside the adapters and is
saved with them (``non_lora_trainables.bin``); :func:`merge_lora` writes a plain MobileVLM checkpoint.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from mvlm.errors import ConfigError, MissingDependencyError

__all__ = ["LoraSettings", "apply_lora", "lora_target_modules", "merge_lora"]

NON_LORA_TRAINABLES = "non_lora_trainables.bin"


@dataclass(frozen=True)
class LoraSettings:
    """LoRA hyper-parameters (the reference's defaults: r 128, alpha 256, dropout 0.05).

    Attributes:
        r: Rank of the update matrices.
        alpha: Scaling numerator (the update is scaled by ``alpha / r``).
        dropout: Dropout on the LoRA input.
        bits: 16 for LoRA on a float model; 4 or 8 for QLoRA (bitsandbytes, CUDA only).
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


def lora_target_modules(model: nn.Module) -> list[str]:
    """Names of the ``nn.Linear`` modules LoRA adapts: all outside the tower and projector, minus ``lm_head``."""
    names = []
    for name, module in model.named_modules():
        outside = not any(part in name for part in ("vision_tower", "mm_projector"))
        if isinstance(module, nn.Linear) and outside and name.split(".")[-1] != "lm_head":
            names.append(name)
    return names


def apply_lora(model: nn.Module, settings: LoraSettings) -> Any:
    """Wrap ``model`` with LoRA adapters (peft); the projector stays fully trainable.

    Raises:
        MissingDependencyError: peft (or bitsandbytes for QLoRA) is not installed.
        ConfigError: QLoRA asked for without CUDA.
    """
    try:
        import peft
    except ImportError as error:
        raise MissingDependencyError.for_package("peft", "LoRA training", "train") from error
    if settings.bits in (4, 8):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(
                f"QLoRA ({settings.bits}-bit) needs bitsandbytes on a CUDA GPU; on this machine use LoRA with bits=16"
            )
    config = peft.LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        bias="none",
        target_modules=lora_target_modules(model),
        task_type="CAUSAL_LM",
    )
    wrapped = peft.get_peft_model(model, config)
    for parameter in model.mm_projector.parameters():  # type: ignore[attr-defined]
        parameter.requires_grad_(True)
    return wrapped


def save_lora(model: Any, folder: str | os.PathLike[str]) -> None:
    """Write the adapters (peft layout) and the non-LoRA trainables (projector) into ``folder``."""
    import torch

    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(target)
    base = model.get_base_model()
    trainables = {
        name: parameter.detach().cpu()
        for name, parameter in base.named_parameters()
        if parameter.requires_grad and "lora_" not in name
    }
    torch.save(trainables, target / NON_LORA_TRAINABLES)
    base.config.save_pretrained(target)


def merge_lora(base: str | os.PathLike[str], adapter: str | os.PathLike[str], output: str | os.PathLike[str]) -> Path:
    """Merge a LoRA run into its base MobileVLM and save a plain checkpoint (the reference's ``mergelora.py``).

    Args:
        base: The MobileVLM checkpoint the LoRA run started from.
        adapter: The LoRA output folder (peft adapter + ``non_lora_trainables.bin``).
        output: Where to write the merged checkpoint.

    Returns:
        ``output`` as a path.

    Raises:
        MissingDependencyError: peft is not installed.
        CheckpointError: A file is missing or does not fit.
    """
    try:
        import peft
    except ImportError as error:
        raise MissingDependencyError.for_package("peft", "merging LoRA adapters", "train") from error
    from mvlm.errors import CheckpointError
    from mvlm.model import MobileVLM
    from mvlm.model.loading import check_loading_report, read_state_dict

    model = MobileVLM.from_pretrained(base)
    adapter_dir = Path(adapter)
    trainables_file = adapter_dir / NON_LORA_TRAINABLES
    if trainables_file.is_file():
        trainables = read_state_dict(trainables_file)
        own = dict(model.named_parameters())
        cleaned = {_strip_peft_prefix(k): v for k, v in trainables.items()}
        unknown = [k for k in cleaned if k not in own]
        check_loading_report({"unexpected_keys": unknown}, str(trainables_file))
        model.load_state_dict(cleaned, strict=False)
    try:
        merged = peft.PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    except (OSError, ValueError) as error:
        raise CheckpointError(f"could not load the LoRA adapter from {adapter_dir}: {error}") from error
    merged.save_pretrained(output)
    return Path(output)


def _strip_peft_prefix(name: str) -> str:
    for prefix in ("base_model.model.",):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name
