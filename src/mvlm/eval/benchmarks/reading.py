"""The old path of :mod:`mvlm.eval.records.reading`, kept so that existing imports keep working."""

from mvlm.eval.records.reading import read_json, read_json_array, read_jsonl, read_tsv, require_file

__all__ = ["read_json", "read_json_array", "read_jsonl", "read_tsv", "require_file"]
