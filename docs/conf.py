"""Sphinx configuration for the mvlm documentation (built with ``-W``: warnings are errors)."""

from __future__ import annotations

import sys
from pathlib import Path

import mvlm

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "mvlm"
author = "The mvlm developers"
copyright = "2026, The mvlm developers"
release = mvlm.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "projector_table",
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False

exclude_patterns = ["_build"]
html_theme = "furo"
html_title = f"mvlm {release}"
