"""Sphinx configuration of the django-easy-channels documentation (``make docs``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the package, whose modules read Django settings: give it the test settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django  # noqa: E402

django.setup()

import easy_channels  # noqa: E402

project = "django-easy-channels"
author = "Breno Gomes and the django-easy-channels contributors"
copyright = "2020-2026, " + author
release = easy_channels.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosectionlabel",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "benchmarks/*.md", "screenshots"]
# Section titles are link targets (:ref:`Servers`); the first one of a name wins.
autosectionlabel_prefix_document = False
suppress_warnings = ["autosectionlabel.*"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "alabaster"
html_static_path: list[str] = []
html_title = f"django-easy-channels {release}"
