"""Reusable builders for tests (tiny tokenizers, ...); imported by the test folders' conftest files."""
