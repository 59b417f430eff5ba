"""The language model's SentencePiece vocabulary as llama.cpp's ``llama`` tokenizer metadata.

MobileVLM (like LLaMA) ships a SentencePiece ``tokenizer.model``. llama.cpp's ``llama`` tokenizer
(``tokenizer.ggml.model = "llama"``) re-implements SentencePiece from three parallel arrays: the
pieces, their scores and their types (normal, unknown, control, user-defined, unused, byte — the byte
pieces ``<0x00>``...``<0xFF>`` carry the byte fallback). They are read here from the model file's
protobuf, entry by entry, so the ids are the same in both tokenizers. A vocabulary shorter than the
language model's embedding table is padded with ``[PAD<id>]`` entries of type unused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mvlm.errors import CheckpointError, ConfigError

__all__ = ["SentencePieceVocab", "add_vocab_metadata", "find_tokenizer_model", "read_sentencepiece_vocab"]

# SentencePiece's ModelProto.SentencePiece.Type -> GGUF token type. The numbers happen to agree;
# the mapping is spelled out so a change on either side shows up here.
_PIECE_TYPES = {"NORMAL": 1, "UNKNOWN": 2, "CONTROL": 3, "USER_DEFINED": 4, "UNUSED": 5, "BYTE": 6}
UNUSED_TOKEN_TYPE = 5


@dataclass(frozen=True)
class SentencePieceVocab:
    """A vocabulary as llama.cpp's ``llama`` tokenizer stores it.

    Attributes:
        tokens: The pieces, by id (``▁`` marks a word start, ``<0x0A>`` is a byte piece).
        scores: One score per piece (SentencePiece's log-probabilities, or merge ranks for BPE models).
        token_types: One GGUF token type per piece (1 normal, 2 unknown, 3 control, 4 user-defined,
            5 unused, 6 byte).
        add_space_prefix: Whether SentencePiece puts ``▁`` in front of a text (its dummy prefix).
        unk_token_id: The id of the unknown piece.
        bos_token_id: The begin-of-sequence id (``<s>``).
        eos_token_id: The end-of-sequence id (``</s>``).
    """

    tokens: list[str]
    scores: list[float]
    token_types: list[int]
    add_space_prefix: bool
    unk_token_id: int
    bos_token_id: int
    eos_token_id: int

    def __len__(self) -> int:
        return len(self.tokens)


def read_sentencepiece_vocab(path: str | Path, vocab_size: int | None = None) -> SentencePieceVocab:
    """Read a SentencePiece ``tokenizer.model`` into a :class:`SentencePieceVocab`.

    Args:
        path: The ``tokenizer.model`` file.
        vocab_size: The language model's vocabulary size; a shorter SentencePiece vocabulary is
            padded to it with ``[PAD<id>]`` pieces of type unused (score -1000).

    Raises:
        CheckpointError: The file is not a SentencePiece model.
        ConfigError: The SentencePiece vocabulary is larger than ``vocab_size``.
    """
    from google.protobuf.message import DecodeError
    from sentencepiece import sentencepiece_model_pb2

    path = Path(path)
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]
    try:
        proto.ParseFromString(path.read_bytes())
    except (OSError, DecodeError) as error:
        raise CheckpointError(f"cannot read the SentencePiece model {path}: {error}") from error
    if not proto.pieces:
        raise CheckpointError(f"{path} holds no SentencePiece pieces; is it a tokenizer.model?")
    kind = sentencepiece_model_pb2.ModelProto.SentencePiece.Type  # type: ignore[attr-defined]
    tokens = [piece.piece for piece in proto.pieces]
    scores = [float(piece.score) for piece in proto.pieces]
    types = [_PIECE_TYPES[kind.Name(piece.type)] for piece in proto.pieces]
    if vocab_size is not None:
        if len(tokens) > vocab_size:
            raise ConfigError(
                f"{path} has {len(tokens)} pieces but the language model's vocab_size is {vocab_size}; "
                "the tokenizer does not belong to this model"
            )
        for token_id in range(len(tokens), vocab_size):
            tokens.append(f"[PAD{token_id}]")
            scores.append(-1000.0)
            types.append(UNUSED_TOKEN_TYPE)
    trainer = proto.trainer_spec
    return SentencePieceVocab(
        tokens=tokens,
        scores=scores,
        token_types=types,
        add_space_prefix=bool(proto.normalizer_spec.add_dummy_prefix),
        unk_token_id=int(trainer.unk_id),
        bos_token_id=int(trainer.bos_id),
        eos_token_id=int(trainer.eos_id),
    )


def find_tokenizer_model(model: Any, tokenizer_model: str | Path | None = None) -> Path:
    """The ``tokenizer.model`` of ``model``: the one given, its tokenizer's file, or its checkpoint's.

    Args:
        model: A :class:`~mvlm.MobileVLM` (loaded with ``from_pretrained``, or with ``model.tokenizer`` set).
        tokenizer_model: An explicit ``tokenizer.model`` path (wins over everything else).

    Raises:
        CheckpointError: No SentencePiece model can be found.
    """
    if tokenizer_model is not None:
        path = Path(tokenizer_model)
        if not path.is_file():
            raise CheckpointError(f"tokenizer model {path} does not exist")
        return path
    candidates: list[Path] = []
    tokenizer = getattr(model, "_tokenizer", None)
    if tokenizer is None and getattr(model, "_checkpoint_source", None) is not None:
        try:
            tokenizer = model.tokenizer
        except CheckpointError:
            tokenizer = None
    vocab_file = getattr(tokenizer, "vocab_file", None)
    if vocab_file:
        candidates.append(Path(vocab_file))
    source = getattr(model, "_checkpoint_source", None)
    if source is not None:
        candidates.append(Path(source) / "tokenizer.model")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if source is not None and not Path(source).exists():
        try:
            from huggingface_hub import hf_hub_download

            return Path(hf_hub_download(str(source), "tokenizer.model", **getattr(model, "_hub_kwargs", {})))
        except Exception as error:  # any hub failure: report it with what to do
            raise CheckpointError(
                f"could not get tokenizer.model of '{source}' from the hub: {error}; pass tokenizer_model=PATH"
            ) from error
    raise CheckpointError(
        "GGUF export needs the SentencePiece tokenizer.model of the language model; none was found beside the "
        f"checkpoint ({source or 'the model was not loaded from a checkpoint'}); pass tokenizer_model=PATH"
    )


def add_vocab_metadata(writer: Any, vocab: SentencePieceVocab, *, pad_token_id: int | None) -> None:
    """Add the ``tokenizer.ggml.*`` keys of a SentencePiece vocabulary to a ``gguf.GGUFWriter``.

    Writes the pieces, scores and types, the unk / bos / eos (/ pad) ids, ``add_bos_token = true``
    (when there is a BOS piece) and ``add_eos_token = false`` (LLaMA's convention, which MobileVLM's
    prompts rely on) and
    ``add_space_prefix`` from the model's normalizer.
    """
    writer.add_tokenizer_model("llama")
    writer.add_token_list(vocab.tokens)
    writer.add_token_scores(vocab.scores)
    writer.add_token_types(vocab.token_types)
    for add, token_id in (
        (writer.add_unk_token_id, vocab.unk_token_id),
        (writer.add_bos_token_id, vocab.bos_token_id),
        (writer.add_eos_token_id, vocab.eos_token_id),
        (writer.add_pad_token_id, pad_token_id),
    ):
        if token_id is not None and token_id >= 0:  # SentencePiece marks a missing special piece with -1
            add(token_id)
    writer.add_add_bos_token(vocab.bos_token_id >= 0)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(vocab.add_space_prefix)
