"""The training commands of ``mvlm``: ``train``, ``merge-lora`` and ``run`` (the reference's ``run.sh``).

:func:`add_train_commands` registers them on the ``mvlm`` parser; :func:`main` runs them on their
own (``python -m mvlm.train.cli train ...``). Under ``torchrun`` every process runs the command::

    torchrun --nproc_per_node 8 -m mvlm train --stage finetune --model out/stage1 --data mix665k.json \\
        --image-folder data/ --output out/stage2 --deepspeed zero2

Importing this module is light: the Trainer is imported when a command runs.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mvlm.errors import ConfigError, MvlmError

__all__ = ["add_train_commands", "build_parser", "main", "resolve_model_preset", "train_config_from_args"]

_STAGES = ("pretrain", "finetune")
_TASKS = ("pretrain", "finetune", "test")


# ------------------------------------------------------------------------------------------- options
def _add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``train`` and ``run``: the schedule, precision, tower, LoRA, distribution, saving."""
    schedule = parser.add_argument_group("schedule (default: the recipe's value)")
    schedule.add_argument("--max-steps", type=int, default=-1, help="stop after N optimiser steps (default: epochs)")
    schedule.add_argument("--epochs", type=float, default=None, help="training epochs (recipe: 1)")
    schedule.add_argument("--learning-rate", "--lr", type=float, default=None, help="peak learning rate")
    schedule.add_argument("--projector-lr", type=float, default=None, help="the projector's own learning rate")
    schedule.add_argument("--batch-size", type=int, default=None, help="samples per device per micro-step")
    schedule.add_argument(
        "--global-batch-size",
        type=int,
        default=None,
        help="samples per optimiser step over all devices; gradient accumulation makes up the difference "
        "(recipe: 256 for stage I, 128 for stage II, the reference's 8-GPU totals)",
    )
    schedule.add_argument(
        "--gradient-accumulation-steps", type=int, default=None, help="micro-steps per optimiser step (overrides)"
    )
    schedule.add_argument("--warmup-ratio", type=float, default=None, help="share of steps for warm-up (0.03)")
    schedule.add_argument("--weight-decay", type=float, default=None, help="AdamW weight decay (0)")
    schedule.add_argument("--lr-scheduler", default=None, help="transformers scheduler name (cosine)")
    schedule.add_argument("--model-max-length", type=int, default=None, help="longest sample in positions (2048)")
    schedule.add_argument("--seed", type=int, default=42, help="seed of data order and initialisation (default: 42)")

    model = parser.add_argument_group("what trains and how")
    model.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 mixed precision (GPU default)"
    )
    model.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="recompute activations in the backward pass (recipe: on; off for projector-only stages)",
    )
    model.add_argument(
        "--group-by-modality-length",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="batch image and text-only samples apart, by length (recipe: on in stage II)",
    )
    model.add_argument("--image-aspect-ratio", choices=("pad", "square"), default=None, help="image preprocessing")
    model.add_argument("--train-vision-tower", action="store_true", help="train the whole vision tower too")
    model.add_argument(
        "--train-vision-tower-last-layers", type=int, default=0, metavar="N", help="train the tower's last N layers"
    )
    model.add_argument("--workers", type=int, default=0, help="data-loading worker processes (default: 0)")

    lora = parser.add_argument_group("LoRA / QLoRA (any of these enables LoRA on the language model)")
    lora.add_argument("--lora", action="store_true", help="train LoRA adapters instead of the whole language model")
    lora.add_argument("--lora-r", type=int, default=None, help="LoRA rank (default: 128)")
    lora.add_argument("--lora-alpha", type=int, default=None, help="LoRA alpha (default: 256)")
    lora.add_argument("--lora-dropout", type=float, default=None, help="LoRA dropout (default: 0.05)")
    lora.add_argument("--bits", type=int, choices=(4, 8, 16), default=None, help="4 or 8: QLoRA (CUDA, bitsandbytes)")

    dist = parser.add_argument_group("distributed (run the command under torchrun)")
    dist.add_argument(
        "--deepspeed", default=None, metavar="zero2|zero3|PATH", help="DeepSpeed ZeRO: a shipped config or a JSON file"
    )
    dist.add_argument(
        "--fsdp", nargs="?", const=True, default=None, metavar="PATH", help="FSDP (the shipped config, or a JSON file)"
    )

    saving = parser.add_argument_group("checkpoints and logs")
    saving.add_argument("--save-steps", type=int, default=None, help="checkpoint every N steps (recipe's interval)")
    saving.add_argument("--save-total-limit", type=int, default=None, help="checkpoints kept (recipe: 1)")
    saving.add_argument("--logging-steps", type=int, default=10, help="log the loss every N steps (default: 10)")
    saving.add_argument(
        "--resume",
        default="auto",
        metavar="auto|never|PATH",
        help="auto (default): continue from the newest checkpoint in --output; never: start fresh; or a checkpoint",
    )
    saving.add_argument("--report-to", nargs="*", default=[], help="transformers integrations (wandb, tensorboard)")


