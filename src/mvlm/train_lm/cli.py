"""The ``mvlm pretrain-lm`` and ``mvlm sft-lm`` commands (also ``python -m mvlm.train_lm ...``).

Both are thin: they parse options into a :class:`~mvlm.train_lm.pretraining.PretrainConfig` or
:class:`~mvlm.train_lm.chat_sft.SFTConfig` and call :func:`~mvlm.train_lm.pretraining.pretrain` /
:func:`~mvlm.train_lm.chat_sft.sft`. Nothing heavy is imported until a command runs. Under ``torchrun``
every process runs the same command; add ``--fsdp`` to shard the model::

    mvlm pretrain-lm --config mobilellama-1.4b --data 'corpus/*.jsonl' --tokenizer tokenizer.model \\
        --output out/base --max-steps 100000
    mvlm sft-lm --model out/base --data sharegpt.json --template vicuna_v1 --output out/chat
    torchrun --nproc_per_node 8 -m mvlm pretrain-lm ... --fsdp
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["add_lm_training_commands", "build_parser", "main"]


def _key_value(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _add_run_options(parser: argparse.ArgumentParser, *, save_steps: int, eval_steps: int) -> None:
    run = parser.add_argument_group("run")
    run.add_argument("--output", required=True, help="output folder (checkpoints and the final model)")
    run.add_argument("--logging-steps", type=int, default=10, help="log every N steps (default: 10)")
    run.add_argument("--save-steps", type=int, default=save_steps, help=f"checkpoint every N steps ({save_steps})")
    run.add_argument("--save-total-limit", type=int, default=3, help="checkpoints kept (default: 3)")
    run.add_argument("--eval-steps", type=int, default=eval_steps, help=f"evaluate every N steps ({eval_steps})")
    run.add_argument("--seed", type=int, default=42, help="seed (default: 42)")
    run.add_argument("--workers", type=int, default=0, help="data-loader worker processes (default: 0)")
    run.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None, help="bf16 mixed precision (default: on GPUs)"
    )
    run.add_argument(
        "--gradient-checkpointing",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="recompute activations to save memory (default: on)",
    )
    run.add_argument(
        "--fsdp", nargs="?", const=True, default=None, metavar="JSON", help="FSDP (the shipped config, or a JSON file)"
    )
    run.add_argument("--deepspeed", default=None, metavar="NAME|JSON", help="DeepSpeed ZeRO: zero2, zero3, or a file")
    run.add_argument("--resume", default="auto", metavar="PATH", help="checkpoint to resume (default: the newest)")
    run.add_argument("--no-resume", dest="resume", action="store_false", help="start fresh even if checkpoints exist")
    run.add_argument("--report-to", nargs="*", default=[], help="reporting integrations (tensorboard, wandb...)")


def _run_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "output_dir": args.output,
        "logging_steps": args.logging_steps,
        "save_steps": args.save_steps,
        "save_total_limit": args.save_total_limit,
        "eval_steps": args.eval_steps,
        "seed": args.seed,
        "dataloader_num_workers": args.workers,
        "bf16": args.bf16,
        "gradient_checkpointing": args.gradient_checkpointing,
        "fsdp": args.fsdp,
        "deepspeed": args.deepspeed,
        "resume": args.resume,
        "report_to": list(args.report_to),
    }


def _report(line: str) -> None:
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, one summary rather than one per process
        print(line)


def _pretrain_command(args: argparse.Namespace) -> int:
    from mvlm.train_lm.pretraining import PretrainConfig, pretrain

    config = PretrainConfig(
        **_run_options(args),
        tokenizer=args.tokenizer,
        model=args.config,
        init_from=args.init_from,
        model_overrides=dict(args.set or []),
        data=args.data,
        hf_dataset=args.hf_dataset,
        hf_config=args.hf_config,
        hf_split=args.hf_split,
        text_field=args.text_field,
        text_unit=args.text_unit,
        seq_len=args.seq_len,
        add_bos=args.bos,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        max_steps=args.max_steps,
        max_tokens=int(args.max_tokens) if args.max_tokens else None,
        learning_rate=args.lr,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        eval_data=args.eval_data,
        holdout_documents=args.holdout_documents,
        eval_sequences=args.eval_sequences,
    )
    result = pretrain(config)
    perplexity = f", held-out perplexity {result.eval_perplexity:.3f}" if result.eval_perplexity else ""
    _report(f"pre-trained {result.global_step} steps ({result.tokens_trained:,} tokens){perplexity}")
    _report(f"saved {result.output_dir}")
    return 0


def _sft_command(args: argparse.Namespace) -> int:
    from mvlm.train_lm.chat_sft import SFTConfig, sft

    config = SFTConfig(
        **_run_options(args),
        model=args.model,
        data=args.data,
        recipe=args.recipe,
        tokenizer=args.tokenizer,
        template=args.template,
        model_max_length=args.max_length,
        learning_rate=args.lr,
        num_train_epochs=args.epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        gradient_accumulation_steps=args.grad_accum,
        global_batch_size=args.global_batch_size,
        warmup_ratio=args.warmup_ratio,
        eval_data=args.eval_data,
        skip_invalid=args.skip_invalid,
    )
    result = sft(config)
    _report(
        f"fine-tuned {result.samples} conversations for {result.global_step} steps ({result.skipped_records} skipped, "
        f"{result.tokenization_mismatches} tokenization mismatches, {result.truncated} truncated, "
        f"{result.untrained} without an answer token); "
        f"saved {result.output_dir}"
    )
    return 0


def add_lm_training_commands(commands: Any) -> None:
    """Add ``pretrain-lm`` and ``sft-lm`` to the ``mvlm`` command's sub-parsers (``parser.add_subparsers()``)."""
    pre = commands.add_parser(
        "pretrain-lm",
        help="pre-train a MobileLLaMA (any Llama-shaped LM) on packed text, resumably",
        description="Pre-train a language model from a preset or config.json on a text corpus packed into "
        "fixed-length sequences. Checkpoints hold the data-stream position, so a rerun resumes exactly.",
    )
    model = pre.add_argument_group("model")
    model.add_argument("--config", help="a preset (mobilellama-1.4b, mobilellama-2.7b) or a config.json / folder")
    model.add_argument("--init-from", help="or continue pre-training this checkpoint")
    model.add_argument(
        "--set", action="append", type=_key_value, metavar="KEY=VALUE", help="override a config field (repeatable)"
    )
    model.add_argument("--tokenizer", required=True, help="tokenizer.model, a tokenizer folder, or a hub id")
    data = pre.add_argument_group("data")
    data.add_argument("--data", nargs="+", help="corpus files or globs (.jsonl/.json, text, .gz)")
    data.add_argument("--hf-dataset", help="or a Hugging Face data set (streamed)")
    data.add_argument("--hf-config", help="its configuration")
    data.add_argument("--hf-split", default="train", help="its split (default: train)")
    data.add_argument("--text-field", default="text", help="the text's key in records (default: text)")
    data.add_argument("--text-unit", choices=("paragraph", "line", "file"), default="paragraph", help="text files")
    data.add_argument("--seq-len", type=int, default=2048, help="tokens per sequence (default: 2048)")
    data.add_argument("--no-bos", dest="bos", action="store_false", help="no BOS before each document")
    data.add_argument("--eval-data", nargs="+", help="held-out files for perplexity")
    data.add_argument("--holdout-documents", type=int, default=0, help="or hold out the first N documents")
    data.add_argument("--eval-sequences", type=int, default=64, help="held-out sequences evaluated (default: 64)")
    optim = pre.add_argument_group("optimisation")
    optim.add_argument("--batch-size", type=int, default=8, help="sequences per device per micro-step (default: 8)")
    optim.add_argument("--grad-accum", type=int, default=1, help="micro-steps per optimizer step (default: 1)")
    optim.add_argument("--max-steps", type=int, default=-1, help="optimizer steps")
    optim.add_argument("--max-tokens", type=float, default=None, help="or a token budget (e.g. 1.3e12)")
    optim.add_argument("--lr", type=float, default=3e-4, help="peak learning rate (default: 3e-4)")
    optim.add_argument("--warmup-ratio", type=float, default=0.01, help="warm-up share (default: 0.01)")
    optim.add_argument("--weight-decay", type=float, default=0.1, help="AdamW weight decay (default: 0.1)")
    _add_run_options(pre, save_steps=1000, eval_steps=1000)
    pre.set_defaults(handler=_pretrain_command)

    chat = commands.add_parser(
        "sft-lm",
        help="chat fine-tune a language model on ShareGPT conversations (vicuna v1.1)",
        description="Supervised chat fine-tuning as MobileLLaMA-Chat was made: ShareGPT data, the vicuna v1.1 "
        "template, loss on the assistant turns only. Defaults: the mobilellama-1.4b-chat recipe.",
    )
    chat.add_argument("--model", required=True, help="the model to fine-tune (e.g. out/base)")
    chat.add_argument("--data", nargs="+", required=True, help="ShareGPT files (JSON list or JSON Lines)")
    chat.add_argument(
        "--recipe", default="mobilellama-1.4b-chat", help="mobilellama-1.4b-chat or mobilellama-2.7b-chat"
    )
    chat.add_argument("--template", default=None, help="conversation template (the recipe's: vicuna_v1)")
    chat.add_argument("--tokenizer", default=None, help="tokenizer (default: the model's)")
    chat.add_argument("--max-length", type=int, default=None, help="context length (the recipe's: 2048)")
    chat.add_argument("--epochs", type=float, default=None, help="epochs (the recipe's)")
    chat.add_argument("--max-steps", type=int, default=-1, help="stop after N optimizer steps")
    chat.add_argument("--lr", type=float, default=None, help="peak learning rate (the recipe's)")
    chat.add_argument("--batch-size", type=int, default=None, help="sequences per device per micro-step (16)")
    chat.add_argument("--grad-accum", type=int, default=None, help="accumulation (default: reach the global batch)")
    chat.add_argument("--global-batch-size", type=int, default=None, help="sequences per optimizer step (256)")
    chat.add_argument("--warmup-ratio", type=float, default=None, help="warm-up share (the recipe's: 0.04)")
    chat.add_argument("--eval-data", nargs="+", help="held-out ShareGPT files")
    chat.add_argument("--skip-invalid", action="store_true", help="skip (and count) malformed records")
    _add_run_options(chat, save_steps=500, eval_steps=500)
    chat.set_defaults(handler=_sft_command)


def build_parser() -> argparse.ArgumentParser:
    """A parser with only the LM-training commands (what ``python -m mvlm.train_lm`` runs)."""
    parser = argparse.ArgumentParser(prog="mvlm", description="Pre-train and chat fine-tune MobileLLaMA.")
    add_lm_training_commands(parser.add_subparsers(dest="command", metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a LM-training command; returns the exit status (1 with a message on an mvlm error)."""
    from mvlm.command_runner import run_command

    return run_command(build_parser(), argv)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
