"""The documentation cannot go stale: every page is reachable and the command-line
examples print what the pages show. (The pages' Python examples run as doctests,
collected from docs/ by pytest.)"""

import re
import shlex
from pathlib import Path

import pytest

from jitgrad.__main__ import main

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_page_is_in_the_toctree():
    index = (DOCS / "index.md").read_text()
    tree = re.search(r"```\{toctree\}\n(.*?)```", index, re.S).group(1)
    listed = {ln.strip() for ln in tree.splitlines() if ln.strip() and not ln.startswith(":")}
    pages = {p.stem for p in DOCS.glob("*.md")} - {"index"}
    assert pages == listed


def _console_examples():
    """(page, command, expected output) for each ``$ python -m jitgrad`` line."""
    for page in sorted(DOCS.glob("*.md")):
        for block in re.findall(r"```console\n(.*?)```", page.read_text(), re.S):
            for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
                command, _, output = chunk.partition("\n")
                if command.startswith("python -m jitgrad "):
                    yield pytest.param(command, output, id=f"{page.stem}: {command}")


@pytest.mark.parametrize("command, expected", list(_console_examples()))
def test_console_example(command, expected, capsys):
    status = main(shlex.split(command)[3:])
    out = capsys.readouterr()
    assert (out.out + out.err) == expected
    assert status == (2 if "error:" in expected else 0)


def test_every_public_name_in_the_api_reference():
    """Each name jitgrad exports has an entry in docs/api.md."""
    import jitgrad as jg

    api = (DOCS / "api.md").read_text()
    missing = [n for n in jg.__all__ if f"jitgrad.{n}" not in api]
    assert not missing
