"""``pretrain(config)``: pre-train a MobileLLaMA (or any Llama-shaped causal LM) from scratch on packed text.

The steps: load the tokenizer; build the model from a preset (``mobilellama-1.4b``,
``mobilellama-2.7b``), a ``config.json`` or an existing checkpoint (``init_from``, to continue
pre-training); open the corpus as a resumable :class:`~mvlm.train_lm.stream.PackedTokenStream`;
train with :class:`~mvlm.train_lm.trainer.LMTrainer` (AdamW, cosine schedule with warm-up, gradient
clipping, bf16 where supported, gradient checkpointing and accumulation, held-out perplexity every
``eval_steps``), resuming model, optimizer, schedule *and data stream* from the newest checkpoint;
save a folder that ``transformers.LlamaForCausalLM.from_pretrained`` loads and that
:func:`mvlm.model.assembly.assemble_mobilevlm` takes as ``language_model``.

MobileLLaMA's pre-training hyper-parameters were not published (the models were trained on 1.3T
RedPajama v1 tokens with a 2k context). The defaults here are the usual LLaMA-style choices: peak
lr 3e-4, AdamW betas (0.9, 0.95), weight decay 0.1, gradient clipping 1.0, 1 % warm-up, cosine decay.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from mvlm.errors import ConfigError, UnknownNameError
from mvlm.train_lm.documents import DocumentSource, FileDocumentSource, HFDocumentSource, TextUnit
from mvlm.train_lm.stream import PackedBatchCollator, PackedSequenceDataset, PackedTokenStream, build_eval_sequences
from mvlm.train_lm.tokenizer_files import load_lm_tokenizer, save_tokenizer_files
from mvlm.train_lm.trainer import LMTrainer, StreamCheckpointCallback, StreamProgress, restore_stream_state
from mvlm.training.arguments import RunOptions, build_training_arguments, world_size

__all__ = [
    "PretrainConfig",
    "PretrainResult",
    "build_pretraining_model",
    "open_corpus",
    "pretrain",
    "resolve_model_config",
]

logger = logging.getLogger(__name__)


@dataclass(kw_only=True)
class PretrainConfig(RunOptions):
    """One pre-training run (the :class:`~mvlm.training.RunOptions` fields plus these).

    Attributes:
        tokenizer: The tokenizer: a folder, a hub id, or a SentencePiece ``tokenizer.model``.
        model: A fresh model: a language-model preset (``mobilellama-1.4b``, ``mobilellama-2.7b``), a
            ``config.json`` file, or a folder holding one.
        init_from: Or continue pre-training a checkpoint (a folder or hub id).
        model_overrides: Config fields to change (``{"num_hidden_layers": 2}``...), with ``model``.
        data: Corpus files or glob patterns (``.jsonl``/``.json`` JSON Lines, text, ``.gz``).
        hf_dataset: Or a Hugging Face data set (name or path for ``datasets.load_dataset``).
        hf_config: Its configuration name.
        hf_split: Its split.
        hf_streaming: Stream it instead of downloading it first.
        text_field: The text's key in JSON Lines records and data-set rows.
        text_unit: How plain-text files are cut into documents (``paragraph``, ``line``, ``file``).
        seq_len: Tokens per training sequence (MobileLLaMA: 2048).
        add_bos: Start each document with BOS (EOS always ends it).
        per_device_train_batch_size: Sequences per device per micro-step.
        gradient_accumulation_steps: Micro-steps per optimizer step.
        max_steps: Optimizer steps (the stream loops over the corpus; the run is measured in steps).
        max_tokens: Or a token budget: ``max_steps`` = tokens / (seq_len x batch x accumulation x ranks).
        learning_rate: Peak learning rate.
        warmup_ratio: Share of the steps for linear warm-up.
        weight_decay: AdamW weight decay.
        lr_scheduler_type: The schedule after warm-up.
        adam_beta1: AdamW beta1.
        adam_beta2: AdamW beta2.
        max_grad_norm: Gradient clipping norm.
        eval_data: Held-out files for perplexity.
        holdout_documents: Or hold out the corpus's first documents (the stream skips them).
        eval_sequences: Most held-out sequences evaluated.
    """

    tokenizer: str
    model: str | None = None
    init_from: str | None = None
    model_overrides: dict[str, Any] = field(default_factory=dict)
    data: list[str] | None = None
    hf_dataset: str | None = None
    hf_config: str | None = None
    hf_split: str = "train"
    hf_streaming: bool = True
    text_field: str = "text"
    text_unit: TextUnit = "paragraph"
    seq_len: int = 2048
    add_bos: bool = True
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_steps: int = -1
    max_tokens: int | None = None
    learning_rate: float = 3e-4
    warmup_ratio: float = 0.01
    weight_decay: float = 0.1
    lr_scheduler_type: str = "cosine"
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    max_grad_norm: float = 1.0
    eval_data: list[str] | None = None
    holdout_documents: int = 0
    eval_sequences: int = 64

    def __post_init__(self) -> None:
        if (self.model is None) == (self.init_from is None):
            raise ConfigError("give model (a preset or config.json, for a fresh model) or init_from (a checkpoint)")
        if (self.data is None) == (self.hf_dataset is None):
            raise ConfigError("give the corpus as data (files) or hf_dataset (a Hugging Face data set), one of them")
        if self.max_steps <= 0 and not self.max_tokens:
            raise ConfigError("a pre-training stream has no end: give max_steps or max_tokens")
        if self.holdout_documents and self.eval_data:
            raise ConfigError("hold out documents or give eval_data, not both")
        if self.holdout_documents < 0 or self.eval_sequences < 1:
            raise ConfigError("holdout_documents must be >= 0 and eval_sequences >= 1")

    def steps(self, ranks: int) -> int:
        """The optimizer steps of the run on ``ranks`` processes."""
        if self.max_steps > 0:
            return self.max_steps
        per_step = self.tokens_per_step(ranks)
        return max(1, math.ceil(int(self.max_tokens or 0) / per_step))

    def tokens_per_step(self, ranks: int) -> int:
        """Tokens in one optimizer step over all ranks."""
        return self.seq_len * self.per_device_train_batch_size * self.gradient_accumulation_steps * ranks

    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data (written as ``pretrain_config.json``)."""
        return asdict(self)


