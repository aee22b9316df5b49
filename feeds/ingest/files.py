"""Finding article files: which files an import reads, in what order, and each one's section."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from feeds.errors import InvalidArticle


@dataclass(frozen=True)
class Source:
    """One file to read (its path as found, which messages show), the section it belongs to,
    and where it is (resolved)."""

    name: str
    section: str | None
    location: str = ""

    @property
    def stem(self) -> str:
        """The file name without its extension, as pathlib has it: the article's id."""
        name = os.path.basename(self.name)
        dot = name.rfind(".")
        return name[:dot] if 0 < dot < len(name) - 1 else name

    def resolved(self) -> str:
        return self.location or os.path.realpath(self.name)


def _section(parts: tuple[str, ...]) -> str | None:
    """The first folder of a file's path below its base: the content root when the file is
    inside it (so that an article keeps its section whichever file or folder is imported),
    else the folder named."""
    return parts[0] if len(parts) > 1 else None


def is_utf8(path: str) -> bool:
    """Whether the name was UTF-8 on disk (Python keeps other bytes as lone surrogates,
    which no message, database or feed can carry)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NOT_UTF8 = "is not UTF-8, so {what} read; rename it in UTF-8"


def _below(path: Path, base: Path) -> tuple[str, ...] | None:
    return path.relative_to(base).parts if path.is_relative_to(base) else None


def _article_files(
    folder: str, errors: list[InvalidArticle], above: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """The path parts, below `folder`, of every `*.txt` file in it and its sub-folders,
    hidden ones and linked folders left out; a folder that cannot be read is reported."""
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError as e:
        errors.append(InvalidArticle(folder, f"cannot be read ({e.strerror}); check it"))
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):  # linked folders are not walked into
            if not is_utf8(entry.name):
                reason = "the folder name " + NOT_UTF8.format(what="none of its files was")
                errors.append(InvalidArticle(entry.path, reason))
                continue
            yield from _article_files(entry.path, errors, (*above, entry.name))
        elif entry.name.endswith(".txt") and entry.is_file():
            if not is_utf8(entry.name):
                reason = "the file name " + NOT_UTF8.format(what="it was not")
                errors.append(InvalidArticle(entry.path, reason))
                continue
            yield (*above, entry.name)


def collect(paths: Iterable[Path], content_root: Path) -> tuple[list[Source], list[InvalidArticle]]:
    """Files named directly and `*.txt` files below folders named, in a stable order (hidden
    files and folders are skipped), each with its section."""
    sources: list[Source] = []
    errors: list[InvalidArticle] = []
    top = content_root.resolve()
    for root in paths:
        if not (is_utf8(str(root)) and is_utf8(str(root.resolve()))):
            reason = "the path " + NOT_UTF8.format(what="it was not")
            errors.append(InvalidArticle(str(root), reason))
        elif root.is_file():
            resolved = root.resolve()
            parts = _below(resolved, top) or _below(resolved, root.parent.resolve()) or ()
            sources.append(Source(str(root), _section(parts), str(resolved)))
        elif root.is_dir():
            base = root.resolve()
            prefix = _below(base, top)  # None: outside the content root
            shown = "" if str(root) == "." else str(root)  # as pathlib writes it
            for relative in sorted(_article_files(str(root), errors)):
                parts = relative if prefix is None else prefix + relative
                location = os.path.join(base, *relative)
                name = os.path.join(shown, *relative)
                sources.append(Source(name, _section(parts), location))
        else:
            errors.append(InvalidArticle(str(root), "no such file or folder"))
    return sources, errors
