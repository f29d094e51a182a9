"""Cluster libraries: what "installing" a library means on a cluster that is this machine.

The emulator installs nothing into the interpreter the clusters share (the one running the
emulator). Instead:

* ``pypi``: the requirement is checked against the installed distribution. ``mlflow==X``, which
  ``mlflow run -b databricks`` adds to every run, is INSTALLED when X is the installed version.
  An unsatisfied requirement FAILS the library, naming the installed version.
* ``requirements``: each line of the file (DBFS, workspace or volume path) is checked the same way.
* ``whl``: the wheel is read from DBFS / workspace / volume, its ``Requires-Dist`` checked, and
  it is unpacked into the cluster's own library folder, which is on the ``PYTHONPATH`` of
  everything the cluster runs (pure-Python wheels, which is what projects build). Its ``.py``
  files get the driver path mapping of ``driver.py`` (``/dbfs/...`` literals made local).
* ``jar``, ``maven``, ``egg``, ``cran``: FAILED, not supported by the emulator.
"""

from __future__ import annotations

import io
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from typing import Callable

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement

from .storage import Layout

__all__ = ["LibraryError", "install_library", "library_label", "read_library_file"]


class LibraryError(Exception):
    """A library cannot be installed on the emulated cluster."""


def library_label(library: dict) -> str:
    """A short human label, e.g. ``pypi mlflow==3.1`` or ``whl dbfs:/a.whl``."""
    kind = next(iter(library), "library")
    value = library[kind]
    if isinstance(value, dict):
        value = value.get("package") or value.get("coordinates") or value
    return f"{kind} {value}"


def read_library_file(layout: Layout, uri: str) -> bytes:
    """The bytes of a library file given as ``dbfs:/``, ``/dbfs/``, ``/Workspace/`` or ``/Volumes/``.

    Raises:
        LibraryError: an unsupported scheme or a missing file.
    """
    if uri.startswith("dbfs:/"):
        local = layout.dbfs(uri)
    elif uri.startswith("/dbfs/"):
        local = layout.dbfs(uri[len("/dbfs"):])
    elif uri.startswith("/Workspace/"):
        local = layout.workspace(uri[len("/Workspace"):])
    elif uri.startswith("/Volumes/"):
        local = layout.files_api(uri)
    else:
        raise LibraryError(f"{uri}: only dbfs:/, /Workspace/ and /Volumes/ paths can be read")
    if not local.is_file():
        raise LibraryError(f"{uri}: file does not exist")
    return local.read_bytes()


def _check_requirement(spec: str) -> None:
    text = spec.strip().strip("'\"")
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        raise LibraryError(f"'{text}' is not a requirement the emulator can check "
                           "(it installs nothing; use name[specifier])") from None
    if requirement.url:
        raise LibraryError(f"'{text}': the emulator installs nothing from URLs")
    if requirement.marker and not requirement.marker.evaluate(default_environment()):
        return
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        raise LibraryError(f"'{text}': {requirement.name} is not installed on the cluster "
                           "and the emulator installs no packages") from None
    if requirement.specifier and not requirement.specifier.contains(installed, prereleases=True):
        raise LibraryError(f"'{text}': the cluster has {requirement.name} {installed} "
                           "and the emulator installs no packages")


def _unpack_wheel(data: bytes, uri: str, site_dir: Path, map_paths: Callable[[str], str]) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LibraryError(f"{uri}: not a wheel (zip) file") from None
    metadata_files = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
    if not metadata_files:
        raise LibraryError(f"{uri}: no .dist-info/METADATA in the wheel")
    headers = Parser().parsestr(archive.read(metadata_files[0]).decode("utf-8", "replace"))
    for requirement in headers.get_all("Requires-Dist") or []:
        if "extra ==" in requirement:
            continue
        _check_requirement(requirement)
    site_dir.mkdir(parents=True, exist_ok=True)
    archive.extractall(site_dir)
    for name in archive.namelist():
        if name.endswith(".py"):
            source = site_dir / name
            source.write_text(map_paths(source.read_text(encoding="utf-8")), encoding="utf-8")


def install_library(library: dict, layout: Layout, site_dir: Path,
                    map_paths: Callable[[str], str]) -> None:
    """Install ``library`` (a ``compute.Library`` dict) for a cluster whose packages live in
    ``site_dir``; ``map_paths`` rewrites driver paths in installed Python sources.

    Raises:
        LibraryError: with the message the library status should carry.
    """
    if "pypi" in library:
        _check_requirement(library["pypi"]["package"])
    elif "requirements" in library:
        text = read_library_file(layout, library["requirements"]).decode()
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                _check_requirement(line)
    elif "whl" in library:
        _unpack_wheel(read_library_file(layout, library["whl"]), library["whl"], site_dir,
                      map_paths)
    else:
        raise LibraryError(f"{library_label(library)}: this library type is not supported "
                           "by the emulator")
