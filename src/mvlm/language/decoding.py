"""Token ids -> text exactly as the released MobileVLM models decode: SentencePiece's own ``decode``.

The reference decodes answers with transformers' slow, SentencePiece-backed ``LlamaTokenizer``: the
special tokens are dropped and the remaining pieces go through ``SentencePieceProcessor.decode`` in
one call. transformers 5 has no slow tokenizer any more; its ``tokenizers``-backed decoder agrees
on ordinary text but not on a run of byte-fallback pieces that is not valid UTF-8: for the pieces
``<0x75><0xFB>`` it gives ``"\\ufffd\\ufffd"`` where SentencePiece gives ``"u\\ufffd"`` (SentencePiece
keeps each valid character of a byte run and replaces each invalid byte).

:func:`text_decoder` returns, for a loaded tokenizer, the function that mvlm's answers are decoded
with: SentencePiece's ``decode`` when the tokenizer was loaded from a ``tokenizer.model`` (its
``vocab_file``), the tokenizer's own ``decode`` otherwise (a checkpoint with ``tokenizer.json`` only
has no SentencePiece model to agree with).
"""

from __future__ import annotations

import contextlib
import os
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from mvlm.errors import CheckpointError

__all__ = ["SentencePieceDecoder", "text_decoder"]


class SentencePieceDecoder:
    """Decode ids as the slow SentencePiece ``LlamaTokenizer`` did with ``skip_special_tokens=True``.

    Special ids are dropped; each run of ids in the SentencePiece vocabulary is decoded by
    ``SentencePieceProcessor.decode`` as a whole; a token added on top of the vocabulary (an id past
    its end) stands for its own text, separated from its neighbours by one space, as the slow
    tokenizer joined them.

    Args:
        model_file: The ``tokenizer.model`` file.
        special_ids: Ids to drop (the tokenizer's ``all_special_ids``: ``<unk>``, ``<s>``, ``</s>``...).
        added_tokens: Text of ids past the SentencePiece vocabulary (``{32000: "<image>"}``).

    Raises:
        CheckpointError: ``model_file`` is missing or not a SentencePiece model.

    Example:
        >>> decoder = SentencePieceDecoder("tokenizer.model", special_ids=[0, 1, 2])  # doctest: +SKIP
        >>> decoder.decode([1, 450, 4799, 29889, 2])  # doctest: +SKIP
        'The answer.'
    """

    def __init__(
        self,
        model_file: str | os.PathLike[str],
        special_ids: Sequence[int] = (),
        added_tokens: dict[int, str] | None = None,
    ) -> None:
        import sentencepiece

        self.model_file = os.fspath(model_file)
        processor = sentencepiece.SentencePieceProcessor()
        try:
            processor.Load(self.model_file)
        except (OSError, RuntimeError) as error:
            raise CheckpointError(
                f"could not read the SentencePiece model {self.model_file}: {error}. Download tokenizer.model again"
            ) from error
        self._processor = processor
        self._size = processor.get_piece_size()
        self._special = frozenset(int(i) for i in special_ids)
        self._added = dict(added_tokens or {})

    def decode(self, ids: Sequence[int]) -> str:
        """The text of ``ids``, special tokens skipped, spaces as SentencePiece produces them."""
        parts: list[str] = []
        run: list[int] = []
        for token_id in ids:
            token_id = int(token_id)
            if token_id in self._special:
                continue
            if 0 <= token_id < self._size:
                run.append(token_id)
                continue
            if run:
                parts.append(self._processor.decode(run))
                run = []
            parts.append(self._added.get(token_id, ""))
        if run or not parts:
            parts.append(self._processor.decode(run))
        return " ".join(parts)


_DECODERS: weakref.WeakKeyDictionary[Any, Callable[[Sequence[int]], str]] = weakref.WeakKeyDictionary()


def text_decoder(tokenizer: Any) -> Callable[[Sequence[int]], str]:
    """The function that turns generated ids into answer text for ``tokenizer`` (built once per tokenizer).

    SentencePiece's ``decode`` (:class:`SentencePieceDecoder`) where the tokenizer has a
    ``tokenizer.model`` (``tokenizer.vocab_file``), so that answers equal the released models' own
    decoding; otherwise ``tokenizer.decode(ids, skip_special_tokens=True,
    clean_up_tokenization_spaces=False)``.

    Args:
        tokenizer: A loaded transformers tokenizer.

    Raises:
        CheckpointError: The tokenizer names a ``tokenizer.model`` that cannot be read.
    """
    try:
        return _DECODERS[tokenizer]
    except (KeyError, TypeError):
        pass
    vocab_file = getattr(tokenizer, "vocab_file", None)
    decode: Callable[[Sequence[int]], str]
    if vocab_file and os.path.isfile(vocab_file):
        special = list(getattr(tokenizer, "all_special_ids", []) or [])
        added = {int(i): str(t) for i, t in (getattr(tokenizer, "added_tokens_decoder", None) or {}).items()}
        decode = SentencePieceDecoder(vocab_file, special_ids=special, added_tokens=added).decode
    else:

        def decode(ids: Sequence[int]) -> str:
            return str(tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False))

    with contextlib.suppress(TypeError):  # a tokenizer that takes no weak reference: built again next time
        _DECODERS[tokenizer] = decode
    return decode
