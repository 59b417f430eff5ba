"""A seeded synthetic visual question-answering world, written in LLaVA format.

A *scene* holds one to ``max_shapes`` objects on a 3x3 grid (``top``/``middle``/``bottom`` x
``left``/``center``/``right``), each a ``circle``, ``square``, ``triangle`` or ``star`` in one of five
clearly distinct colours and two sizes, drawn with PIL on a plain dark background. Two objects never
share a cell, and never share both colour and shape, so "the red circle" always names one object.

From a scene the world makes a caption (stage I, the ``plain`` template) and questions with short,
closed-vocabulary answers (stage II, the ``v1`` template; and held-out evaluation). Question
families (the ``family`` field):

======== ========================================= ====================================
family   example question                          answers
======== ========================================= ====================================
color    What color is the circle?                 a colour (asked only if one circle)
shape    What shape is the red object?             a shape (asked only if one red object)
size     What size is the red circle?              ``small`` / ``large``
count    How many blue shapes are there?           ``0`` ... ``max_shapes``
position Where is the red circle?                  ``top left``, ``top``, ... ``center``
exists   Is there a green star?                    ``yes`` / ``no`` (balanced)
relation Is the red circle to the left of the ...? ``yes`` / ``no`` (balanced)
======== ========================================= ====================================

Answers are canonical: lowercase, no trailing period. Compare a model's answer after the same
normalisation: ``answer.strip().lower().rstrip(".").strip()``.

Everything is a pure function of the seed: scene ``i`` of a split depends only on
``(seed, split, i)``, and each scene belongs to exactly one split (a hash of its content), so splits
never share an image. This module needs only PIL and the standard library (no torch).

Example::

    from mvlm.data.synthetic import generate_dataset

    generate_dataset("synth/pretrain", 20000, split="train", stage="pretrain", seed=0)
    generate_dataset("synth/finetune", 20000, split="train", stage="finetune", seed=0)
    generate_dataset("synth/finetune", 500, split="test", stage="eval", seed=0)
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import cos, pi, sin
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from mvlm.errors import ConfigError, DataError

if TYPE_CHECKING:  # pragma: no cover
    from PIL.Image import Image

__all__ = [
    "BACKGROUND",
    "CAPTION_PROMPT",
    "COLUMNS",
    "COUNT_KINDS",
    "DEFAULT_IMAGE_SIZE",
    "DEFAULT_MAX_SHAPES",
    "FAMILIES",
    "PALETTE",
    "ROWS",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "STAGES",
    "QuestionAnswer",
    "Scene",
    "SceneObject",
    "SyntheticFiles",
    "SyntheticQuestion",
    "SyntheticWorld",
    "answer_vocabulary",
    "generate_dataset",
    "load_synthetic_questions",
    "position_name",
    "scene_split",
]

Split = Literal["train", "val", "test"]
Stage = Literal["pretrain", "finetune", "eval"]

#: Colour names and their RGB fill; hues far apart so a tiny vision tower tells them apart at 64 px.
PALETTE: Mapping[str, tuple[int, int, int]] = MappingProxyType(
    {
        "red": (220, 40, 40),
        "green": (40, 180, 60),
        "blue": (40, 90, 230),
        "yellow": (240, 210, 30),
        "purple": (160, 60, 210),
    }
)
#: The shapes the world draws.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")
#: Size names and their half-extent as a fraction of a grid cell's side.
SIZES: Mapping[str, float] = MappingProxyType({"small": 0.27, "large": 0.42})
#: Row names of the 3x3 grid, top to bottom.
ROWS: tuple[str, ...] = ("top", "middle", "bottom")
#: Column names of the 3x3 grid, left to right.
COLUMNS: tuple[str, ...] = ("left", "center", "right")
#: The plain background colour (no palette colour is close to it).
BACKGROUND: tuple[int, int, int] = (40, 44, 52)
#: Question families, in the order the world lists them.
FAMILIES: tuple[str, ...] = ("color", "shape", "size", "count", "position", "exists", "relation")
#: What a ``count`` question may count: every shape, the shapes of one colour, the shapes of one kind.
COUNT_KINDS: tuple[str, ...] = ("total", "color", "shape")
#: Split names; each owns a fixed share of the scene space (80 / 10 / 10 %).
SPLITS: tuple[str, ...] = ("train", "val", "test")
#: Output formats: LLaVA captions, LLaVA question/answer conversations, evaluation questions.
STAGES: tuple[str, ...] = ("pretrain", "finetune", "eval")
#: The human turn of a stage-I (caption) record, after ``<image>\n``.
CAPTION_PROMPT = "Describe the image."
#: Default image side in pixels.
DEFAULT_IMAGE_SIZE = 64
#: Default largest number of objects in a scene.
DEFAULT_MAX_SHAPES = 3

_SPLIT_BUCKETS = {"train": range(0, 80), "val": range(80, 90), "test": range(90, 100)}
_MAX_SCENE_ATTEMPTS = 1000
_NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_RELATIONS = {  # phrase -> (axis attribute, sign): "a <phrase> b" holds when sign * (a.axis - b.axis) < 0
    "to the left of": ("col", 1),
    "to the right of": ("col", -1),
    "above": ("row", 1),
    "below": ("row", -1),
}


def position_name(row: int, col: int) -> str:
    """The canonical name of a grid cell: ``top left``, ``top``, ..., ``center``, ..., ``bottom right``."""
    if row == 1 and col == 1:
        return "center"
    if row == 1:
        return COLUMNS[col]
    if col == 1:
        return ROWS[row]
    return f"{ROWS[row]} {COLUMNS[col]}"


@dataclass(frozen=True)
class SceneObject:
    """One shape in a scene.

    Args:
        shape: One of :data:`SHAPES`.
        color: One of :data:`PALETTE`'s names.
        size: One of :data:`SIZES`' names.
        row: Grid row, 0 (top) to 2 (bottom).
        col: Grid column, 0 (left) to 2 (right).
    """

    shape: str
    color: str
    size: str
    row: int
    col: int

    @property
    def position(self) -> str:
        """The cell's canonical name (see :func:`position_name`)."""
        return position_name(self.row, self.col)

    @property
    def label(self) -> str:
        """``"<color> <shape>"``, the phrase that names this object uniquely in its scene."""
        return f"{self.color} {self.shape}"


