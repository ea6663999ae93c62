"""Sphinx configuration for jitgrad."""

import os
import sys

# Document the checkout being built, installed or not.
sys.path.insert(0, os.path.abspath(".."))

project = "jitgrad"
author = "the jitgrad developers"
copyright = "2026, the jitgrad developers"
release = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
]

myst_enable_extensions = ["deflist"]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

autodoc_typehints = "description"
napoleon_google_docstring = False
napoleon_numpy_docstring = True

html_theme = "alabaster"
