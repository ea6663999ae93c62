"""Run the examples of the documentation pages as doctests.

pytest collects ``docs/*.md`` (``--doctest-glob=*.md``); this file keeps the Sphinx
configuration and the built HTML out of collection and gives the pages' kernels a
fresh cache directory instead of the user's.
"""

import pytest

collect_ignore = ["__init__.py", "conf.py", "conftest.py"]
collect_ignore_glob = ["_build/*"]


@pytest.fixture(autouse=True, scope="module")
def _kernel_cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("JITGRAD_CACHE_DIR", str(tmp_path_factory.mktemp("jitgrad-cache")))
    yield
    mp.undo()
