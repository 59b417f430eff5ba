"""Training MobileLLaMA itself: pre-training on packed text and chat SFT on ShareGPT conversations.

The two recipes the MobileVLM reference never released, on transformers' ``Trainer`` (so ``torchrun``
with DDP, FSDP or DeepSpeed scales them out):

* :func:`pretrain` / :class:`PretrainConfig`: a Llama-shaped model (the ``mobilellama-1.4b`` /
  ``mobilellama-2.7b`` presets or any config) on a corpus of text files, JSON Lines or a Hugging
  Face data set, tokenized and packed into fixed-length sequences by a deterministic, resumable
  :class:`PackedTokenStream` whose position is saved with every checkpoint;
* :func:`sft` / :class:`SFTConfig`: chat fine-tuning on ShareGPT conversations with the vicuna v1.1
  template, loss on the assistant turns only (the masking code of MobileVLM's stage II), with the
  published settings as recipes (``mobilellama-1.4b-chat``, ``mobilellama-2.7b-chat``).

The package imports nothing heavy until a name is used (``mvlm.train_lm.cli`` stays light).

Example::

    from mvlm.train_lm import PretrainConfig, pretrain

    pretrain(PretrainConfig(model="mobilellama-1.4b", tokenizer="tokenizer.model",
                            data=["corpus/*.jsonl"], output_dir="out/base", max_steps=100_000))
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvlm._lazy import lazy_exports

_LAZY_EXPORTS: dict[str, str] = {
    "Document": "mvlm.train_lm.documents",
    "FileDocumentSource": "mvlm.train_lm.documents",
    "HFDocumentSource": "mvlm.train_lm.documents",
    "resolve_data_files": "mvlm.train_lm.documents",
    "PackedSequence": "mvlm.train_lm.packing",
    "SequencePacker": "mvlm.train_lm.packing",
    "document_tokens": "mvlm.train_lm.packing",
    "pack_documents": "mvlm.train_lm.packing",
    "PackedBatchCollator": "mvlm.train_lm.stream",
    "PackedSequenceDataset": "mvlm.train_lm.stream",
    "PackedTokenStream": "mvlm.train_lm.stream",
    "build_eval_sequences": "mvlm.train_lm.stream",
    "LMTrainer": "mvlm.train_lm.trainer",
    "StreamCheckpointCallback": "mvlm.train_lm.trainer",
    "StreamProgress": "mvlm.train_lm.trainer",
    "restore_stream_state": "mvlm.train_lm.trainer",
    "RunOptions": "mvlm.train_lm.arguments",
    "build_training_arguments": "mvlm.train_lm.arguments",
    "PretrainConfig": "mvlm.train_lm.pretraining",
    "PretrainResult": "mvlm.train_lm.pretraining",
    "build_pretraining_model": "mvlm.train_lm.pretraining",
    "pretrain": "mvlm.train_lm.pretraining",
    "ShareGPTDataset": "mvlm.train_lm.sharegpt",
    "ShareGPTRecord": "mvlm.train_lm.sharegpt",
    "TextSFTCollator": "mvlm.train_lm.sharegpt",
    "read_sharegpt": "mvlm.train_lm.sharegpt",
    "SFTConfig": "mvlm.train_lm.chat_sft",
    "SFTRecipe": "mvlm.train_lm.chat_sft",
    "SFTResult": "mvlm.train_lm.chat_sft",
    "get_sft_recipe": "mvlm.train_lm.chat_sft",
    "list_sft_recipes": "mvlm.train_lm.chat_sft",
    "sft": "mvlm.train_lm.chat_sft",
    "load_lm_tokenizer": "mvlm.train_lm.tokenizer_files",
    "save_tokenizer_files": "mvlm.train_lm.tokenizer_files",
}

__all__ = [
    "Document",
    "FileDocumentSource",
    "HFDocumentSource",
    "LMTrainer",
    "PackedBatchCollator",
    "PackedSequence",
    "PackedSequenceDataset",
    "PackedTokenStream",
    "PretrainConfig",
    "PretrainResult",
    "RunOptions",
    "SFTConfig",
    "SFTRecipe",
    "SFTResult",
    "SequencePacker",
    "ShareGPTDataset",
    "ShareGPTRecord",
    "StreamCheckpointCallback",
    "StreamProgress",
    "TextSFTCollator",
    "build_eval_sequences",
    "build_pretraining_model",
    "build_training_arguments",
    "document_tokens",
    "get_sft_recipe",
    "list_sft_recipes",
    "load_lm_tokenizer",
    "pack_documents",
    "pretrain",
    "read_sharegpt",
    "resolve_data_files",
    "restore_stream_state",
    "save_tokenizer_files",
    "sft",
]

if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from mvlm.train_lm.arguments import RunOptions, build_training_arguments
    from mvlm.train_lm.chat_sft import SFTConfig, SFTRecipe, SFTResult, get_sft_recipe, list_sft_recipes, sft
    from mvlm.train_lm.documents import Document, FileDocumentSource, HFDocumentSource, resolve_data_files
    from mvlm.train_lm.packing import PackedSequence, SequencePacker, document_tokens, pack_documents
    from mvlm.train_lm.pretraining import PretrainConfig, PretrainResult, build_pretraining_model, pretrain
    from mvlm.train_lm.sharegpt import ShareGPTDataset, ShareGPTRecord, TextSFTCollator, read_sharegpt
    from mvlm.train_lm.stream import (
        PackedBatchCollator,
        PackedSequenceDataset,
        PackedTokenStream,
        build_eval_sequences,
    )
    from mvlm.train_lm.tokenizer_files import load_lm_tokenizer, save_tokenizer_files
    from mvlm.train_lm.trainer import LMTrainer, StreamCheckpointCallback, StreamProgress, restore_stream_state

__getattr__, __dir__ = lazy_exports(__name__, _LAZY_EXPORTS)
