"""The synthetic shapes world: answers, unambiguity, rendering, LLaVA format, seeds and splits.

Answers are checked by ``expected_answer`` below, which parses each question and recomputes its
answer from the scene's raw objects without using any of the generator's question code.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from mvlm.data.synthetic import (
    BACKGROUND,
    CAPTION_PROMPT,
    FAMILIES,
    PALETTE,
    SHAPES,
    SIZES,
    SPLITS,
    Scene,
    SceneObject,
    SyntheticQuestion,
    SyntheticWorld,
    answer_vocabulary,
    generate_dataset,
    load_synthetic_questions,
    scene_split,
)
from mvlm.errors import ConfigError, DataError

CELL_NAMES = {
    (0, 0): "top left",
    (0, 1): "top",
    (0, 2): "top right",
    (1, 0): "left",
    (1, 1): "center",
    (1, 2): "right",
    (2, 0): "bottom left",
    (2, 1): "bottom",
    (2, 2): "bottom right",
}


# ------------------------------------------------------------------------ independent checker
def expected_answer(objects: list[dict], question: str) -> tuple[str, str]:
    """``(family, answer)`` of ``question`` about raw scene objects; fails on an ambiguous reference."""

    def the(what: str, **attributes: str) -> dict:
        hits = [o for o in objects if all(o[key] == value for key, value in attributes.items())]
        assert len(hits) == 1, f"{question!r}: {what} names {len(hits)} objects in {objects}"
        return hits[0]

    def known(color: str | None = None, shape: str | None = None) -> None:
        assert color is None or color in PALETTE, f"{question!r}: unknown color {color!r}"
        assert shape is None or shape in SHAPES, f"{question!r}: unknown shape {shape!r}"

    if m := re.fullmatch(r"What color is the (\w+)\?", question):
        known(shape=m[1])
        return "color", the(f"the {m[1]}", shape=m[1])["color"]
    if m := re.fullmatch(r"What shape is the (\w+) object\?", question):
        known(color=m[1])
        return "shape", the(f"the {m[1]} object", color=m[1])["shape"]
    if m := re.fullmatch(r"What size is the (\w+) (\w+)\?", question):
        known(m[1], m[2])
        return "size", the(m[0], color=m[1], shape=m[2])["size"]
    if m := re.fullmatch(r"Where is the (\w+) (\w+)\?", question):
        known(m[1], m[2])
        obj = the(m[0], color=m[1], shape=m[2])
        return "position", CELL_NAMES[obj["row"], obj["col"]]
    if question == "How many shapes are there?":
        return "count", str(len(objects))
    if m := re.fullmatch(r"How many (\w+) shapes are there\?", question):
        known(color=m[1])
        return "count", str(sum(o["color"] == m[1] for o in objects))
    if m := re.fullmatch(r"How many (\w+)s are there\?", question):
        known(shape=m[1])
        return "count", str(sum(o["shape"] == m[1] for o in objects))
    if m := re.fullmatch(r"Is there an? (\w+) (\w+)\?", question):
        known(m[1], m[2])
        return "exists", "yes" if any(o["color"] == m[1] and o["shape"] == m[2] for o in objects) else "no"
    if m := re.fullmatch(
        r"Is the (\w+) (\w+) (to the left of|to the right of|above|below) the (\w+) (\w+)\?", question
    ):
        known(m[1], m[2])
        known(m[4], m[5])
        a, b = the(m[1] + " " + m[2], color=m[1], shape=m[2]), the(m[4] + " " + m[5], color=m[4], shape=m[5])
        assert a is not b, f"{question!r} relates an object to itself"
        axis = "col" if "left" in m[3] or "right" in m[3] else "row"
        assert a[axis] != b[axis], f"{question!r}: both objects are in the same {axis}, so the question is moot"
        holds = a[axis] < b[axis] if m[3] in ("to the left of", "above") else a[axis] > b[axis]
        return "relation", "yes" if holds else "no"
    raise AssertionError(f"unknown question form {question!r}")


def raw(scene: Scene) -> list[dict]:
    return [{"shape": o.shape, "color": o.color, "size": o.size, "row": o.row, "col": o.col} for o in scene.objects]


@st.composite
def scenes(draw: st.DrawFn, max_objects: int = 9) -> Scene:
    count = draw(st.integers(1, max_objects))
    cells = draw(st.permutations([(r, c) for r in range(3) for c in range(3)]))[:count]
    pairs = draw(st.permutations([(color, shape) for color in PALETTE for shape in SHAPES]))[:count]
    sizes = draw(st.lists(st.sampled_from(list(SIZES)), min_size=count, max_size=count))
    return Scene(tuple(SceneObject(s, c, z, r, k) for (r, k), (c, s), z in zip(cells, pairs, sizes, strict=True)))


BIG_WORLD = SyntheticWorld(max_shapes=9)


# ------------------------------------------------------------------------------- the world
@given(scenes())
def test_every_question_is_answered_correctly_and_unambiguously(scene):
    questions = BIG_WORLD.questions(scene)
    vocabulary = set(BIG_WORLD.answer_vocabulary())
    assert {"count", "position", "exists", "size"} <= set(questions)
    for family, qas in questions.items():
        assert len({qa.question for qa in qas}) == len(qas), "a question is listed twice"
        for qa in qas:
            assert qa.family == family
            assert (qa.family, qa.answer) == expected_answer(raw(scene), qa.question)
            assert qa.answer in vocabulary
            assert qa.answer == qa.answer.strip().lower().rstrip(".")


@given(st.integers(0, 2**32), st.sampled_from(SPLITS), st.integers(0, 10**6))
def test_sampled_scenes_follow_the_rules_and_belong_to_their_split(seed, split, index):
    world = SyntheticWorld(seed, max_shapes=4)
    scene = world.scene(split, index)
    assert scene == world.scene(split, index)
    assert scene_split(scene) == split
    assert 1 <= len(scene.objects) <= 4
    assert len({(o.row, o.col) for o in scene.objects}) == len(scene.objects)
    assert len({(o.color, o.shape) for o in scene.objects}) == len(scene.objects)
    rng_questions = world.sample_questions(scene, random.Random(index), 3)
    assert len({qa.question for qa in rng_questions}) == len(rng_questions) >= 1
    for qa in rng_questions:
        assert (qa.family, qa.answer) == expected_answer(raw(scene), qa.question)


def test_colour_and_shape_questions_are_not_asked_when_ambiguous():
    scene = Scene((SceneObject("circle", "red", "large", 0, 0), SceneObject("circle", "blue", "small", 2, 2)))
    questions = BIG_WORLD.questions(scene)
    assert "color" not in questions  # two circles: "what color is the circle?" has no single answer
    assert {qa.question for qa in questions["shape"]} == {
        "What shape is the red object?",
        "What shape is the blue object?",
    }
    same_column = Scene((SceneObject("star", "red", "large", 0, 1), SceneObject("square", "red", "large", 2, 1)))
    relations = {qa.question for qa in BIG_WORLD.questions(same_column)["relation"]}
    assert "Is the red star above the red square?" in relations
    assert not any("left" in q or "right" in q for q in relations)


def test_answers_are_balanced_within_yes_no_families():
    world = SyntheticWorld(7)
    rng = random.Random(0)
    answers: dict[str, Counter] = {"exists": Counter(), "relation": Counter(), "count": Counter()}
    for index in range(400):
        for qa in world.sample_questions(world.scene("train", index), rng, 3):
            if qa.family in answers:
                answers[qa.family][qa.answer] += 1
    for family in ("exists", "relation"):
        yes, no = answers[family]["yes"], answers[family]["no"]
        assert 0.4 < yes / (yes + no) < 0.6, (family, answers[family])
    assert set(answers["count"]) == {"0", "1", "2", "3"}


def test_answer_vocabulary_is_small_closed_and_complete():
    vocabulary = answer_vocabulary()
    assert vocabulary == SyntheticWorld().answer_vocabulary()
    assert len(vocabulary) == len(set(vocabulary)) == 26
    assert {"red", "circle", "small", "0", "3", "top left", "center", "yes", "no"} <= set(vocabulary)
    assert "4" not in vocabulary
    narrow = SyntheticWorld(sizes=["large"], max_shapes=1)
    assert "size" not in narrow.families and "relation" not in narrow.families
    assert "small" not in narrow.answer_vocabulary() and "large" not in narrow.answer_vocabulary()


def test_caption_lists_every_object_in_reading_order():
    scene = Scene(
        (
            SceneObject("star", "yellow", "small", 2, 2),
            SceneObject("circle", "red", "large", 0, 0),
            SceneObject("square", "blue", "small", 1, 1),
        )
    )
    assert BIG_WORLD.caption(scene) == (
        "There are three shapes: a large red circle at the top left, a small blue square in the center "
        "and a small yellow star at the bottom right."
    )
    one = Scene((SceneObject("triangle", "green", "large", 1, 0),))
    assert SyntheticWorld(sizes=["large"]).caption(one) == "There is one shape: a green triangle on the left."


def test_scene_rules_and_round_trip():
    objects = (SceneObject("star", "red", "small", 2, 0), SceneObject("circle", "red", "large", 0, 1))
    scene = Scene(objects)
    assert scene == Scene(objects[::-1])
    assert [o.row for o in scene.objects] == [0, 2]
    assert Scene.from_dict(json.loads(json.dumps(scene.to_dict()))) == scene
    with pytest.raises(DataError, match="share a grid cell"):
        Scene((SceneObject("star", "red", "small", 1, 1), SceneObject("circle", "blue", "small", 1, 1)))
    with pytest.raises(DataError, match="share colour and shape"):
        Scene((SceneObject("star", "red", "small", 0, 0), SceneObject("star", "red", "large", 1, 1)))
    with pytest.raises(DataError, match="unknown color 'pink'"):
        Scene((SceneObject("star", "pink", "small", 0, 0),))
    with pytest.raises(DataError, match="1 to 9 objects"):
        Scene(())
    with pytest.raises(DataError, match="not a scene"):
        Scene.from_dict({"objects": [{"shape": "star"}]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": 16}, "image_size"),
        ({"max_shapes": 10}, "max_shapes"),
        ({"min_shapes": 3, "max_shapes": 2}, "min_shapes <= max_shapes"),
        ({"colors": ["red", "pink"]}, "colors must be distinct names"),
        ({"families": ["colour"]}, "families must be distinct names"),
        ({"sizes": ["small"], "families": ["size"]}, "cannot ask"),
        ({"seed": -1}, "seed"),
        ({"count_kinds": ["colour"]}, "count_kinds must be distinct names"),
        ({"count_kinds": []}, "count_kinds must be distinct names"),
    ],
)
def test_world_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        SyntheticWorld(**options)


def test_count_kinds_choose_what_count_questions_count():
    scene = Scene((SceneObject("circle", "red", "large", 0, 0), SceneObject("star", "blue", "large", 2, 2)))
    every = SyntheticWorld(families=["count"]).questions(scene)["count"]
    assert {qa.question for qa in every} >= {
        "How many shapes are there?",
        "How many red shapes are there?",
        "How many circles are there?",
    }
    total = SyntheticWorld(families=["count"], count_kinds=["total"]).questions(scene)["count"]
    assert [(qa.question, qa.answer) for qa in total] == [("How many shapes are there?", "2")]
    by_color = SyntheticWorld(families=["count"], count_kinds=["color"]).questions(scene)["count"]
    assert {qa.question for qa in by_color} == {f"How many {c} shapes are there?" for c in PALETTE}


def test_a_world_with_nothing_to_ask_says_so():
    world = SyntheticWorld(min_shapes=2, max_shapes=2, colors=["red"], shapes=["circle", "square"], families=["shape"])
    with pytest.raises(ConfigError, match="found no 'train' scene"):
        world.scene("train", 0)
    with pytest.raises(ConfigError, match="unknown split 'dev'"):
        BIG_WORLD.scene("dev", 0)


# --------------------------------------------------------------------------------- rendering
def assert_image_shows(image: Image.Image, scene: Scene) -> None:
    side = image.size[0]
    occupied = set()
    for o in scene.objects:
        x, y = int((o.col + 0.5) * side / 3), int((o.row + 0.5) * side / 3)
        assert image.getpixel((x, y)) == PALETTE[o.color], f"{o} at ({x}, {y})"
        occupied.add((o.row, o.col))
    for row in range(3):
        for col in range(3):
            corner = (int(col * side / 3) + 1, int(row * side / 3) + 1)  # shapes never reach a cell's corner
            assert image.getpixel(corner) == BACKGROUND
            if (row, col) not in occupied:
                assert image.getpixel((int((col + 0.5) * side / 3), int((row + 0.5) * side / 3))) == BACKGROUND


@given(scenes())
def test_rendered_image_shows_the_scene_at_64(scene):
    image = SyntheticWorld(image_size=64, max_shapes=9).render(scene)
    assert image.mode == "RGB" and image.size == (64, 64)
    assert_image_shows(image, scene)


@settings(max_examples=15)
@given(scenes())
def test_rendered_image_shows_the_scene_at_336(scene):
    image = SyntheticWorld(image_size=336, max_shapes=9).render(scene)
    assert image.size == (336, 336)
    assert_image_shows(image, scene)


def test_palette_is_clearly_distinct():
    colours = [*PALETTE.values(), BACKGROUND]
    for i, a in enumerate(colours):
        for b in colours[i + 1 :]:
            assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) >= 100, (a, b)


def test_shapes_and_sizes_look_different():
    world = SyntheticWorld(image_size=64)
    painted = {}
    for shape in SHAPES:
        for size in SIZES:
            image = world.render(Scene((SceneObject(shape, "red", size, 1, 1),)))
            painted[shape, size] = frozenset(
                (x, y) for x in range(64) for y in range(64) if image.getpixel((x, y)) == PALETTE["red"]
            )
    assert len(set(painted.values())) == len(painted)
    for shape in SHAPES:
        assert len(painted[shape, "large"]) > 1.8 * len(painted[shape, "small"]) > 0


# ------------------------------------------------------------------------------------- files
def read_tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def read_scenes(path: Path) -> dict[str, list[dict]]:
    return {line["id"]: line["scene"]["objects"] for line in map(json.loads, path.read_text().splitlines())}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthetic")
    generate_dataset(root / "pretrain", 60, split="train", stage="pretrain", seed=3)
    generate_dataset(root / "finetune", 300, split="train", stage="finetune", seed=3)
    generate_dataset(root / "finetune", 80, split="val", stage="finetune", seed=3)
    generate_dataset(root / "finetune", 200, split="test", stage="eval", seed=3)
    return {"pretrain": root / "pretrain", "finetune": root / "finetune"}


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path):
    for stage in ("pretrain", "finetune", "eval"):
        first = generate_dataset(tmp_path / "a", 25, split="val", stage=stage, seed=11)
        second = generate_dataset(tmp_path / "b", 25, split="val", stage=stage, seed=11)
        assert (first.num_records, first.data_file.name) == (25, "val.jsonl" if stage == "eval" else "val.json")
        assert second.data_file.read_bytes() == first.data_file.read_bytes()
    assert read_tree(tmp_path / "a") == read_tree(tmp_path / "b")
    generate_dataset(tmp_path / "c", 25, split="val", stage="finetune", seed=12)
    assert (tmp_path / "c" / "val.json").read_bytes() != (tmp_path / "a" / "val.json").read_bytes()


def test_same_bytes_in_fresh_processes_whatever_the_hash_seed(tmp_path):
    code = (
        "import hashlib, sys; from pathlib import Path; from mvlm.data.synthetic import generate_dataset; "
        "f = generate_dataset(sys.argv[1], 20, split='test', stage='finetune', seed=4); "
        "print(hashlib.sha256(b''.join(p.read_bytes() for p in sorted(Path(sys.argv[1]).rglob('*.*')))).hexdigest())"
    )
    digests = set()
    for hash_seed in ("1", "2"):
        env = {"PYTHONHASHSEED": hash_seed, "PATH": ""}
        out = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / hash_seed)], env=env, capture_output=True, text=True, check=True
        )
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_records_are_prefix_stable_and_independent_of_stage():
    world = SyntheticWorld(5)
    short = [world.record("train", i, "finetune") for i in range(5)]
    assert short == [world.record("train", i, "finetune") for i in range(10)][:5]
    assert [s for s, _ in short] == [world.record("train", i, "pretrain")[0] for i in range(5)]


def test_splits_never_share_an_image(data):
    root = data["finetune"]
    images = {}
    scene_keys = {}
    for split, name in (("train", "train.json"), ("val", "val.json"), ("test", "test.jsonl")):
        text = (root / name).read_text()
        records = json.loads(text) if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]
        images[split] = {r["image"] for r in records}
        scene_keys[split] = {
            json.dumps(objs, sort_keys=True) for objs in read_scenes(root / f"{split}_scenes.jsonl").values()
        }
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        assert not images[a] & images[b], (a, b)
        assert not scene_keys[a] & scene_keys[b], (a, b)
    assert {p.name for p in (root / "images").iterdir()} == {Path(i).name for s in images.values() for i in s}


def check_llava_record(record: dict, root: Path) -> list[tuple[str, str]]:
    """Assert the exact LLaVA shape; return the (human, gpt) pairs with the image tag removed."""
    assert list(record) == ["id", "image", "conversations"]
    turns = record["conversations"]
    assert len(turns) % 2 == 0 and turns
    for i, turn in enumerate(turns):
        assert list(turn) == ["from", "value"]
        assert turn["from"] == ("human" if i % 2 == 0 else "gpt")
        assert isinstance(turn["value"], str) and turn["value"].strip() == turn["value"] != ""
    assert turns[0]["value"].startswith("<image>\n")
    assert sum(turn["value"].count("<image>") for turn in turns) == 1
    assert re.fullmatch(r"images/[0-9a-f]{20}\.png", record["image"])
    with Image.open(root / record["image"]) as image:
        assert image.size == (64, 64) and image.mode == "RGB"
    values = [turn["value"].removeprefix("<image>\n") for turn in turns]
    return list(zip(values[::2], values[1::2], strict=True))


def test_pretrain_records_are_llava_captions(data):
    root = data["pretrain"]
    records = json.loads((root / "train.json").read_text())
    scenes_by_id = read_scenes(root / "train_scenes.jsonl")
    assert len(records) == 60 and len({r["id"] for r in records}) == 60
    for record in records:
        (prompt, caption), *more = check_llava_record(record, root)
        assert not more and prompt == CAPTION_PROMPT
        objects = scenes_by_id[record["id"]]
        mentioned = re.findall(r"an? (small|large) (\w+) (\w+) (?:in|on|at) the ([a-z ]+?)(?:,| and|\.$)", caption)
        assert caption.endswith(".")
        assert mentioned == [
            (o["size"], o["color"], o["shape"], CELL_NAMES[o["row"], o["col"]])
            for o in sorted(objects, key=lambda o: (o["row"], o["col"]))
        ]


def test_finetune_records_are_llava_conversations_with_correct_answers(data):
    root = data["finetune"]
    records = json.loads((root / "train.json").read_text())
    scenes_by_id = read_scenes(root / "train_scenes.jsonl")
    vocabulary = set(answer_vocabulary())
    turn_counts, families = Counter(), Counter()
    for record in records:
        pairs = check_llava_record(record, root)
        assert len({q for q, _ in pairs}) == len(pairs)
        turn_counts[len(pairs)] += 1
        for question, answer in pairs:
            family, expected = expected_answer(scenes_by_id[record["id"]], question)
            assert answer == expected and answer in vocabulary
            families[family] += 1
    assert set(turn_counts) == {1, 2, 3}
    assert set(families) == set(FAMILIES)


def test_eval_questions_are_well_formed_and_correct(data):
    root = data["finetune"]
    questions = load_synthetic_questions(root / "test.jsonl")
    scenes_by_id = read_scenes(root / "test_scenes.jsonl")
    assert len(questions) == 200 and len({q.question_id for q in questions}) == 200
    for line in (root / "test.jsonl").read_text().splitlines():
        assert list(json.loads(line)) == ["question_id", "image", "text", "answer", "family"]
    for q in questions:
        assert isinstance(q, SyntheticQuestion) and (root / q.image).is_file()
        assert (q.family, q.answer) == expected_answer(scenes_by_id[q.question_id], q.text)
        assert "<image>" not in q.text
    assert set(Counter(q.family for q in questions)) == set(FAMILIES)


def test_written_images_show_their_scenes(data):
    root = data["finetune"]
    records = json.loads((root / "val.json").read_text())
    scenes_by_id = read_scenes(root / "val_scenes.jsonl")
    for record in records:
        scene = Scene(tuple(SceneObject(**o) for o in scenes_by_id[record["id"]]))
        with Image.open(root / record["image"]) as image:
            assert_image_shows(image.convert("RGB"), scene)


def test_generate_dataset_at_336(tmp_path):
    files = generate_dataset(tmp_path, 3, split="test", stage="pretrain", image_size=336)
    for record in json.loads(files.data_file.read_text()):
        with Image.open(tmp_path / record["image"]) as image:
            assert image.size == (336, 336)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 0}, "num_samples"),
        ({"split": "dev"}, "split must be one of"),
        ({"stage": "sft"}, "stage one of"),
        ({"world": SyntheticWorld(), "seed": 1}, "either world= or seed"),
    ],
)
def test_generate_dataset_checks_its_options(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        generate_dataset(tmp_path, **{"num_samples": 2, **kwargs})


# -------------------------------------------------------------------------------- loading
GOOD = {
    "question_id": "q1",
    "image": "images/a.png",
    "text": "Is there a red star?",
    "answer": "no",
    "family": "exists",
}


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "Expecting property name"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "answer"}), r"missing key\(s\) \['answer'\]"),
        (json.dumps({**GOOD, "question_id": 7}), r"\['question_id'\] must be non-empty strings"),
        (json.dumps({**GOOD, "text": " "}), r"\['text'\] must be non-empty strings"),
        (json.dumps({**GOOD, "family": "colour"}), "unknown family 'colour'"),
        (
            json.dumps({**GOOD, "text": "<image>\nIs there a red star?"}),
            "text must be the bare question, without <image>",
        ),
        (json.dumps(GOOD), "duplicate question_id 'q1'"),
    ],
)
def test_malformed_line_names_file_and_line(tmp_path, bad_line, message):
    path = tmp_path / "test.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + bad_line + "\n")
    with pytest.raises(DataError, match=rf"test\.jsonl:3: malformed synthetic question: {message}"):
        load_synthetic_questions(path)


def test_loading_skips_blank_lines_and_reports_a_missing_file(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text("\n" + json.dumps(GOOD) + "\n\n")
    assert load_synthetic_questions(path) == [SyntheticQuestion(**GOOD)]
    with pytest.raises(DataError, match=r"cannot read synthetic questions from .*nope\.jsonl"):
        load_synthetic_questions(tmp_path / "nope.jsonl")


def test_import_needs_no_torch():
    code = "import sys, mvlm.data.synthetic; print(sorted(m for m in ('torch', 'numpy', 'PIL') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
