"""Answer text: finishing (stop string, strip) and streaming pieces that join to exactly the same text."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.tokenizers import build_tiny_sentencepiece_tokenizer
from mvlm.inference import StreamingText, finish_text
from mvlm.inference.decoding import decode_new_tokens, stop_token_ids, trailing_byte_pieces
from mvlm.language import load_tokenizer


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory):
    return load_tokenizer(build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("tok")))


def stream_all(decode, stop, ids, chunk=1, unstable_tail=None):
    text = StreamingText(decode, stop, unstable_tail)
    pieces = [text.push(ids[i : i + chunk]) for i in range(0, len(ids), chunk)]
    pieces.append(text.finish())
    return pieces


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        ("  Paris. ", "</s>", "Paris."),
        ("Paris.###Human: more", "###", "Paris."),
        ("Paris. ### x ### y", "###", "Paris."),
        ("\nfirst line\nsecond", "\n", ""),  # plain: the answer ends at the first newline
        ("first line\nsecond", "\n", "first line"),
        ("no stop here ", None, "no stop here"),
        ("", "###", ""),
    ],
)
def test_finish_text(text, stop, expected):
    assert finish_text(text, stop) == expected


def chars(ids):
    return "".join(map(chr, ids))


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        (" Hi #there### rest", "###"),
        ("ab##c#", "###"),
        ("  lead and trail  ", "###"),
        ("line\nnext", "\n"),
        ("a\ufffd\ufffdb", None),
        ("tail\ufffd", None),
        ("", None),
    ],
)
def test_streaming_joins_to_the_finished_text_with_a_character_decoder(text, stop):
    for chunk in (1, 2, 5):
        pieces = stream_all(chars, stop, [ord(c) for c in text], chunk)
        assert "".join(pieces) == finish_text(text, stop)


def test_streaming_holds_back_what_may_still_change():
    text = StreamingText(chars, "###")
    assert text.push([ord(" ")]) == ""  # leading space: stripped in the end
    assert text.push([ord("a")]) == "a"
    assert text.push([ord(" ")]) == ""  # trailing space: dropped if the answer ends here
    assert text.push([ord("#")]) == ""  # maybe the start of "###"
    assert text.push([ord("b")]) == " #b"
    assert text.push([ord("\ufffd")]) == ""  # maybe the first byte of a character
    assert text.push([ord("#")] * 3) == "\ufffd"  # stop string: answer complete
    assert text.stopped and text.push([ord("z")]) == "" and text.finish() == ""
    assert text.text == "a #b\ufffd"


@settings(max_examples=150)
@given(data=st.data())
def test_streaming_equals_non_streaming_for_any_ids_of_the_real_tokenizer(tokenizer, data):
    """Byte pieces (``<0x..>``), word pieces with ``▁``, special tokens, stop strings: same text."""
    ids = data.draw(st.lists(st.integers(0, len(tokenizer) - 1), max_size=40))
    stop = data.draw(st.sampled_from([None, "###", "\n", "the", " "]))
    chunk = data.draw(st.integers(1, 3))

    def decode(token_ids):
        return decode_new_tokens(tokenizer, token_ids)

    def tail(token_ids):
        return trailing_byte_pieces(tokenizer, token_ids)

    assert "".join(stream_all(decode, stop, ids, chunk, tail)) == finish_text(decode(ids), stop)


def test_utf8_split_over_byte_pieces_is_released_whole(tokenizer):
    euro = [tokenizer.convert_tokens_to_ids(f"<0x{b:02X}>") for b in "€".encode()]
    word = tokenizer.encode("hello", add_special_tokens=False)
    ids = [*word, *euro, *word]
    pieces = stream_all(
        lambda t: decode_new_tokens(tokenizer, t), None, ids, unstable_tail=lambda t: trailing_byte_pieces(tokenizer, t)
    )
    assert "".join(pieces) == "hello€ hello"
    assert all("\ufffd" not in piece for piece in pieces)


def test_a_run_of_byte_pieces_decodes_as_a_whole(tokenizer):
    """Why the byte-piece tail is held back: ``<0xE2>`` alone is not a character, with two more bytes it is "€"."""
    zero, high = (tokenizer.convert_tokens_to_ids(t) for t in ("<0x00>", "<0x80>"))
    first, second, third = (tokenizer.convert_tokens_to_ids(f"<0x{b:02X}>") for b in "€".encode())
    assert decode_new_tokens(tokenizer, [first]) == "\ufffd"
    assert decode_new_tokens(tokenizer, [first, second]) == "\ufffd\ufffd"
    assert decode_new_tokens(tokenizer, [first, second, third]) == "€"
    # SentencePiece keeps the valid characters of a byte run and replaces each invalid byte
    assert decode_new_tokens(tokenizer, [zero]) == "\x00"
    assert decode_new_tokens(tokenizer, [zero, high]) == "\x00\ufffd"
    assert trailing_byte_pieces(tokenizer, [300, zero, tokenizer.eos_token_id, high]) == 3
    assert trailing_byte_pieces(tokenizer, [zero, 300]) == 0


def test_stop_token_ids(tokenizer):
    assert stop_token_ids(tokenizer, "</s>") == [tokenizer.eos_token_id]  # v1: EOS itself
    assert stop_token_ids(tokenizer, "<s>") == [tokenizer.bos_token_id]  # llama_2
    assert stop_token_ids(tokenizer, "###") == []  # default: a text stop string
    assert stop_token_ids(tokenizer, "\n") == [] and stop_token_ids(tokenizer, None) == []


def test_tokenizer_fixture_is_the_published_layout(tokenizer):
    assert Path(tokenizer.name_or_path).name.startswith("tok")
    assert tokenizer.pad_token_id == 0 and tokenizer.eos_token_id == 2
