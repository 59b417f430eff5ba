"""``MobileVLMTrainer``: transformers' ``Trainer`` with MobileVLM's optimizer groups, sampler and stage-I saving.

Everything distributed (DDP, FSDP, DeepSpeed ZeRO) is transformers' and accelerate's; this class
only adds what the reference's ``LLaVATrainer`` adds:

- a separate learning rate for the projector (``projector_lr``, V2 stage I);
- batches grouped by modality and length (``group_by_modality_length``);
- projector-only checkpoints when only the projector trains (v1 stage I writes ``mm_projector.bin``),
  and resuming from them;
- for LoRA runs, checkpoints that hold the non-LoRA trainables (the projector) beside the
  adapter, so a resumed LoRA run loses nothing either.

:class:`LossLogCallback` keeps ``loss_log.csv`` in the output folder up to date during the run.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Sampler
from transformers import Trainer, TrainerCallback

from mvlm.train.lora import NON_LORA_TRAINABLES, load_non_lora_trainables, save_non_lora_trainables
from mvlm.training.checkpoints import last_checkpoint

__all__ = [
    "LOSS_LOG",
    "PROJECTOR_FILE",
    "LossLogCallback",
    "MobileVLMTrainer",
    "last_checkpoint",
    "nonzero_item_count",
]

PROJECTOR_FILE = "mm_projector.bin"
"""The stage-I output file: the projector alone, ``model.mm_projector.*`` keys (as the reference)."""

LOSS_LOG = "loss_log.csv"
"""The loss log written beside the checkpoints: ``step,epoch,loss,learning_rate,grad_norm``."""

_LOSS_COLUMNS = ("step", "epoch", "loss", "learning_rate", "grad_norm")


def _is_peft_model(model: Any) -> bool:
    return hasattr(model, "get_base_model") and hasattr(model, "peft_config")


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
        """AdamW groups: decay / no decay (biases, norms), each split into projector and the rest.

        With ``projector_lr`` set, the projector groups use it; otherwise transformers' two groups.
        """
        if self.projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
        for name, parameter in opt_model.named_parameters():
            if parameter.requires_grad:
                is_projector = "mm_projector" in name.split(".")
                groups.setdefault((is_projector, name in decay), []).append(parameter)
        parameter_groups = []
        for (is_projector, decays), parameters in sorted(groups.items()):
            group: dict[str, Any] = {"params": parameters, "weight_decay": self.args.weight_decay if decays else 0.0}
            if is_projector:
                group["lr"] = self.projector_lr
            parameter_groups.append(group)
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(parameter_groups, **optimizer_kwargs)
        return self.optimizer

    # ----------------------------------------------------------------------------- steps
    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """One step as ``Trainer`` does, except that a step whose labels are all masked trains with a zero loss.

        transformers divides the summed loss by the step's count of unmasked labels; when every sample
        of the step was cut by ``model_max_length`` before its first answer that count is 0 and the loss
        ``0 / 0`` would turn the weights into NaN. The sum (0) is divided by 1 instead.
        """
        return super().training_step(model, inputs, nonzero_item_count(num_items_in_batch))

    # ----------------------------------------------------------------------------- sampling
    def _get_train_sampler(self, train_dataset: Any = None) -> Sampler[int] | None:
        if self.train_sampler_factory is None:
            return super()._get_train_sampler(train_dataset)
        return self.train_sampler_factory(train_dataset if train_dataset is not None else self.train_dataset)

    # ----------------------------------------------------------------------------- checkpoints
    def _save(self, output_dir: str | None = None, state_dict: dict[str, Any] | None = None) -> None:
        folder = Path(output_dir or self.args.output_dir)
        if not self.projector_only_checkpoints:
            super()._save(str(folder), state_dict)
            if self.args.should_save and _is_peft_model(self.accelerator.unwrap_model(self.model)):
                save_non_lora_trainables(self.accelerator.unwrap_model(self.model), folder)
            return
        if not self.args.should_save:
            return
        folder.mkdir(parents=True, exist_ok=True)
        model = self.accelerator.unwrap_model(self.model)
        model.save_projector(folder / PROJECTOR_FILE)
        model.config.save_pretrained(folder)
        torch.save(self.args, folder / "training_args.bin")

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: torch.nn.Module | None = None) -> None:
        target = self.accelerator.unwrap_model(model if model is not None else self.model)
        projector_file = Path(resume_from_checkpoint) / PROJECTOR_FILE
        if self.projector_only_checkpoints and projector_file.is_file():
            target.load_projector(projector_file)
            return
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        trainables = Path(resume_from_checkpoint) / NON_LORA_TRAINABLES
        if _is_peft_model(target) and trainables.is_file():
            load_non_lora_trainables(target, trainables)


class LossLogCallback(TrainerCallback):
    """Keeps ``<output_dir>/loss_log.csv`` (``step,epoch,loss,learning_rate,grad_norm``) current on the main process.

    At the start of a run the file is rewritten from the trainer state's history, so a run resumed
    from a checkpoint drops the rows its interrupted predecessor logged after that checkpoint.
    """

    def _path(self, args: Any) -> Path:
        return Path(args.output_dir) / LOSS_LOG

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Rewrite the log from ``state.log_history``."""
        if not state.is_world_process_zero:
            return
        path = self._path(args)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(_LOSS_COLUMNS)
            for entry in state.log_history:
                if "loss" in entry:
                    writer.writerow(self._row(entry))

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Append one row per logged training loss."""
        if not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        with self._path(args).open("a", newline="") as file:
            csv.writer(file).writerow(self._row({**logs, "step": state.global_step}))

    @staticmethod
    def _row(entry: dict[str, Any]) -> list[Any]:
        return [entry.get(column, "") for column in _LOSS_COLUMNS]


def nonzero_item_count(num_items_in_batch: torch.Tensor | int | None) -> torch.Tensor | int | None:
    """``num_items_in_batch`` (the step's count of trained labels) with 0 replaced by 1.

    transformers divides a step's summed loss by this count; a step with no trained label (every
    sample cut before its first answer) would give ``0 / 0 = NaN`` and poison the weights. With 1,
    the (zero) sum stays zero: a harmless empty step. Shared by the MobileVLM and MobileLLaMA trainers.
    """
    if isinstance(num_items_in_batch, torch.Tensor):
        return torch.ones_like(num_items_in_batch) if int(num_items_in_batch) == 0 else num_items_in_batch
    return 1 if num_items_in_batch == 0 else num_items_in_batch
