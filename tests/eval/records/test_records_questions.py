"""ImageRef: an image kept as a path or base64 text, checked cheaply and decoded only when opened."""

from __future__ import annotations

import pytest
from helpers.benchfiles import png_base64, write_png

from mvlm.errors import DataError, ImageError
from mvlm.eval.records import ImageRef


def test_image_ref(tmp_path):
    with pytest.raises(DataError):
        ImageRef()
    path = write_png(tmp_path / "a.png", (1, 2, 3))
    assert ImageRef(path=path).check() is None
    assert ImageRef(path=path).open().getpixel((0, 0)) == (1, 2, 3)
    assert "does not exist" in ImageRef(path=tmp_path / "b.png").check()
    assert ImageRef(base64=png_base64()).open().mode == "RGB"
    assert ImageRef(base64="").check() == "the image cell is empty"
    with pytest.raises(ImageError, match="base64"):
        ImageRef(base64="%%%").read_bytes()
    (tmp_path / "c.png").write_bytes(b"not an image")
    with pytest.raises(ImageError, match="cannot decode"):
        ImageRef(path=tmp_path / "c.png").open()
