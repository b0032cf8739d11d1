"""The test tree itself: pytest (rootdir-relative, no packages) refuses two test modules with the same file name
anywhere under tests/, but only when both are collected - so a unit-only run would not see it."""

import collections
import os

TESTS = os.path.join(os.path.dirname(__file__), "..")


def test_no_two_test_modules_share_a_file_name():
    where = collections.defaultdict(list)
    for base, dirs, files in os.walk(TESTS):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__"]
        for name in files:
            if name.startswith("test_") and name.endswith(".py"):
                where[name].append(os.path.relpath(os.path.join(base, name), TESTS))
    assert {name: paths for name, paths in where.items() if len(paths) > 1} == {}
