"""Answers decode exactly as SentencePiece decodes the same ids (the released models' slow LlamaTokenizer).

transformers 5's tokenizers-backed decoder differs on byte-fallback runs that are not valid UTF-8
(``<0x75><0xFB>``: ``"\\ufffd\\ufffd"`` instead of SentencePiece's ``"u\\ufffd"``); mvlm decodes with
SentencePiece wherever the checkpoint has a ``tokenizer.model``.
"""

from __future__ import annotations

import pytest
import sentencepiece
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.tokenizers import build_tiny_sentencepiece_tokenizer
from mvlm.errors import CheckpointError
from mvlm.inference import StreamingText, finish_text
from mvlm.inference.decoding import decode_new_tokens, trailing_byte_pieces
from mvlm.language import SentencePieceDecoder, load_tokenizer, text_decoder


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    return build_tiny_sentencepiece_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def tokenizer(folder):
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def processor(folder) -> sentencepiece.SentencePieceProcessor:
    return sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))


def byte_ids(tokenizer, data: bytes) -> list[int]:
    return [tokenizer.convert_tokens_to_ids(f"<0x{b:02X}>") for b in data]


def sentencepiece_text(processor, tokenizer, ids: list[int]) -> str:
    """What the slow LlamaTokenizer gave with skip_special_tokens: SentencePiece on the non-special ids."""
    special = set(tokenizer.all_special_ids)
    return processor.decode([i for i in ids if i not in special])


def test_the_issue_example_decodes_as_sentencepiece(tokenizer, processor):
    ids = byte_ids(tokenizer, b"\x75\xfb")
    assert processor.decode(ids) == "u\ufffd"
    assert decode_new_tokens(tokenizer, ids) == "u\ufffd"
    # transformers' own decoder differs here; this is why mvlm does not use it for answers
    assert tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False) == "\ufffd\ufffd"


@pytest.mark.parametrize(
    "data",
    [
        b"\x75\xfb",
        b"\xe2\x82",
        b"\xe2\x82\xac",
        b"a\xff\xfeb",
        b"\xf0\x9f\x98\x80",
        b"\xc3",
        b"\x00\x80",
        b"\xed\xa0\x80",
    ],
)
def test_byte_runs(tokenizer, processor, data):
    word = tokenizer.encode("hello", add_special_tokens=False)
    for ids in (byte_ids(tokenizer, data), [*word, *byte_ids(tokenizer, data), *word]):
        assert decode_new_tokens(tokenizer, ids) == processor.decode(ids)


def test_special_tokens_are_skipped_as_the_slow_tokenizer_did(tokenizer, processor):
    euro = byte_ids(tokenizer, "€".encode())
    word = tokenizer.encode("hello there", add_special_tokens=False)
    bos, eos, pad = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    # a special token inside a byte run does not split it (the slow tokenizer filtered first)
    ids = [bos, *word, euro[0], eos, *euro[1:], eos, pad, pad]
    assert decode_new_tokens(tokenizer, ids) == processor.decode([*word, *euro]) == "hello there€"


def token_ids(tokenizer):
    """Ids of any kind: words, byte pieces (valid or not as UTF-8), specials."""
    vocab = len(tokenizer)
    return st.lists(
        st.one_of(
            st.integers(3, vocab - 1),
            st.integers(0x80, 0xFF).map(lambda b: tokenizer.convert_tokens_to_ids(f"<0x{b:02X}>")),
            st.sampled_from([0, 1, 2]),
        ),
        max_size=24,
    )


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_answers_and_streams_equal_sentencepiece(tokenizer, processor, data):
    ids = data.draw(token_ids(tokenizer))
    expected = sentencepiece_text(processor, tokenizer, ids)
    assert decode_new_tokens(tokenizer, ids) == expected
    # streamed one step at a time (multi-byte characters split across steps), the pieces join to the answer
    stop = data.draw(st.sampled_from([None, "###", "\n"]))
    stream = StreamingText(
        lambda t: decode_new_tokens(tokenizer, t), stop, unstable_tail=lambda t: trailing_byte_pieces(tokenizer, t)
    )
    pieces = [stream.push([i]) for i in ids] + [stream.finish()]
    assert "".join(pieces) == finish_text(expected, stop)


def test_multibyte_characters_split_across_steps_stream_whole(tokenizer):
    text = "naïve 日本 😀"
    ids = [i for part in text for i in byte_ids(tokenizer, part.encode())]  # every character as bytes
    stream = StreamingText(
        lambda t: decode_new_tokens(tokenizer, t), None, unstable_tail=lambda t: trailing_byte_pieces(tokenizer, t)
    )
    pieces = [stream.push([i]) for i in ids] + [stream.finish()]
    assert "".join(pieces) == text.strip()
    assert all("\ufffd" not in piece for piece in pieces)


def test_a_tokenizer_without_tokenizer_model_decodes_with_its_own_decoder(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)  # transformers 5 writes tokenizer.json
    (tmp_path / "tokenizer.model").unlink(missing_ok=True)
    json_only = load_tokenizer(tmp_path)
    ids = tokenizer.encode("hello there", add_special_tokens=False)
    assert text_decoder(json_only)(ids) == json_only.decode(ids, skip_special_tokens=True) == "hello there"
    # no SentencePiece model to agree with: the tokenizer's own reading of an invalid byte run
    assert text_decoder(json_only)(byte_ids(tokenizer, b"\x75\xfb")) == "\ufffd\ufffd"


def test_added_tokens_past_the_vocabulary(folder, processor):
    decoder = SentencePieceDecoder(folder / "tokenizer.model", special_ids=[0, 1, 2], added_tokens={5000: "<image>"})
    hello = processor.encode("hello")
    assert decoder.decode([*hello, 5000, *hello, 2]) == "hello <image> hello"


def test_an_unreadable_sentencepiece_model_names_the_file(tmp_path):
    broken = tmp_path / "tokenizer.model"
    broken.write_bytes(b"not a sentencepiece model")
    with pytest.raises(CheckpointError, match=r"tokenizer\.model"):
        SentencePieceDecoder(broken)
