"""Where a profile file's problems are: each problem placed on its line, for an editor or a
pull request to point at (`newsletter subscribers check`). The line of a field is found in
tomlkit's parse of the file; a field that is in the file but cannot be placed says why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import tomlkit

from newsletter.config import display_path
from newsletter.errors import ProfileError
from newsletter.profiles import parse_profile, profile_warnings


@dataclass(frozen=True)
class Problem:
    """One problem of a profile file and the line it is on (None: it has no place in the
    file, such as a key left out or the file's name)."""

    path: str
    line: int | None
    message: str  # `field: why`, as in a ProfileError
    warning: bool = False  # a valid file's shortcoming (`profile_warnings`), not an error


def check_file(
    path: Path, emails: dict[str, list[str]] | None = None, folder: Path | None = None
) -> list[Problem]:
    """Every problem of one file, each with its line; `emails` (from `address_book`) tells
    whether another subscriber has the same address, which would get two digests, and
    `folder` (the subscribers' folder) whether the file is where a run would find it."""
    placed = misplaced(path, folder) if folder is not None else []
    try:
        profile = parse_profile(path)
        others = [f for f in (emails or {}).get(profile.email.lower(), [])
                  if Path(f).stem != path.stem]  # fmt: skip
        problems = [f"email: '{profile.email}' is also used by {others[0]}"] if others else []
    except ProfileError as exc:
        problems = exc.problems
    problems = placed + problems
    if not problems:
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:  # not found: the problem says so
        text = ""
    return [_placed(display_path(path), p, text) for p in problems]


def _placed(path: str, problem: str, text: str) -> Problem:
    """The problem on its line; one whose field is in the file but cannot be found there says
    so, rather than losing its place silently."""
    try:
        return Problem(path, line_of(problem, text), problem)
    except (ValueError, tomlkit.exceptions.TOMLKitError) as exc:
        return Problem(path, None, f"{problem} (its line could not be found: {exc})")


def misplaced(path: Path, folder: Path) -> list[str]:
    """A file in a subfolder of the subscribers' folder passes every other check, yet no run
    reads it (`load_profiles` reads the folder's own files only): say so. A file elsewhere
    (a draft being checked) is not a subscriber's yet, and has no place to be in."""
    try:
        inner = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return []
    if len(inner.parts) == 1:
        return []
    home = display_path(folder)
    return [f"(folder): only files directly in {home}/ are served, never one in a subfolder: "
            f"move it to {display_path(folder / path.name)}"]  # fmt: skip


def check_warnings(path: Path) -> list[Problem]:
    """The warnings of a file `check_file` found no problem in."""
    return [Problem(display_path(path), None, w, warning=True)
            for w in profile_warnings(parse_profile(path))]  # fmt: skip


_FIELD = re.compile(r"([A-Za-z0-9_-]+)|\[(\d+)\]")
_MARK = "\x00"  # tomlkit writes it as \u0000: no value of a valid file starts that way


def line_of(problem: str, text: str) -> int | None:
    """The line a problem names: tomllib's for a syntax error, else the line of its field or,
    when the field is not in the file (a key left out), of the nearest enclosing one (a topic,
    a list); None when nothing of it is (a required key, the file's name). A field that is in
    the file but cannot be placed raises ValueError saying why."""
    if problem.startswith("not valid TOML"):
        found = re.search(r"at line (\d+)", problem)
        return int(found[1]) if found else max(text.count("\n"), 1)
    field = problem.split(": ", 1)[0]
    loc = tuple(int(n) if n else k for k, n in _FIELD.findall(field))
    for end in range(len(loc), 0, -1):
        try:
            return field_line(text, loc[:end])
        except (KeyError, IndexError, TypeError):  # not in the file: try the enclosing field
            continue
    return None


def field_line(text: str, loc: tuple) -> int:
    """The line of the value at `loc` (a key, an item of a list, a [table] or [[table]]) in
    a valid TOML document. tomlkit keeps every byte of what it parses and rewrites only what
    changes: the value is marked, and the first character that differs is where it starts."""
    doc = tomlkit.parse(text)
    parent = doc
    for part in loc[:-1]:
        parent = parent[part]
    item = parent[loc[-1]]
    if isinstance(item, tomlkit.items.AoT):  # a [[table]] as a whole: its first header
        item = item[0]
    if isinstance(item, tomlkit.items.Table):
        indent = item.trivia.indent  # the blank lines before its header
        item.trivia.indent = _MARK + indent
        newlines = indent.count("\n")
    else:
        parent[loc[-1]] = _MARK
        newlines = 0
    marked = doc.as_string()
    if marked == text:
        raise ValueError(f"tomlkit wrote {'.'.join(map(str, loc))} back unchanged")
    pairs = zip(text, marked, strict=False)
    start = next((i for i, (a, b) in enumerate(pairs) if a != b), min(len(text), len(marked)))
    return text.count("\n", 0, start) + newlines + 1