@dataclass(frozen=True)
class PretrainResult:
    """What a pre-training run produced.

    Attributes:
        output_dir: The saved model folder.
        global_step: Optimizer steps done (including those before a resume).
        tokens_trained: Tokens trained on over all ranks (``global_step`` x tokens per step).
        training_loss: Mean training loss of this run's steps.
        eval_loss: Held-out loss at the end (``None`` without evaluation data).
        eval_perplexity: ``exp(eval_loss)``.
        resumed_from: The checkpoint the run continued from.
        parameters: Parameters of the model.
    """

    output_dir: Path
    global_step: int
    tokens_trained: int
    training_loss: float
    eval_loss: float | None
    eval_perplexity: float | None
    resumed_from: str | None
    parameters: int


def resolve_model_config(spec: str, overrides: dict[str, Any] | None = None) -> Any:
    """A transformers config from a preset name, a ``config.json`` file or a folder, with ``overrides`` applied.

    Raises:
        ConfigError: ``spec`` is none of these, or an override names a field the config does not have.
    """
    from transformers import AutoConfig

    from mvlm.language import get_language_model_preset

    path = Path(spec)
    if path.is_file():
        fields = json.loads(path.read_text())
        fields = {k: v for k, v in fields.items() if not k.startswith("_")}
        config = AutoConfig.for_model(fields.pop("model_type", "llama"), **fields)
    elif path.is_dir():
        config = AutoConfig.from_pretrained(str(path))
    else:
        try:
            preset = get_language_model_preset(spec)
        except UnknownNameError as error:
            raise ConfigError(
                f"model '{spec}' is neither a language-model preset nor a config.json file or folder: {error}"
            ) from error
        config = AutoConfig.for_model(preset.pop("model_type"), **preset)
    known = set(config.to_dict())
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"model override '{key}' is not a field of the {config.model_type} config")
        setattr(config, key, value)
    return config


def _align_with_tokenizer(config: Any, tokenizer: Any) -> None:
    vocab = len(tokenizer)
    if vocab > config.vocab_size:
        raise ConfigError(
            f"the tokenizer has {vocab} tokens but the model's vocab_size is {config.vocab_size}; use a model config "
            "with a vocabulary at least as large (model_overrides={'vocab_size': ...})"
        )
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None and getattr(config, name, None) != value:
            logger.info("setting the model's %s to the tokenizer's (%s)", name, value)
            setattr(config, name, value)


def build_pretraining_model(config: PretrainConfig, tokenizer: Any) -> Any:
    """The model a run starts from: fresh (random weights, seeded) or ``init_from``, in fp32, cache off.

    Raises:
        ConfigError: The tokenizer does not fit the model's vocabulary.
        CheckpointError: ``init_from`` cannot be loaded.
    """
    from transformers import AutoModelForCausalLM, set_seed

    from mvlm.errors import CheckpointError
    from mvlm.language import create_language_model

    if config.init_from is not None:
        try:
            model = AutoModelForCausalLM.from_pretrained(config.init_from, dtype=torch.float32)
        except (OSError, ValueError) as error:
            raise CheckpointError(f"could not load init_from '{config.init_from}': {error}") from error
        _align_with_tokenizer(model.config, tokenizer)
    else:
        model_config = resolve_model_config(str(config.model), config.model_overrides)
        _align_with_tokenizer(model_config, tokenizer)
        set_seed(config.seed)
        model = create_language_model(model_config)
    model.config.use_cache = False
    return model