@dataclass(frozen=True)
class Scene:
    """A set of objects, kept sorted in reading order (by row, then column).

    Args:
        objects: One to nine objects, in distinct cells, no two with the same colour and shape.

    Raises:
        DataError: An object has an unknown attribute, or the scene breaks a rule above.
    """

    objects: tuple[SceneObject, ...]

    def __post_init__(self) -> None:
        objects = tuple(sorted(self.objects, key=lambda o: (o.row, o.col)))
        object.__setattr__(self, "objects", objects)
        if not 1 <= len(objects) <= 9:
            raise DataError(f"a scene holds 1 to 9 objects, got {len(objects)}")
        for obj in objects:
            problems = []
            if obj.shape not in SHAPES:
                problems.append(f"shape {obj.shape!r} (known: {', '.join(SHAPES)})")
            if obj.color not in PALETTE:
                problems.append(f"color {obj.color!r} (known: {', '.join(PALETTE)})")
            if obj.size not in SIZES:
                problems.append(f"size {obj.size!r} (known: {', '.join(SIZES)})")
            if obj.row not in (0, 1, 2) or obj.col not in (0, 1, 2):
                problems.append(f"cell ({obj.row!r}, {obj.col!r}) (row and col are 0, 1 or 2)")
            if problems:
                raise DataError(f"scene object {obj} has an unknown " + "; ".join(problems))
        if len({(o.row, o.col) for o in objects}) != len(objects):
            raise DataError(f"two objects share a grid cell in scene {self.key()!r}; give each its own cell")
        if len({o.label for o in objects}) != len(objects):
            raise DataError(f"two objects share colour and shape in scene {self.key()!r}; that would be ambiguous")

    def key(self) -> str:
        """A canonical text form, equal for equal scenes (``"0,0 large red circle; 1,1 small blue star"``)."""
        return "; ".join(f"{o.row},{o.col} {o.size} {o.color} {o.shape}" for o in self.objects)

    def to_dict(self) -> dict[str, Any]:
        """The scene as JSON-ready data: ``{"objects": [{"shape", "color", "size", "row", "col"}, ...]}``."""
        return {"objects": [vars(o).copy() for o in self.objects]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Scene:
        """Rebuild a scene from :meth:`to_dict`'s output.

        Raises:
            DataError: ``data`` is not shaped like :meth:`to_dict`'s output.
        """
        try:
            return cls(tuple(SceneObject(**obj) for obj in data["objects"]))
        except (KeyError, TypeError) as error:
            raise DataError(f"not a scene: {data!r} ({error}); expected Scene.to_dict() output") from error


@dataclass(frozen=True)
class QuestionAnswer:
    """A question about a scene with its canonical answer.

    Args:
        question: The question text (no ``<image>`` tag).
        answer: The canonical answer: lowercase, no trailing period.
        family: The question family, one of :data:`FAMILIES`.
    """

    question: str
    answer: str
    family: str


@dataclass(frozen=True)
class SyntheticQuestion:
    """One line of an evaluation file (``<split>.jsonl``).

    Args:
        question_id: Unique within the file (``"test-000042"``).
        image: Image path relative to the data folder (``"images/3f2a....png"``).
        text: The question; the prompt is ``"<image>\\n" + text`` in the ``v1`` template.
        answer: The canonical answer.
        family: The question family, one of :data:`FAMILIES`.
    """

    question_id: str
    image: str
    text: str
    answer: str
    family: str

    def to_dict(self) -> dict[str, str]:
        """The record as written, keys in file order."""
        return dict(vars(self))


def scene_split(scene: Scene) -> str:
    """The split a scene belongs to, fixed by a hash of :meth:`Scene.key` (80 % train, 10 % val, 10 % test)."""
    bucket = int(hashlib.sha256(scene.key().encode()).hexdigest()[:8], 16) % 100
    return next(name for name, buckets in _SPLIT_BUCKETS.items() if bucket in buckets)


def _star_points(cx: float, cy: float, radii: tuple[float, ...], corners: int) -> list[tuple[float, float]]:
    """Polygon corners around ``(cx, cy)``, the first straight up, cycling through ``radii``."""
    angles = [-pi / 2 + 2 * pi * i / corners for i in range(corners)]
    return [(cx + radii[i % len(radii)] * cos(a), cy + radii[i % len(radii)] * sin(a)) for i, a in enumerate(angles)]


def _choose(options: Sequence[str] | None, known: Sequence[str], what: str) -> tuple[str, ...]:
    chosen = tuple(known) if options is None else tuple(options)
    unknown = [o for o in chosen if o not in known]
    if unknown or not chosen or len(set(chosen)) != len(chosen):
        raise ConfigError(f"{what} must be distinct names from {', '.join(known)}; got {list(chosen)}")
    return chosen


class SyntheticWorld:
    """The rules of the synthetic world: what scenes look like, how they are drawn, what is asked.

    Args:
        seed: Base seed; every scene, image and question is a pure function of it.
        image_size: Side of the square images in pixels (64 by default; 336 for CLIP-size towers).
        max_shapes: Most objects in a scene (1 to 9).
        min_shapes: Fewest objects in a scene.
        colors: Colour names to use (default: all of :data:`PALETTE`).
        shapes: Shapes to use (default: all of :data:`SHAPES`).
        sizes: Sizes to use (default: both of :data:`SIZES`); with one size the ``size`` family is off.
        families: Question families to ask (default: every family this world can ask).
        max_turns: Most question/answer turns in a ``finetune`` record.
        count_kinds: What ``count`` questions count (default: all of :data:`COUNT_KINDS`): ``total``
            asks "How many shapes are there?", ``color`` "How many red shapes are there?" and
            ``shape`` "How many circles are there?".

    Raises:
        ConfigError: An option is out of range or names something unknown.
    """

    def __init__(
        self,
        seed: int = 0,
        image_size: int = DEFAULT_IMAGE_SIZE,
        max_shapes: int = DEFAULT_MAX_SHAPES,
        *,
        min_shapes: int = 1,
        colors: Sequence[str] | None = None,
        shapes: Sequence[str] | None = None,
        sizes: Sequence[str] | None = None,
        families: Sequence[str] | None = None,
        max_turns: int = 3,
        count_kinds: Sequence[str] | None = None,
    ) -> None:
        for name, value, low, high in (
            ("seed", seed, 0, 2**63),
            ("image_size", image_size, 32, 4096),
            ("min_shapes", min_shapes, 1, 9),
            ("max_shapes", max_shapes, 1, 9),
            ("max_turns", max_turns, 1, 20),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
                raise ConfigError(f"SyntheticWorld: {name} must be an int in [{low}, {high}], got {value!r}")
        self.seed, self.image_size, self.max_turns = seed, image_size, max_turns
        self.colors = _choose(colors, tuple(PALETTE), "colors")
        self.shapes = _choose(shapes, SHAPES, "shapes")
        self.sizes = _choose(sizes, tuple(SIZES), "sizes")
        if not min_shapes <= max_shapes <= len(self.colors) * len(self.shapes):
            raise ConfigError(
                f"SyntheticWorld: need min_shapes <= max_shapes <= colors x shapes "
                f"({len(self.colors) * len(self.shapes)}), got {min_shapes} and {max_shapes}"
            )
        self.min_shapes, self.max_shapes = min_shapes, max_shapes
        self.count_kinds = _choose(count_kinds, COUNT_KINDS, "count_kinds")
        possible = [f for f in FAMILIES if f != "size" or len(self.sizes) > 1]
        possible = [f for f in possible if f != "relation" or max_shapes > 1]
        self.families = tuple(possible) if families is None else _choose(families, FAMILIES, "families")
        impossible = [f for f in self.families if f not in possible]
        if impossible:
            raise ConfigError(
                f"SyntheticWorld: this world cannot ask {impossible} (size needs two sizes, relation max_shapes >= 2)"
            )

    def __repr__(self) -> str:
        return (
            f"SyntheticWorld(seed={self.seed}, image_size={self.image_size}, max_shapes={self.max_shapes}, "
            f"min_shapes={self.min_shapes}, colors={list(self.colors)}, shapes={list(self.shapes)}, "
            f"sizes={list(self.sizes)}, families={list(self.families)}, max_turns={self.max_turns}, "
            f"count_kinds={list(self.count_kinds)})"
        )

    # ------------------------------------------------------------------------------------ scenes
    def _rng(self, split: str, purpose: str, index: int) -> random.Random:
        text = f"mvlm-synthetic|{self.seed}|{split}|{purpose}|{index}"
        return random.Random(int(hashlib.sha256(text.encode()).hexdigest(), 16))

    def scene(self, split: str, index: int) -> Scene:
        """Scene number ``index`` of ``split``; depends only on ``(seed, split, index)`` and the world's options.

        Raises:
            ConfigError: Unknown split, or a world too small to hold a scene of this split.
        """
        if split not in SPLITS:
            raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
        rng = self._rng(split, "scene", index)
        cells = [(r, c) for r in range(3) for c in range(3)]
        pairs = [(color, shape) for color in self.colors for shape in self.shapes]
        for _ in range(_MAX_SCENE_ATTEMPTS):
            count = rng.randint(self.min_shapes, self.max_shapes)
            objects = tuple(
                SceneObject(shape, color, rng.choice(self.sizes), row, col)
                for (row, col), (color, shape) in zip(rng.sample(cells, count), rng.sample(pairs, count), strict=True)
            )
            scene = Scene(objects)
            if scene_split(scene) == split and self.questions(scene):
                return scene
        raise ConfigError(
            f"found no {split!r} scene in {_MAX_SCENE_ATTEMPTS} tries: this world is too small, or its families ask "
            "nothing about its scenes; allow more colors, shapes, sizes or families"
        )

    def render(self, scene: Scene) -> Image:
        """Draw ``scene`` as an RGB image of ``image_size`` pixels; deterministic (no anti-aliasing).

        Each object is centred in its cell, at ``((col + 0.5) * side / 3, (row + 0.5) * side / 3)``,
        and the pixel there has the object's colour.
        """
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (self.image_size, self.image_size), BACKGROUND)
        draw = ImageDraw.Draw(image)
        cell = self.image_size / 3
        for obj in scene.objects:
            cx, cy, r = (obj.col + 0.5) * cell, (obj.row + 0.5) * cell, SIZES[obj.size] * cell
            fill = PALETTE[obj.color]
            if obj.shape == "circle":
                draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
            elif obj.shape == "square":
                draw.rectangle((cx - 0.85 * r, cy - 0.85 * r, cx + 0.85 * r, cy + 0.85 * r), fill=fill)
            elif obj.shape == "triangle":  # equilateral, pointing up, its bounding box centred in the cell
                draw.polygon(_star_points(cx, cy + 0.275 * r, (1.1 * r,), 3), fill=fill)
            else:  # five-pointed star
                draw.polygon(_star_points(cx, cy, (1.1 * r, 0.5 * r), 10), fill=fill)
        return image

    # ---------------------------------------------------------------------------------- language
    def caption(self, scene: Scene) -> str:
        """A caption listing every object in reading order.

        Example: ``"There are two shapes: a large red circle at the top left and a small blue star
        in the center."`` (sizes are named only when the world has more than one size).
        """
        places = {"center": "in the center", "left": "on the left", "right": "on the right"}
        parts = []
        for obj in scene.objects:
            size = f"{obj.size} " if len(self.sizes) > 1 else ""
            parts.append(f"a {size}{obj.label} {places.get(obj.position, 'at the ' + obj.position)}")
        listing = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        n = len(parts)
        head = "There is one shape" if n == 1 else f"There are {_NUMBER_WORDS[n]} shapes"
        return f"{head}: {listing}."

    def questions(self, scene: Scene) -> dict[str, list[QuestionAnswer]]:
        """Every question the world may ask about ``scene``, by family (families with none are left out).

        Each question is unambiguous by construction: a colour question names a shape that occurs
        once, a shape question a colour that occurs once, and every other reference is
        ``"<color> <shape>"``, which scenes never repeat.
        """
        objects = scene.objects
        found: dict[str, list[QuestionAnswer]] = {family: [] for family in self.families}

        def add(family: str, question: str, answer: str) -> None:
            if family in found:
                found[family].append(QuestionAnswer(question, answer, family))

        for obj in objects:
            if sum(o.shape == obj.shape for o in objects) == 1:
                add("color", f"What color is the {obj.shape}?", obj.color)
            if sum(o.color == obj.color for o in objects) == 1:
                add("shape", f"What shape is the {obj.color} object?", obj.shape)
            add("size", f"What size is the {obj.label}?", obj.size)
            add("position", f"Where is the {obj.label}?", obj.position)
        if "total" in self.count_kinds:
            add("count", "How many shapes are there?", str(len(objects)))
        for color in self.colors if "color" in self.count_kinds else ():
            add("count", f"How many {color} shapes are there?", str(sum(o.color == color for o in objects)))
        for shape in self.shapes if "shape" in self.count_kinds else ():
            add("count", f"How many {shape}s are there?", str(sum(o.shape == shape for o in objects)))
        present = {o.label for o in objects}
        for color in self.colors:
            for shape in self.shapes:
                article = "an" if color[0] in "aeiou" else "a"
                add("exists", f"Is there {article} {color} {shape}?", "yes" if f"{color} {shape}" in present else "no")
        for a in objects:
            for b in objects:
                for phrase, (axis, sign) in _RELATIONS.items():
                    difference = getattr(a, axis) - getattr(b, axis)
                    if a is not b and difference != 0:
                        answer = "yes" if sign * difference < 0 else "no"
                        add("relation", f"Is the {a.label} {phrase} the {b.label}?", answer)
        return {family: qas for family, qas in found.items() if qas}

    def sample_questions(self, scene: Scene, rng: random.Random, count: int) -> list[QuestionAnswer]:
        """Up to ``count`` distinct questions: a family uniformly, then an answer uniformly, then a question.

        Choosing the answer before the question balances each family's answers (as many ``no`` as
        ``yes``, every count equally often), so a model cannot score by guessing the usual answer.
        """
        pool = self.questions(scene)
        chosen: list[QuestionAnswer] = []
        while len(chosen) < count and pool:
            family = rng.choice(sorted(pool))
            answers = sorted({qa.answer for qa in pool[family]})
            answer = rng.choice(answers)
            qa = rng.choice([qa for qa in pool[family] if qa.answer == answer])
            chosen.append(qa)
            pool[family].remove(qa)
            if not pool[family]:
                del pool[family]
        return chosen

    def answer_vocabulary(self) -> list[str]:
        """Every answer this world can give, in a fixed order (closed and small: 26 words by default)."""
        words: list[str] = []
        by_family = {
            "color": self.colors,
            "shape": self.shapes,
            "size": self.sizes,
            "count": tuple(str(n) for n in range(self.max_shapes + 1)),
            "position": tuple(position_name(r, c) for r in range(3) for c in range(3)),
            "exists": ("yes", "no"),
            "relation": ("yes", "no"),
        }
        for family in self.families:
            words.extend(w for w in by_family[family] if w not in words)
        return words

    # ----------------------------------------------------------------------------------- records
    def image_name(self, scene: Scene) -> str:
        """The image's file name: a hash of the scene and the image size, so equal images share a file."""
        return hashlib.sha256(f"{scene.key()}|{self.image_size}".encode()).hexdigest()[:20] + ".png"

    def record(self, split: str, index: int, stage: str) -> tuple[Scene, dict[str, Any]]:
        """Scene ``index`` of ``split`` and its record for ``stage``.

        ``pretrain``: ``{"id", "image", "conversations": [human "<image>\\n" + CAPTION_PROMPT, gpt caption]}``;
        ``finetune``: the same with 1 to ``max_turns`` question/answer turns, ``<image>\\n`` before the
        first question only; ``eval``: a :meth:`SyntheticQuestion.to_dict` with one question.

        Raises:
            ConfigError: Unknown split or stage.
        """
        if stage not in STAGES:
            raise ConfigError(f"unknown stage {stage!r}; use one of {', '.join(STAGES)}")
        scene = self.scene(split, index)
        record_id, image = f"{split}-{index:06d}", f"images/{self.image_name(scene)}"
        rng = self._rng(split, stage, index)
        if stage == "eval":
            qa = self.sample_questions(scene, rng, 1)[0]
            return scene, SyntheticQuestion(record_id, image, qa.question, qa.answer, qa.family).to_dict()
        if stage == "pretrain":
            turns = [(CAPTION_PROMPT, self.caption(scene))]
        else:
            turns = [
                (qa.question, qa.answer) for qa in self.sample_questions(scene, rng, rng.randint(1, self.max_turns))
            ]
        conversations = []
        for i, (question, answer) in enumerate(turns):
            conversations.append({"from": "human", "value": ("<image>\n" if i == 0 else "") + question})
            conversations.append({"from": "gpt", "value": answer})
        return scene, {"id": record_id, "image": image, "conversations": conversations}


def answer_vocabulary(world: SyntheticWorld | None = None) -> list[str]:
    """The closed answer vocabulary of ``world`` (default: ``SyntheticWorld()``).

    See :meth:`SyntheticWorld.answer_vocabulary`.
    """
    return (world or SyntheticWorld()).answer_vocabulary()


# --------------------------------------------------------------------------------- validation
def _check_llava_record(record: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``record`` is a well-formed LLaVA image record."""
    if set(record) != {"id", "image", "conversations"}:
        raise ValueError(f"keys must be id, image, conversations; got {sorted(record)}")
    if not (isinstance(record["id"], str) and record["id"] and isinstance(record["image"], str) and record["image"]):
        raise ValueError("id and image must be non-empty strings")
    turns = record["conversations"]
    if not isinstance(turns, list) or not turns or len(turns) % 2:
        raise ValueError("conversations must be a non-empty list of human/gpt pairs")
    for i, turn in enumerate(turns):
        expected = "human" if i % 2 == 0 else "gpt"
        if not isinstance(turn, dict) or set(turn) != {"from", "value"} or turn["from"] != expected:
            raise ValueError(f"turn {i} must be {{'from': {expected!r}, 'value': ...}}, got {turn!r}")
        value = turn["value"]
        if not isinstance(value, str) or not value.strip() or value.count("<image>") != (1 if i == 0 else 0):
            raise ValueError(f"turn {i} must be non-empty text with <image> once in the first turn only: {value!r}")
    if not turns[0]["value"].startswith("<image>\n"):
        raise ValueError("the first human turn must start with '<image>\\n'")


def _parse_question(data: Any) -> SyntheticQuestion:
    """Build a :class:`SyntheticQuestion` from decoded JSON, or raise ``ValueError`` saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    fields = ("question_id", "image", "text", "answer", "family")
    missing = [key for key in fields if key not in data]
    if missing:
        raise ValueError(f"missing key(s) {missing}")
    bad = [key for key in fields if not isinstance(data[key], str) or not data[key].strip()]
    if bad:
        raise ValueError(f"{bad} must be non-empty strings")
    if data["family"] not in FAMILIES:
        raise ValueError(f"unknown family {data['family']!r} (known: {', '.join(FAMILIES)})")
    if "<image>" in data["text"]:
        raise ValueError("text must be the bare question, without <image>")
    return SyntheticQuestion(*(data[key] for key in fields))


def load_synthetic_questions(path: str | Path) -> list[SyntheticQuestion]:
    """Read an evaluation file written by :func:`generate_dataset` with ``stage="eval"``.

    Args:
        path: The ``<split>.jsonl`` file; one JSON object per line, blank lines ignored.

    Returns:
        The questions in file order.

    Raises:
        DataError: The file is missing, or a line is not a well-formed question (the message names
            the file and line), or two lines share a ``question_id``.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise DataError(f"cannot read synthetic questions from {path}: {error}; run generate_dataset first") from error
    questions: list[SyntheticQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = _parse_question(json.loads(line))
            if question.question_id in seen:
                raise ValueError(f"duplicate question_id {question.question_id!r}")
        except ValueError as error:  # json.JSONDecodeError is a ValueError
            raise DataError(
                f"{path}:{number}: malformed synthetic question: {error}; "
                "expected {question_id, image, text, answer, family} (regenerate the file with generate_dataset)"
            ) from error
        seen.add(question.question_id)
        questions.append(question)
    return questions


# ------------------------------------------------------------------------------------ writing
@dataclass(frozen=True)
class SyntheticFiles:
    """What :func:`generate_dataset` wrote.

    Args:
        root: The output folder; use it as the image folder (records name ``images/<hash>.png``).
        data_file: ``<split>.json`` (LLaVA list) or, for ``stage="eval"``, ``<split>.jsonl``.
        scenes_file: ``<split>_scenes.jsonl``: per record, its ``id``, ``image`` and ``scene``.
        num_records: Records written.
        num_images: Distinct images written (equal scenes share a file).
    """

    root: Path
    data_file: Path
    scenes_file: Path
    num_records: int
    num_images: int


def _write_text(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def generate_dataset(
    out_dir: str | Path,
    num_samples: int,
    *,
    split: Split = "train",
    stage: Stage = "finetune",
    seed: int | None = None,
    image_size: int | None = None,
    max_shapes: int | None = None,
    world: SyntheticWorld | None = None,
) -> SyntheticFiles:
    """Write a synthetic data set: ``images/*.png``, the records, and the scenes behind them.

    Same arguments, same bytes (with the same Pillow and zlib). Scenes depend on
    ``(seed, split, index)`` only, so a ``pretrain`` and a ``finetune`` set of one split and seed
    show the same images; use one folder per stage, as both write ``<split>.json``.

    Args:
        out_dir: Output folder (created); also the image folder for training.
        num_samples: Records to write (for ``eval``: questions, one per image).
        split: ``train``, ``val`` or ``test``; splits never share a scene.
        stage: ``pretrain`` (captions, LLaVA), ``finetune`` (1 to 3 question/answer turns, LLaVA) or
            ``eval`` (one question per line, :class:`SyntheticQuestion` fields, ``<split>.jsonl``).
        seed: Base seed (default 0).
        image_size: Image side in pixels (default :data:`DEFAULT_IMAGE_SIZE`).
        max_shapes: Most objects per scene (default :data:`DEFAULT_MAX_SHAPES`).
        world: A fully configured world instead of ``seed`` / ``image_size`` / ``max_shapes``.

    Returns:
        The paths and counts written.

    Raises:
        ConfigError: A bad option, or ``world`` together with ``seed`` / ``image_size`` / ``max_shapes``.
        DataError: A generated record failed validation (a bug; please report it).
    """
    if world is not None and (seed, image_size, max_shapes) != (None, None, None):
        raise ConfigError("generate_dataset: pass either world= or seed/image_size/max_shapes, not both")
    if world is None:
        world = SyntheticWorld(
            0 if seed is None else seed,
            DEFAULT_IMAGE_SIZE if image_size is None else image_size,
            DEFAULT_MAX_SHAPES if max_shapes is None else max_shapes,
        )
    if not isinstance(num_samples, int) or isinstance(num_samples, bool) or num_samples < 1:
        raise ConfigError(f"generate_dataset: num_samples must be a positive int, got {num_samples!r}")
    if split not in SPLITS or stage not in STAGES:
        raise ConfigError(f"generate_dataset: split must be one of {SPLITS} and stage one of {STAGES}")
    root = Path(out_dir)
    (root / "images").mkdir(parents=True, exist_ok=True)
    records, scene_lines, written = [], [], set()
    for index in range(num_samples):
        scene, record = world.record(split, index, stage)
        try:
            _parse_question(record) if stage == "eval" else _check_llava_record(record)
        except ValueError as error:
            raise DataError(f"generated record {index} of {split}/{stage} is malformed: {error}") from error
        if record["image"] not in written:
            world.render(scene).save(root / record["image"], format="PNG")
            written.add(record["image"])
        records.append(json.dumps(record, ensure_ascii=False))
        record_id = record["question_id" if stage == "eval" else "id"]
        scene_lines.append(json.dumps({"id": record_id, "image": record["image"], "scene": scene.to_dict()}))
    if stage == "eval":
        data_file, text = root / f"{split}.jsonl", "".join(line + "\n" for line in records)
    else:
        data_file, text = root / f"{split}.json", "[\n" + ",\n".join(records) + "\n]\n"
    _write_text(data_file, text)
    scenes_file = root / f"{split}_scenes.jsonl"
    _write_text(scenes_file, "".join(line + "\n" for line in scene_lines))
    return SyntheticFiles(root, data_file, scenes_file, len(records), len(written))
