"""``LMTrainer``: transformers' ``Trainer`` with a resumable pre-training stream, tokens/s and perplexity logging.

Everything distributed (DDP, FSDP, DeepSpeed) stays transformers' and accelerate's. This module adds:

- **per-rank data streams**: a :class:`~mvlm.train_lm.stream.PackedTokenStream` shards itself over
  ranks, so its data loader is handed to each rank as is (accelerate would otherwise shard an
  iterable data set a second time, or read it on rank 0 only and broadcast the batches);
- **the stream position in checkpoints**: each trained batch's ``stream_state`` is recorded
  (:class:`StreamProgress`), :class:`StreamCheckpointCallback` writes it as
  ``checkpoint-N/stream_state_{rank}.json`` when the Trainer saves, and :func:`restore_stream_state`
  loads it before a resumed run; the callback checks at the start of training that the stream and
  the Trainer resumed from the same step;
- **logging**: ``tokens_per_second`` (all ranks, since the previous loss log, evaluation time
  excluded; this rank's count times the number of ranks) and ``eval_perplexity`` = ``exp(eval_loss)``
  beside every ``eval_loss``. (transformers adds ``num_input_tokens_seen``, kept across resumes, and
  the run's average ``train_tokens_per_second``.)
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import Trainer, TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from mvlm.errors import CheckpointError, ConfigError
from mvlm.train.trainer import nonzero_item_count
from mvlm.train_lm.stream import STREAM_STATE_KEY, PackedTokenStream

__all__ = [
    "LMTrainer",
    "StreamCheckpointCallback",
    "StreamProgress",
    "restore_stream_state",
    "stream_state_file",
]


def stream_state_file(checkpoint: str | os.PathLike[str], rank: int) -> Path:
    """Where rank ``rank`` keeps its data-stream position in a checkpoint folder."""
    return Path(checkpoint) / f"stream_state_{rank}.json"


class StreamProgress:
    """The position of a :class:`~mvlm.train_lm.stream.PackedTokenStream` after the last *trained* batch.

    Args:
        stream: The training stream (its loaded state is the starting point).
        num_workers: The data loader's worker processes.

    Attributes:
        restored_step: The global step of the checkpoint the stream was restored from (0: a fresh start).
    """

    def __init__(self, stream: PackedTokenStream, num_workers: int) -> None:
        self.stream = stream
        self.num_workers = max(1, num_workers)
        self.restored_step = 0
        self.reset()

    def reset(self) -> None:
        """Start again from the stream's loaded state."""
        start = self.stream.state_dict(self.num_workers)
        self._positions: dict[int, dict[str, Any]] = {int(k): v for k, v in start["positions"].items()}
        self._first_shard = int(start["next_shard"])
        self.batches = 0

    def update(self, batch_state: dict[str, Any]) -> None:
        """Record that the batch whose ``stream_state`` is ``batch_state`` was trained on."""
        self._positions[int(batch_state["shard"])] = copy.deepcopy(batch_state["position"])
        self.batches += 1

    def state_dict(self) -> dict[str, Any]:
        """The stream state to save (the format of :meth:`PackedTokenStream.state_dict`)."""
        layout = self.stream.state_dict(self.num_workers)
        layout["positions"] = copy.deepcopy(self._positions)
        layout["next_shard"] = (self._first_shard + self.batches) % self.num_workers
        return layout


def restore_stream_state(
    stream: PackedTokenStream, progress: StreamProgress, checkpoint: str | os.PathLike[str], rank: int
) -> int:
    """Load rank ``rank``'s saved stream position from ``checkpoint`` into ``stream`` and ``progress``.

    Returns:
        The global step the position was saved at.

    Raises:
        CheckpointError: The checkpoint has no position for this rank, or one for another layout.
    """
    path = stream_state_file(checkpoint, rank)
    if not path.is_file():
        raise CheckpointError(
            f"{checkpoint} has no data-stream position for rank {rank} ({path.name}): it was not written by a "
            "pre-training run, or the run stopped while saving it. Resume from an earlier checkpoint "
            "(delete this one) or start a new output folder"
        )
    saved = json.loads(path.read_text())
    stream.load_state_dict(saved["stream"])
    progress.reset()
    progress.restored_step = int(saved["global_step"])
    return progress.restored_step