def open_corpus(config: PretrainConfig) -> DocumentSource:
    """The corpus of ``config`` as a document source (files or a Hugging Face data set)."""
    if config.data is not None:
        return FileDocumentSource(config.data, text_field=config.text_field, text_unit=config.text_unit)
    return HFDocumentSource(
        config.hf_dataset,
        name=config.hf_config,
        split=config.hf_split,
        text_field=config.text_field,
        streaming=config.hf_streaming,
    )


def _eval_data(config: PretrainConfig, source: DocumentSource, tokenizer: Any) -> PackedSequenceDataset | None:
    if config.eval_data:
        held_out: DocumentSource = FileDocumentSource(
            config.eval_data, text_field=config.text_field, text_unit=config.text_unit
        )
        return build_eval_sequences(
            held_out, tokenizer, config.seq_len, max_sequences=config.eval_sequences, add_bos=config.add_bos
        )
    if config.holdout_documents:
        return build_eval_sequences(
            source,
            tokenizer,
            config.seq_len,
            max_sequences=config.eval_sequences,
            max_documents=config.holdout_documents,
            add_bos=config.add_bos,
        )
    return None


def pretrain(config: PretrainConfig, *, callbacks: list[Any] | None = None) -> PretrainResult:
    """Run (or resume) one pre-training run; see the module notes.

    Args:
        config: The run.
        callbacks: Extra ``transformers.TrainerCallback`` objects.

    Raises:
        ConfigError: Inconsistent options.
        DataError: Unreadable corpus records (named by file and line).
        CheckpointError: A checkpoint to resume from lacks this rank's data-stream position, or was made
            with another number of ranks, workers or sequence length.
    """
    tokenizer = load_lm_tokenizer(config.tokenizer)
    model = build_pretraining_model(config, tokenizer)
    parameters = sum(p.numel() for p in model.parameters())
    source = open_corpus(config)
    eval_dataset = _eval_data(config, source, tokenizer)

    steps = config.steps(world_size())
    arguments = build_training_arguments(
        config,
        learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        warmup_ratio=config.warmup_ratio,
        weight_decay=config.weight_decay,
        lr_scheduler_type=config.lr_scheduler_type,
        max_steps=steps,
        has_eval=eval_dataset is not None,
        adam_beta1=config.adam_beta1,
        adam_beta2=config.adam_beta2,
        max_grad_norm=config.max_grad_norm,
        ignore_data_skip=True,
        include_num_input_tokens_seen="non_padding",
    )
    stream = PackedTokenStream(
        source,
        tokenizer,
        config.seq_len,
        add_bos=config.add_bos,
        first_document=config.holdout_documents,
        rank=arguments.process_index,
        world_size=arguments.world_size,
    )
    progress = StreamProgress(stream, arguments.dataloader_num_workers)
    resume = config.resume_checkpoint()
    if resume is not None:
        step = restore_stream_state(stream, progress, resume, arguments.process_index)
        logger.info("resuming from %s: data stream restored at step %d", resume, step)
    trainer = LMTrainer(
        model=model,
        args=arguments,
        train_dataset=stream,
        eval_dataset=eval_dataset,
        data_collator=PackedBatchCollator(),
        processing_class=tokenizer,
        stream_progress=progress,
        callbacks=[StreamCheckpointCallback(progress), *(callbacks or [])],
    )
    output = trainer.train(resume_from_checkpoint=resume)
    metrics = trainer.evaluate() if eval_dataset is not None else {}

    output_dir = Path(config.output_dir)
    trainer.accelerator.unwrap_model(trainer.model).config.use_cache = True
    trainer.save_model(str(output_dir))
    if trainer.is_world_process_zero():
        save_tokenizer_files(tokenizer, output_dir, config.tokenizer)
        (output_dir / "pretrain_config.json").write_text(json.dumps(config.to_dict(), indent=2, default=str))
    eval_loss = metrics.get("eval_loss")
    return PretrainResult(
        output_dir=output_dir,
        global_step=output.global_step,
        tokens_trained=output.global_step * config.tokens_per_step(arguments.world_size),
        training_loss=float(output.training_loss),
        eval_loss=eval_loss,
        eval_perplexity=math.exp(eval_loss) if eval_loss is not None else None,
        resumed_from=resume,
        parameters=parameters,
    )