def _add_train_command(commands: Any) -> None:
    parser = commands.add_parser(
        "train",
        help="train one MobileVLM stage (stage I: feature alignment / pre-training; stage II: instruction tuning)",
        description="Train one stage of MobileVLM with the published recipe (--stage and --version, or --recipe), "
        "on LLaVA-format data, with transformers' Trainer: progress bar, loss log (loss_log.csv, "
        "trainer_state.json), checkpoints every --save-steps, and resuming after an interruption. Run it under "
        "torchrun for several processes (DDP, or --deepspeed / --fsdp).",
    )
    recipe = parser.add_argument_group("recipe")
    recipe.add_argument("--stage", choices=_STAGES, default=None, help="pretrain (stage I) or finetune (stage II)")
    recipe.add_argument("--version", choices=("v1", "v2"), default="v1", help="MobileVLM version (default: v1)")
    recipe.add_argument("--recipe", default=None, help="a recipe name instead of --stage/--version (v2-pretrain...)")
    source = parser.add_argument_group("model and data")
    source.add_argument(
        "--model",
        required=True,
        help="where to start: a MobileVLM checkpoint (folder or hub id), stage I's output folder, or a preset "
        "(MobileVLM-1.7B, MobileVLM_V2-3B...) with --language-model and --vision-tower",
    )
    source.add_argument("--language-model", default=None, help="MobileLLaMA (causal LM) checkpoint to assemble from")
    source.add_argument("--vision-tower", default=None, help="vision tower (CLIP) checkpoint to assemble from")
    source.add_argument(
        "--pretrain-mm-mlp-adapter", default=None, metavar="PATH", help="a stage-I mm_projector.bin to load"
    )
    source.add_argument("--data", nargs="+", required=True, help="LLaVA-format JSON / JSONL data file(s)")
    source.add_argument("--image-folder", default=None, help="root of the data's image names (default: data folder)")
    source.add_argument("--output", required=True, help="output folder: checkpoints, logs, the trained model")
    _add_run_options(parser)
    parser.set_defaults(handler=_train_command)


def _add_merge_command(commands: Any) -> None:
    parser = commands.add_parser(
        "merge-lora",
        help="merge a LoRA run into its base and write a plain checkpoint",
        description="Fold the LoRA adapters of a training run into the base weights, load its other trained "
        "tensors (non_lora_trainables.bin: the projector) and save a plain MobileVLM checkpoint "
        "(the reference's scripts/mergelora.py).",
    )
    parser.add_argument("base", help="what the LoRA run started from: a MobileVLM checkpoint or the language model")
    parser.add_argument("adapter", help="the LoRA run's output folder (adapter_config.json, adapter weights)")
    parser.add_argument("output", help="where to write the merged checkpoint")
    parser.set_defaults(handler=_merge_command)


def _add_pipeline_command(commands: Any) -> None:
    parser = commands.add_parser(
        "run",
        help="the reference's run.sh: pretrain, finetune (and test) a MobileVLM in one command",
        description="Run the stages named by TASK (pretrain, finetune, test, joined by '-') for MODEL with the "
        "published recipes of its version: stage I into OUTPUT/pretrain, stage II from it into OUTPUT/finetune, "
        "then the benchmarks under --benchmark-data with the stage-II model into OUTPUT/test (mvlm eval's runner; "
        "under torchrun each process answers one chunk).",
    )
    parser.add_argument("model", help="a MobileVLM preset: mobilevlm1.7b, mobilevlm3b, mobilevlm_v2_1.7b, ...")
    parser.add_argument("task", help="pretrain-finetune-test, pretrain-finetune, finetune, ...")
    parser.add_argument("--language-model", required=True, help="MobileLLaMA-*-Chat checkpoint (stage I init)")
    parser.add_argument("--vision-tower", required=True, help="CLIP checkpoint (clip-vit-large-patch14-336)")
    parser.add_argument("--pretrain-data", nargs="+", default=None, help="stage-I LLaVA data file(s)")
    parser.add_argument("--pretrain-images", default=None, help="stage-I image folder")
    parser.add_argument("--finetune-data", nargs="+", default=None, help="stage-II LLaVA data file(s)")
    parser.add_argument("--finetune-images", default=None, help="stage-II image folder")
    parser.add_argument("--output", required=True, help="work folder: OUTPUT/pretrain, OUTPUT/finetune, OUTPUT/test")
    parser.add_argument(
        "--benchmark-data", default=None, help="the test task's benchmark_data root (as the MobileVLM README lays out)"
    )
    parser.add_argument(
        "--benchmarks", nargs="+", default=["all"], help="benchmarks the test task runs (default: all found)"
    )
    _add_run_options(parser)
    parser.set_defaults(handler=_pipeline_command)


