"""``MobileVLMTrainer``: transformers' ``Trainer`` with MobileVLM's optimizer groups, sampler and stage-I saving.

Everything distributed (DDP, FSDP, DeepSpeed ZeRO) is transformers' and accelerate's; this class
only adds what the reference's ``LLaVATrainer`` adds:

- a separate learning rate for the projector (``projector_lr``, V2 stage I);
- batches grouped by modality and length (``group_by_modality_length``);
- projector-only checkpoints when only the projector trains (v1 stage I writes ``mm_projector.bin``),
  and resuming from them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Sampler
from transformers import Trainer

__all__ = ["PROJECTOR_FILE", "MobileVLMTrainer", "last_checkpoint"]

PROJECTOR_FILE = "mm_projector.bin"


class MobileVLMTrainer(Trainer):
    """A ``transformers.Trainer`` for MobileVLM stages.

    Args:
        *args: As ``transformers.Trainer``.
        projector_lr: Learning rate of the projector's parameters (``None``: the global one).
        projector_only_checkpoints: Save (and resume from) only the projector, as v1 stage I does.
        train_sampler_factory: Builds the training sampler from the dataset (e.g. the modality-length
            grouped sampler); ``None`` keeps transformers' random sampler.
        **kwargs: As ``transformers.Trainer``.
    """

    def __init__(
        self,
        *args: Any,
        projector_lr: float | None = None,
        projector_only_checkpoints: bool = False,
        train_sampler_factory: Callable[[Any], Sampler[int]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.projector_lr = projector_lr
        self.projector_only_checkpoints = projector_only_checkpoints
        self.train_sampler_factory = train_sampler_factory

    # ----------------------------------------------------------------------------- optimizer
    def create_optimizer(self, model: torch.nn.Module | None = None) -> torch.optim.Optimizer:
        """AdamW groups: decay / no decay (biases, norms), and the projector at ``projector_lr`` if set."""
        if self.projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, parameter in opt_model.named_parameters():
            if parameter.requires_grad:
                groups.setdefault(("mm_projector" in name, name in decay), []).append(parameter)
        parameter_groups = []
        for (is_projector, decays), parameters in groups.items():
            group: dict[str, Any] = {"params": parameters, "weight_decay": self.args.weight_decay if decays else 0.0}
            if is_projector:
                group["lr"] = self.projector_lr
            parameter_groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(parameter_groups, **optimizer_kwargs)
        return self.optimizer

    # ----------------------------------------------------------------------------- sampling
    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int] | None:
        if self.train_sampler_factory is None:
            return super()._get_train_sampler(train_dataset)
        return self.train_sampler_factory(train_dataset if train_dataset is not None else self.train_dataset)

    # ----------------------------------------------------------------------------- checkpoints
    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        if not self.projector_only_checkpoints:
            super()._save(output_dir, state_dict)
            return
        folder = Path(output_dir or self.args.output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        model.save_projector(folder / PROJECTOR_FILE)
        model.config.save_pretrained(folder)
        torch.save(self.args, folder / "training_args.bin")

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        projector_file = Path(resume_from_checkpoint) / PROJECTOR_FILE
        if self.projector_only_checkpoints and projector_file.is_file():
            target = self.accelerator.unwrap_model(model if model is not None else self.model)
            target.load_projector(projector_file)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)


def last_checkpoint(output_dir: str | os.PathLike[str]) -> str | None:
    """The newest ``checkpoint-N`` folder in ``output_dir`` (what an interrupted run resumes from), or ``None``."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = Path(output_dir)
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None