class StreamCheckpointCallback(TrainerCallback):
    """Save the data-stream position beside every Trainer checkpoint; check it was restored on resume.

    Args:
        progress: The trained-batch tracker that :class:`LMTrainer` updates.
    """

    def __init__(self, progress: StreamProgress) -> None:
        self.progress = progress

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Refuse to train when the Trainer resumed at a step the stream was not restored to."""
        if state.global_step != self.progress.restored_step:
            raise CheckpointError(
                f"the Trainer resumed at step {state.global_step} but the data stream is at step "
                f"{self.progress.restored_step}; restore it from the same checkpoint (restore_stream_state) "
                "so that no data is repeated or skipped"
            )

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        """Write ``checkpoint-{step}/stream_state_{rank}.json``."""
        from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        folder.mkdir(parents=True, exist_ok=True)
        payload = {"global_step": state.global_step, "stream": self.progress.state_dict()}
        path = stream_state_file(folder, args.process_index)
        temporary = path.with_suffix(".json.tmp")
        temporary.write_text(json.dumps(payload, indent=1))
        os.replace(temporary, path)


class LMTrainer(Trainer):
    """A ``transformers.Trainer`` for language-model pre-training and SFT (see the module notes).

    Args:
        *args: As ``transformers.Trainer``.
        stream_progress: The tracker of a :class:`~mvlm.train_lm.stream.PackedTokenStream` training set
            (required with one; register :class:`StreamCheckpointCallback` with the same tracker).
        **kwargs: As ``transformers.Trainer``.

    Raises:
        ConfigError: A stream training set without a tracker, or with ``ignore_data_skip=False`` (the
            Trainer would then skip batches the restored stream has already skipped).
    """

    def __init__(self, *args: Any, stream_progress: StreamProgress | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stream_progress = stream_progress
        if isinstance(self.train_dataset, PackedTokenStream):
            if stream_progress is None:
                raise ConfigError("LMTrainer: a PackedTokenStream training set needs stream_progress")
            if not self.args.ignore_data_skip:
                raise ConfigError(
                    "LMTrainer: set TrainingArguments(ignore_data_skip=True) with a PackedTokenStream; the stream "
                    "resumes from its saved position, the Trainer must not skip batches as well"
                )
        self._tokens_since_log = 0
        self._window_start: float | None = None
        self._excluded_seconds = 0.0

    # ----------------------------------------------------------------------------- data
    def get_train_dataloader(self) -> DataLoader:
        """A plain per-rank data loader for a stream (it shards itself); transformers' loader otherwise."""
        if not isinstance(self.train_dataset, PackedTokenStream):
            return super().get_train_dataloader()
        workers = self.args.dataloader_num_workers
        return DataLoader(
            self.train_dataset,
            batch_size=self._train_batch_size,
            collate_fn=self.data_collator,
            num_workers=workers,
            pin_memory=self.args.dataloader_pin_memory,
            prefetch_factor=self.args.dataloader_prefetch_factor if workers else None,
            persistent_workers=self.args.dataloader_persistent_workers if workers else False,
        )

    def training_step(
        self, model: torch.nn.Module, inputs: dict[str, Any], num_items_in_batch: torch.Tensor | int | None = None
    ) -> torch.Tensor:
        """Record the batch's stream position and token count, then train on it as ``Trainer`` does.

        A step whose labels are all masked (``num_items_in_batch == 0``) trains with a zero loss
        instead of ``0 / 0``.
        """
        if self._window_start is None:  # the first step: throughput counts from here, not from set-up
            self._window_start, self._excluded_seconds = time.perf_counter(), 0.0
        state = inputs.pop(STREAM_STATE_KEY, None)
        if state is not None and self.stream_progress is not None:
            self.stream_progress.update(state)
        mask = inputs.get("attention_mask")
        tokens = int(mask.sum()) if isinstance(mask, torch.Tensor) else int(inputs["input_ids"].numel())
        self._tokens_since_log += tokens
        return super().training_step(model, inputs, nonzero_item_count(num_items_in_batch))

    # ----------------------------------------------------------------------------- logging
    def evaluate(self, *args: Any, **kwargs: Any) -> dict[str, float]:
        """``Trainer.evaluate``, its time left out of the training throughput."""
        started = time.perf_counter()
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._excluded_seconds += time.perf_counter() - started

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add ``tokens_per_second`` to loss logs and ``eval_perplexity`` to evaluation logs."""
        if "loss" in logs and self._window_start is not None:
            now = time.perf_counter()
            elapsed = now - self._window_start - self._excluded_seconds
            world = max(1, self.args.world_size)
            if elapsed > 0:
                logs["tokens_per_second"] = round(self._tokens_since_log * world / elapsed, 2)
            self._tokens_since_log, self._window_start, self._excluded_seconds = 0, now, 0.0
        for key in [k for k in logs if k.endswith("eval_loss") or k == "eval_loss"]:
            loss = logs[key]
            logs[key[: -len("loss")] + "perplexity"] = math.exp(min(loss, 700.0))
        super().log(logs, start_time)
