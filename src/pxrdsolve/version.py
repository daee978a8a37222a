"""Code identity: the package version plus a hash of the installed source, and ``git describe``.

``__version__`` alone (fixed at release) cannot tell two checkouts apart, so result files record
:func:`code_version`: ``"0.1.0+src.1a2b3c4d5e6f"`` (the sha256 of every ``*.py`` file of the installed
package and of the packaged data files, by relative path, first 12 hex digits), followed by
``" (git v0.1.0-12-gabc1234-dirty)"`` when the package is run from a git checkout.  Two processes of
the same code give the same string whatever the machine; editing any source file changes it.
``--resume``/``--merge`` compare :func:`source_hash` (the part that names the code), not the git text,
which also changes with commits that touch no source file.
"""

from __future__ import annotations

import hashlib
import subprocess
from functools import lru_cache
from pathlib import Path

from pxrdsolve import __version__

PACKAGE_ROOT = Path(__file__).resolve().parent
HASH_DIGITS = 12
_DATA_SUFFIXES = (".json",)  # small packaged data that changes results (form-factor tables)


def _source_files(root: Path = PACKAGE_ROOT) -> list[Path]:
    """Every ``*.py`` (and small packaged data) file of the package, sorted by relative path."""
    files = [p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
             and (p.suffix == ".py" or p.suffix in _DATA_SUFFIXES)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def hash_source_tree(root: Path = PACKAGE_ROOT) -> str:
    """sha256 (first :data:`HASH_DIGITS` hex digits) over (relative path, content) of the source files."""
    h = hashlib.sha256()
    for p in _source_files(root):
        rel = p.relative_to(root).as_posix().encode()
        data = p.read_bytes()
        h.update(len(rel).to_bytes(8, "little") + rel + len(data).to_bytes(8, "little") + data)
    return h.hexdigest()[:HASH_DIGITS]


@lru_cache(maxsize=1)
def source_hash() -> str:
    """Hash of the installed source (computed once per process)."""
    return hash_source_tree(PACKAGE_ROOT)


@lru_cache(maxsize=1)
def git_describe() -> str | None:
    """``git describe --always --dirty --tags`` of the checkout holding the package, or None."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], cwd=PACKAGE_ROOT,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and text else None


def code_version() -> str:
    """``"<package version>+src.<source hash>"``, plus ``" (git <describe>)"`` in a git checkout."""
    base = f"{__version__}+src.{source_hash()}"
    git = git_describe()
    return f"{base} (git {git})" if git else base


def same_code(recorded: str | None, current: str | None = None) -> bool:
    """Whether a recorded :func:`code_version` names the same code as ``current`` (default: this one):
    the ``version+src.hash`` parts are compared; the git text is informative only."""
    if not recorded:
        return False
    current = code_version() if current is None else current
    return recorded.split(" (git ")[0] == current.split(" (git ")[0]
