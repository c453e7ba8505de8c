"""The package's Jinja2 templates (`templates/`): one factory for every environment.

Every environment reads the same folder, fails on an undefined name rather than printing
nothing, and never re-reads a template it has loaded. What differs is said by the caller:
whether values are HTML-escaped, and whether whitespace is kept exactly as written (the
prompts and the profile file) or block tags take their line with them (HTML and MJML).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2


def _templates_dir() -> Path:
    """An installed wheel carries the templates inside the package (pyproject.toml maps them
    there); a checkout, editable install included, keeps them at the top of the repository."""
    package = Path(__file__).resolve().parent
    installed = package / "templates"
    return installed if installed.is_dir() else package.parent / "templates"


TEMPLATES_DIR = _templates_dir()


def environment(
    *,
    autoescape: bool | Callable[[str | None], bool],
    loader: jinja2.BaseLoader | None = None,
    exact_whitespace: bool = False,
) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader or jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=exact_whitespace,
        trim_blocks=not exact_whitespace,
        lstrip_blocks=not exact_whitespace,
        auto_reload=False,
    )
