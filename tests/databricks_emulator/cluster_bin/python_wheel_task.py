"""Run a ``python_wheel_task`` on an emulated driver: ``python python_wheel_task.py PACKAGE ENTRY [ARGS...]``.

As on Databricks: the entry point ``ENTRY`` is looked up in the metadata of the distribution
``PACKAGE`` (any entry-point group, ``console_scripts`` first); when it has none of that name,
``PACKAGE.ENTRY`` is imported and called. ``sys.argv`` is ``[PACKAGE, *ARGS]``. A function
returning an int makes that the exit code.
"""

import importlib
import re
import sys
from importlib import metadata


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _find_entry_point(package: str, entry: str):
    for dist in metadata.distributions():
        if _normalize(dist.metadata["Name"] or "") != _normalize(package):
            continue
        points = sorted(dist.entry_points, key=lambda p: p.group != "console_scripts")
        for point in points:
            if point.name == entry:
                return point.load()
    module = importlib.import_module(package.replace("-", "_"))
    return getattr(module, entry)


def main() -> int:
    package, entry, *args = sys.argv[1:]
    function = _find_entry_point(package, entry)
    sys.argv = [package, *args]
    result = function()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())