def add_train_commands(commands: Any) -> None:
    """Register ``train``, ``merge-lora`` and ``run`` on the ``mvlm`` parser's sub-commands.

    Args:
        commands: The action returned by ``parser.add_subparsers()``.
    """
    _add_train_command(commands)
    _add_merge_command(commands)
    _add_pipeline_command(commands)


# ------------------------------------------------------------------------------------------- handlers
def _lora_settings(args: argparse.Namespace) -> Any:
    from mvlm.train.lora import LoraSettings

    given = {
        "r": args.lora_r,
        "alpha": args.lora_alpha,
        "dropout": args.lora_dropout,
        "bits": args.bits,
    }
    chosen = {key: value for key, value in given.items() if value is not None}
    if not args.lora and not chosen:
        return None
    return LoraSettings(**chosen)


def _resume(value: str) -> bool | str:
    return False if value == "never" else value


def train_config_from_args(args: argparse.Namespace, **fields: Any) -> Any:
    """The :class:`~mvlm.train.TrainConfig` of parsed ``train`` (or ``run``) options.

    Args:
        args: Parsed options.
        **fields: Fields that replace the options' (``run`` sets the recipe, model and data per stage).

    Raises:
        ConfigError: Contradicting options (``--recipe`` with ``--stage``, neither).
    """
    from mvlm.train.config import TrainConfig

    if "recipe" not in fields:
        if args.recipe and args.stage:
            raise ConfigError("give --recipe or --stage (with --version), not both")
        if not args.recipe and not args.stage:
            raise ConfigError("say which stage to train: --stage pretrain|finetune (and --version v1|v2), or --recipe")
        fields["recipe"] = args.recipe or f"{args.version}-{args.stage}"
    options: dict[str, Any] = {
        "model": getattr(args, "model", None),
        "language_model": args.language_model,
        "vision_tower": args.vision_tower,
        "pretrain_mm_mlp_adapter": getattr(args, "pretrain_mm_mlp_adapter", None),
        "data_path": getattr(args, "data", None),
        "image_folder": getattr(args, "image_folder", None),
        "output_dir": getattr(args, "output", None),
        "max_steps": args.max_steps,
        "num_train_epochs": args.epochs,
        "learning_rate": args.learning_rate,
        "projector_lr": args.projector_lr,
        "per_device_train_batch_size": args.batch_size,
        "global_batch_size": args.global_batch_size,
        "gradient_accumulation_steps": args.gradient_accumulation_steps,
        "warmup_ratio": args.warmup_ratio,
        "weight_decay": args.weight_decay,
        "lr_scheduler_type": args.lr_scheduler,
        "model_max_length": args.model_max_length,
        "bf16": args.bf16,
        "gradient_checkpointing": args.gradient_checkpointing,
        "group_by_modality_length": args.group_by_modality_length,
        "image_aspect_ratio": args.image_aspect_ratio,
        "train_vision_tower": args.train_vision_tower,
        "train_vision_tower_last_layers": args.train_vision_tower_last_layers,
        "lora": _lora_settings(args),
        "save_steps": args.save_steps,
        "save_total_limit": args.save_total_limit,
        "logging_steps": args.logging_steps,
        "seed": args.seed,
        "dataloader_num_workers": args.workers,
        "deepspeed": args.deepspeed,
        "fsdp": args.fsdp,
        "resume": _resume(args.resume),
        "report_to": list(args.report_to),
    }
    options.update(fields)
    if isinstance(options["data_path"], list) and len(options["data_path"]) == 1:
        options["data_path"] = options["data_path"][0]
    return TrainConfig(**options)


def _report(result: Any) -> None:
    import os

    if int(os.environ.get("RANK", "0")) != 0:
        return
    resumed = f", resumed from {result.resumed_from}" if result.resumed_from else ""
    print(
        f"trained {result.trainable_parameters:,} of {result.total_parameters:,} parameters for {result.global_step} "
        f"steps (mean loss {result.training_loss:.4f}{resumed}); saved to {result.output_dir}"
    )
    if result.tokenization_mismatches:
        print(f"warning: {result.tokenization_mismatches} sample(s) had a tokenization mismatch and added no loss")


