"""``mvlm.presets``: one reader for the JSON presets every package ships, with errors that say what exists."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mvlm.errors import ConfigError
from mvlm.presets import preset_names, read_json_file, read_preset, read_presets

FIXTURE_PACKAGE = "mvlm_presets_fixture"


@pytest.fixture
def fixture_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A throw-away package with a ``presets`` folder: a good preset, a list and broken JSON."""
    folder = tmp_path / FIXTURE_PACKAGE / "presets"
    folder.mkdir(parents=True)
    (folder.parent / "__init__.py").write_text("")
    (folder / "good.json").write_text(json.dumps({"_source": "a note", "width": 8}))
    (folder / "a-list.json").write_text("[1, 2]")
    (folder / "broken.json").write_text("{'width': 8")
    (folder / "notes.txt").write_text("not a preset")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield FIXTURE_PACKAGE
    sys.modules.pop(FIXTURE_PACKAGE, None)


def test_names_are_the_json_files_sorted(fixture_package: str) -> None:
    assert preset_names(fixture_package, "presets") == ["a-list", "broken", "good"]


def test_notes_are_dropped_unless_kept(fixture_package: str) -> None:
    assert read_preset(fixture_package, "presets", "good") == {"width": 8}
    assert read_preset(fixture_package, "presets", "good", keep_notes=True) == {"_source": "a note", "width": 8}


def test_an_unknown_name_lists_the_known_ones(fixture_package: str) -> None:
    with pytest.raises(ConfigError, match=r"no shipped widget 'gold'; known: a-list, broken, good \(try good\)"):
        read_preset(fixture_package, "presets", "gold", kind="widget", hint="try good")


@pytest.mark.parametrize(("name", "message"), [("broken", "is not valid JSON"), ("a-list", "JSON object.*not a list")])
def test_a_bad_file_is_named(fixture_package: str, name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"widget '{name}' \({FIXTURE_PACKAGE}/presets\).*{message}"):
        read_preset(fixture_package, "presets", name, kind="widget")


def test_read_presets_reports_the_first_bad_file(fixture_package: str) -> None:
    with pytest.raises(ConfigError, match="'a-list'"):
        read_presets(fixture_package, "presets")


def test_a_missing_package_or_folder() -> None:
    with pytest.raises(ConfigError, match="no package 'mvlm_no_such_package'"):
        preset_names("mvlm_no_such_package", "presets")
    with pytest.raises(ConfigError, match="ships no preset folder 'nothing_here'"):
        read_preset("mvlm.train", "nothing_here", "v1-pretrain")


def test_the_packages_presets_read_through_it() -> None:
    assert preset_names("mvlm.train", "recipes") == ["v1-finetune", "v1-pretrain", "v2-finetune", "v2-pretrain"]
    assert preset_names("mvlm.train_lm", "recipes") == ["mobilellama-1.4b-chat", "mobilellama-2.7b-chat"]
    assert "MobileVLM_V2-1.7B" in preset_names("mvlm.model", "presets")
    assert "mobilellama-1.4b" in read_presets("mvlm.language", "presets")
    assert read_preset("mvlm.train", "recipes", "v1-pretrain")["stage"] == "pretrain"


def test_a_users_json_file_keeps_every_key(tmp_path: Path) -> None:
    path = tmp_path / "ds.json"
    path.write_text(json.dumps({"_comment": "mine", "zero_optimization": {"stage": 2}}))
    assert read_json_file(path) == {"_comment": "mine", "zero_optimization": {"stage": 2}}


def test_a_users_bad_json_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read the DeepSpeed file '.*missing\.json'"):
        read_json_file(tmp_path / "missing.json", kind="DeepSpeed file")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(ConfigError, match=r"list\.json' must hold a JSON object"):
        read_json_file(tmp_path / "list.json")


def test_importing_the_loader_is_light() -> None:
    code = "import sys, mvlm.presets; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "[]\n"
