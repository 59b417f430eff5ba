"""Document sources: files (JSON Lines, text by paragraph / line / file, gzip) and Hugging Face data sets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from mvlm.errors import ConfigError, DataError
from mvlm.train_lm.documents import FileDocumentSource, HFDocumentSource, resolve_data_files


def texts(source, start=None, shard=(0, 1)) -> list[str]:
    return [d.text for d in source.iter_documents(start, shard=shard)]


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    a = tmp_path / "a.jsonl"
    a.write_text('{"text": "alpha"}\n\n{"text": "beta", "id": 3}\n{"text": "gamma\\nsecond line"}\n')
    b = tmp_path / "b.txt"
    b.write_text("first paragraph\nstill first\n\n\nsecond paragraph\n  \nthird\n")
    c = tmp_path / "c.jsonl.gz"
    with gzip.open(c, "wt") as handle:
        handle.write('{"text": "zipped one"}\n{"text": "zipped two"}\n')
    return [a, b, c]


ALL = [
    "alpha",
    "beta",
    "gamma\nsecond line",
    "first paragraph\nstill first",
    "second paragraph",
    "third",
    "zipped one",
    "zipped two",
]


def test_reads_every_kind_in_order(files: list[Path]) -> None:
    source = FileDocumentSource(files)
    documents = list(source.iter_documents())
    assert [d.text for d in documents] == ALL
    assert [d.index for d in documents] == list(range(len(ALL)))
    assert documents[1].where == f"{files[0]}:3"
    assert documents[4].start["line"] == 4


def test_restarts_at_every_document(files: list[Path]) -> None:
    source = FileDocumentSource(files)
    documents = list(source.iter_documents())
    for k, document in enumerate(documents):
        assert texts(source, json.loads(json.dumps(document.start))) == ALL[k:]


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_shards_are_disjoint_and_cover_the_corpus(files: list[Path], n: int) -> None:
    source = FileDocumentSource(files)
    shards = [[d.index for d in source.iter_documents(shard=(k, n))] for k in range(n)]
    assert sorted(i for shard in shards for i in shard) == list(range(len(ALL)))
    assert all(i % n == k for k, shard in enumerate(shards) for i in shard)
    # a shard restarts at its own documents' positions
    last = list(source.iter_documents(shard=(n - 1, n)))[-1]
    assert [d.text for d in source.iter_documents(last.start, shard=(n - 1, n))] == [last.text]


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("line", ["first paragraph", "still first", "second paragraph", "third"]),
        ("file", ["first paragraph\nstill first\n\n\nsecond paragraph\n  \nthird"]),
    ],
)
def test_text_units(files: list[Path], unit: str, expected: list[str]) -> None:
    assert texts(FileDocumentSource([files[1]], text_unit=unit)) == expected


def test_other_text_field(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"content": "x"}\n')
    assert texts(FileDocumentSource([path], text_field="content")) == ["x"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"a\.jsonl:2: not a JSON object"),
        ('{"body": "x"}', r"a\.jsonl:2: expected an object with a string 'text' field, got \['body'\]"),
        ('["x"]', r"a\.jsonl:2: .*got list"),
    ],
)
def test_bad_records_name_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\n' + line + "\n")
    with pytest.raises(DataError, match=message):
        texts(FileDocumentSource([path]))


def test_other_shards_records_are_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text('{"text": "ok"}\nbroken\n{"text": "fine"}\n')
    assert texts(FileDocumentSource([path]), shard=(0, 2)) == ["ok", "fine"]


def test_invalid_text_encoding(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"ok\n\n\xff\xfe broken\n")
    with pytest.raises(DataError, match=r"a\.txt:3: not valid utf-8"):
        texts(FileDocumentSource([path]))


def test_changed_file_list_is_refused(files: list[Path]) -> None:
    start = list(FileDocumentSource(files).iter_documents())[4].start
    with pytest.raises(DataError, match="resume with the same data files"):
        texts(FileDocumentSource([files[1], files[0]]), start)


def test_resolve_data_files(tmp_path: Path, files: list[Path]) -> None:
    assert resolve_data_files(str(tmp_path / "*.jsonl*")) == [files[0], files[2]]
    assert resolve_data_files([files[1], str(tmp_path / "*.txt")]) == [files[1]]
    with pytest.raises(DataError, match="no data file matches"):
        resolve_data_files(str(tmp_path / "*.parquet"))
    with pytest.raises(DataError, match="no data file matches"):
        resolve_data_files(tmp_path / "missing.jsonl")
    with pytest.raises(DataError, match="is a folder"):
        resolve_data_files(tmp_path)


def test_bad_options(files: list[Path]) -> None:
    with pytest.raises(ConfigError, match="text_unit"):
        FileDocumentSource(files, text_unit="sentence")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="shard"):
        texts(FileDocumentSource(files), shard=(2, 2))


# ----------------------------------------------------------------------------------- Hugging Face
@pytest.fixture
def jsonl(tmp_path: Path) -> Path:
    path = tmp_path / "hf.jsonl"
    path.write_text("".join(json.dumps({"text": f"document {i}", "n": i}) + "\n" for i in range(23)))
    return path


def _sources(jsonl: Path) -> dict[str, HFDocumentSource]:
    import datasets

    return {
        "streamed": HFDocumentSource("json", data_files=str(jsonl), split="train"),
        "in memory": HFDocumentSource(datasets.load_dataset("json", data_files=str(jsonl), split="train")),
        "iterable object": HFDocumentSource(
            datasets.Dataset.from_list([{"text": f"document {i}"} for i in range(23)]).to_iterable_dataset(4)
        ),
    }


@pytest.mark.parametrize("kind", ["streamed", "in memory", "iterable object"])
def test_hf_sources_restart_exactly_and_shard(jsonl: Path, kind: str) -> None:
    source = _sources(jsonl)[kind]
    documents = list(source.iter_documents())
    assert [d.text for d in documents] == [f"document {i}" for i in range(23)]
    for k in (0, 1, 9, 22):
        start = json.loads(json.dumps(documents[k].start))
        assert texts(source, start) == [d.text for d in documents[k:]]
    assert [d.index for d in source.iter_documents(shard=(2, 3))] == list(range(2, 23, 3))
    assert texts(source) == [d.text for d in documents]  # a later epoch starts at the beginning again
    if kind != "in memory":
        assert "native" in documents[5].start  # the data set's own state: no re-reading on restart


def test_hf_source_names_a_record_without_text(jsonl: Path) -> None:
    source = HFDocumentSource("json", data_files=str(jsonl), split="train", text_field="body")
    with pytest.raises(DataError, match=r"record 0: expected a string 'body' column"):
        texts(source)
