"""Generated ids -> answer text, whole or piece by piece, with the same result either way.

An answer is the decoded new tokens (special tokens skipped, no clean-up of spaces), cut before
the first occurrence of the template's stop string, then stripped: :func:`finish_text`.

:class:`StreamingText` produces the same text incrementally. After each new token it decodes all
the new tokens so far (SentencePiece pieces only make sense in context: a word's leading ``▁``,
byte pieces that form one UTF-8 character together) and releases only the part that can no longer
change, holding back

* leading whitespace (the final text is stripped),
* trailing whitespace (it is dropped if the answer ends there),
* the text of trailing ids that may still change (``unstable_tail``: for SentencePiece, a run of
  byte pieces, whose bytes decode together) and trailing replacement characters ``"\\ufffd"``
  (the first bytes of a character still coming, for byte-level tokenizers),
* a trailing prefix of the stop string (``"#"`` or ``"##"`` when the stop string is ``"###"``).

The pieces joined equal :func:`finish_text` of the final ids, character for character.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

__all__ = ["StreamingText", "finish_text"]

_INCOMPLETE = "\ufffd"


def finish_text(text: str, stop_string: str | None) -> str:
    """The answer in decoded ``text``: everything before the first ``stop_string``, stripped.

    Example:
        >>> finish_text(" Paris.### USER: and", "###")
        'Paris.'
    """
    if stop_string:
        index = text.find(stop_string)
        if index >= 0:
            text = text[:index]
    return text.strip()


class StreamingText:
    """Incremental answer text for a stream of token ids.

    Args:
        decode: Turns the list of all new ids so far into text (for example
            ``lambda ids: tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)``).
        stop_string: The template's stop string (``None``: none).
        unstable_tail: Given the ids so far, how many trailing ones may still decode differently
            once more ids follow (see :func:`~mvlm.inference.decoding.trailing_byte_pieces`).

    Attributes:
        stopped: True once the stop string has appeared (the answer is complete).

    Example:
        >>> pieces = StreamingText(lambda ids: "".join(map(chr, ids)), "###")
        >>> [pieces.push([c]) for c in b" Hi #there###"] + [pieces.finish()]
        ['', 'H', 'i', '', '', ' #t', 'h', 'e', 'r', 'e', '', '', '', '']
    """

    def __init__(
        self,
        decode: Callable[[list[int]], str],
        stop_string: str | None,
        unstable_tail: Callable[[list[int]], int] | None = None,
    ) -> None:
        self._decode = decode
        self._unstable_tail = unstable_tail
        self.stop_string = stop_string or None
        self._ids: list[int] = []
        self._released = ""
        self.stopped = False

    @property
    def text(self) -> str:
        """The text released so far."""
        return self._released

    def push(self, ids: Iterable[int]) -> str:
        """Add new token ids; returns the newly released text (possibly ``""``)."""
        self._ids.extend(int(i) for i in ids)
        return self._release(final=False)

    def finish(self) -> str:
        """Mark the end of generation; returns the rest of the answer."""
        return self._release(final=True)

    def _visible(self, final: bool) -> str:
        ids = self._ids
        if not final and self._unstable_tail is not None:
            ids = ids[: len(ids) - self._unstable_tail(ids)]
        text = self._decode(ids)
        if self.stop_string:
            index = text.find(self.stop_string)
            if index >= 0:
                text, final = text[:index], True
                self.stopped = True
        text = text.lstrip()
        if final:
            return text.rstrip()
        text = text.rstrip(_INCOMPLETE)
        if self.stop_string:
            for size in range(min(len(self.stop_string) - 1, len(text)), 0, -1):
                if text.endswith(self.stop_string[:size]):
                    text = text[:-size]
                    break
        return text.rstrip()

    def _release(self, final: bool) -> str:
        if self.stopped:
            return ""
        visible = self._visible(final)
        if not visible.startswith(self._released):
            # The decoding of earlier ids changed (a tokenizer whose decode is not prefix-stable):
            # nothing released can be taken back, so release nothing more until it agrees again.
            return ""
        piece = visible[len(self._released) :]
        self._released = visible
        return piece
