"""A small CIF 1.1 tokenizer and block parser, enough for powder profiles in pdCIF files.

Handles ``data_`` blocks, ``loop_``, tag/value pairs (also with the value on the next line), quoted
strings, ``;``-delimited text fields and ``#`` comments.  Tags are case-insensitive (stored lower
case).  Values are kept as strings with the line number where each starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pxrdsolve.errors import InputError

_TOKEN = re.compile(r"""\s*(?:(#.*)|'(.*?)'(?=\s|$)|"(.*?)"(?=\s|$)|(\S+))""")
_RESERVED = ("data_", "loop_", "save_", "global_", "stop_")


@dataclass
class CifLoop:
    """A loop: its tags and its values, flattened row by row, with the line of each value."""

    tags: list[str]
    values: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    line: int = 0

    def column(self, tag: str) -> tuple[list[str], list[int]]:
        """Values and line numbers of one column (``tag`` lower case)."""
        k = self.tags.index(tag)
        n = len(self.tags)
        return self.values[k::n], self.lines[k::n]

    @property
    def complete(self) -> bool:
        return len(self.values) % max(len(self.tags), 1) == 0


@dataclass
class CifBlock:
    """A ``data_`` block: single items ``tag → (value, line)`` and loops."""

    name: str
    items: dict[str, tuple[str, int]] = field(default_factory=dict)
    loops: list[CifLoop] = field(default_factory=list)

    def get(self, tag: str) -> str | None:
        """The value of a single item or of a one-row loop column, else None."""
        if tag in self.items:
            return self.items[tag][0]
        loop = self.find_loop(tag)
        if loop is not None:
            return loop.column(tag)[0][0] if loop.values else None
        return None

    def find_loop(self, tag: str) -> CifLoop | None:
        return next((loop for loop in self.loops if tag in loop.tags), None)


def tokenize(text: str) -> Iterator[tuple[str, int, bool]]:
    """Yield (token, line number, quoted) for CIF text; comments are dropped."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith(";"):
            start = i
            parts = [line[1:]]
            i += 1
            while i < len(lines) and not lines[i].startswith(";"):
                parts.append(lines[i])
                i += 1
            yield "\n".join(parts).strip(), start + 1, True
            if i < len(lines):
                rest = lines[i][1:]
                yield from ((t, i + 1, q) for t, _, q in _line_tokens(rest))
            i += 1
            continue
        yield from ((t, i + 1, q) for t, _, q in _line_tokens(line))
        i += 1


def _line_tokens(line: str) -> Iterator[tuple[str, int, bool]]:
    for m in _TOKEN.finditer(line):
        comment, single, double, bare = m.groups()
        if comment is not None:
            return
        if single is not None:
            yield single, 0, True
        elif double is not None:
            yield double, 0, True
        elif bare is not None:
            yield bare, 0, False


def parse_cif(text: str, path: Path) -> list[CifBlock]:
    """Parse CIF text into blocks; InputError when there is no ``data_`` block."""
    blocks: list[CifBlock] = []
    block: CifBlock | None = None
    pending_tag: tuple[str, int] | None = None
    loop: CifLoop | None = None
    loop_reading_tags = False
    for token, line, quoted in tokenize(text):
        lower = token.lower()
        keyword = not quoted and (lower.startswith(_RESERVED) or token.startswith("_"))
        if loop is not None and keyword and not (loop_reading_tags and token.startswith("_")):
            loop = None
        if loop is not None:
            if loop_reading_tags and not quoted and token.startswith("_"):
                loop.tags.append(lower)
                continue
            loop_reading_tags = False
            loop.values.append(token)
            loop.lines.append(line)
            continue
        if not quoted and lower.startswith("data_"):
            block = CifBlock(token[5:])
            blocks.append(block)
            pending_tag = None
            continue
        if block is None:
            continue
        if not quoted and lower == "loop_":
            loop = CifLoop([], line=line)
            loop_reading_tags = True
            block.loops.append(loop)
            pending_tag = None
            continue
        if not quoted and token.startswith("_"):
            pending_tag = (lower, line)
            continue
        if pending_tag is not None:
            block.items[pending_tag[0]] = (token, line)
            pending_tag = None
    if not blocks:
        raise InputError(f"{path}: no data_ block: not a CIF file")
    return blocks