def _train_command(args: argparse.Namespace) -> int:
    """Handler of ``mvlm train``."""
    from mvlm.train.run import train

    _report(train(train_config_from_args(args)))
    return 0


def _merge_command(args: argparse.Namespace) -> int:
    """Handler of ``mvlm merge-lora``."""
    from mvlm.train.lora import merge_lora

    print(f"merged checkpoint written to {merge_lora(args.base, args.adapter, args.output)}")
    return 0


def resolve_model_preset(name: str) -> str:
    """The preset behind a loose model name: ``mobilevlm1.7b`` / ``mobilevlm_v2_1.7b`` -> ``MobileVLM-1.7B`` / ...

    Raises:
        ConfigError: No preset matches (the message lists them).
    """
    from mvlm.model import list_model_presets

    def squash(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    matches = [preset for preset in list_model_presets() if squash(preset) == squash(name)]
    if not matches:
        raise ConfigError(f"no MobileVLM preset is named like '{name}'; known: {', '.join(list_model_presets())}")
    return matches[0]


def _pipeline_command(args: argparse.Namespace) -> int:
    """Handler of ``mvlm run MODEL TASK``."""
    from mvlm.model import MobileVLMConfig
    from mvlm.train.run import train

    tasks = args.task.split("-")
    unknown = [task for task in tasks if task not in _TASKS]
    if unknown or not tasks:
        raise ConfigError(f"unknown task(s) {unknown} in '{args.task}'; join pretrain, finetune and test with '-'")
    preset = resolve_model_preset(args.model)
    version = "v2" if MobileVLMConfig.from_preset(preset).mm_projector_type == "ldpnetv2" else "v1"
    output = Path(args.output)
    stage1, stage2 = output / "pretrain", output / "finetune"
    if "pretrain" in tasks:
        if not args.pretrain_data:
            raise ConfigError("the pretrain task needs --pretrain-data (and --pretrain-images)")
        config = train_config_from_args(
            args,
            recipe=f"{version}-pretrain",
            model=preset,
            data_path=args.pretrain_data,
            image_folder=args.pretrain_images,
            output_dir=str(stage1),
        )
        _report(train(config))
    if "finetune" in tasks:
        if not args.finetune_data:
            raise ConfigError("the finetune task needs --finetune-data (and --finetune-images)")
        if not stage1.is_dir():
            raise ConfigError(f"finetune starts from stage I's output {stage1}; run the pretrain task first")
        config = train_config_from_args(
            args,
            recipe=f"{version}-finetune",
            model=str(stage1),
            data_path=args.finetune_data,
            image_folder=args.finetune_images,
            output_dir=str(stage2),
        )
        _report(train(config))
    if "test" in tasks:
        _test_task(args, stage2, output / "test")
    return 0


def _test_task(args: argparse.Namespace, model_dir: Path, output: Path) -> None:
    """The benchmarks with the stage-II model, as the reference's ``run.sh`` runs ``benchmark.sh``."""
    import os

    if not args.benchmark_data:
        raise ConfigError("the test task needs --benchmark-data, the benchmark_data root (see the Evaluation docs)")
    if not model_dir.is_dir():
        raise ConfigError(f"the test task evaluates {model_dir}; run the finetune task first")
    try:
        from mvlm.eval import run_benchmarks
        from mvlm.inference import load_model_for_inference, resolve_device, resolve_dtype
    except ImportError as error:  # an installation without the evaluation runner
        raise ConfigError(f"the test task needs mvlm's evaluation runner: {error}") from error
    import torch

    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(f"cuda:{local}" if torch.cuda.is_available() and world > 1 else "auto")
    model = load_model_for_inference(str(model_dir), device=device, dtype=resolve_dtype("auto", device))
    benchmarks = args.benchmarks[0] if args.benchmarks == ["all"] else args.benchmarks
    for result in run_benchmarks(
        model, benchmarks, args.benchmark_data, output, num_chunks=world, chunk_idx=rank, progress=rank == 0
    ):
        print(result.describe())


# ------------------------------------------------------------------------------------------- standalone
def build_parser() -> argparse.ArgumentParser:
    """A parser with only the training commands (``python -m mvlm.train.cli``)."""
    parser = argparse.ArgumentParser(prog="mvlm", description="Train MobileVLM models.")
    add_train_commands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a training command; returns the exit status (1 with the message on an :class:`~mvlm.errors.MvlmError`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except MvlmError as error:
        print(f"mvlm {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
