"""The profile check's comment on a pull request, in Markdown, on standard output.

    python .github/scripts/profile_comment.py CHANGED_LIST PREVIEW_DIR

CHANGED_LIST holds the changed profile files, one a line; PREVIEW_DIR is where
`newsletter send --dry-run --outbox` wrote the previews. For each file: its problems with
their lines, or what it would have received (titles, scores, comments). The first line is a
hidden marker, by which the workflow finds its own comment again and updates it.
"""

from __future__ import annotations

import html
import json
import os
import sys
from pathlib import Path

from newsletter.config import load_config
from newsletter.profile_lines import check_file, check_warnings
from newsletter.profiles import address_book

MARKER = "<!-- newsletter-profile-check -->"
MAX_PICKS = 50  # a comment holds 65,536 characters at most


def text(value: object) -> str:
    """A value inside a Markdown table cell, read as plain text: no HTML, no mention, no
    cell break, on one line."""
    escaped = html.escape(" ".join(str(value).split()), quote=False)
    return escaped.replace("|", "\\|").replace("@", "&#64;").replace("`", "&#96;")


def problems_section(problems) -> list[str]:
    lines = ["Problems to fix before it can be merged:", ""]
    for p in problems:
        where = f"line {p.line}" if p.line else "the file"
        lines.append(f"- {where}: {text(p.message)}")
    return lines


def picks_section(digest: dict) -> list[str]:
    totals, picks = digest["totals"], digest["papers"]
    lines = [
        f"On {digest['day']}, {len(picks)} selected of {totals['listed']} papers listed in its "
        f"categories ({totals['read']} scored):",
        "",
    ]
    if not picks:
        return lines
    lines += ["| # | R | N | title | comment |", "|---|---|---|---|---|"]
    for i, pick in enumerate(picks[:MAX_PICKS], 1):
        r, n = ("-", "-") if pick["author_match"] else (pick["relevance"], pick["novelty"])
        title = f"[{text(pick['title'])}]({pick['url']})"
        lines.append(f"| {i} | {r} | {n} | {title} | {text(pick['comment'])} |")
    if len(picks) > MAX_PICKS:
        lines.append(f"\nand {len(picks) - MAX_PICKS} more: see the preview")
    return lines


def find_preview(folder: Path, subscriber_id: str) -> dict | None:
    found = sorted(folder.glob(f"*/{subscriber_id}.json"))
    return json.loads(found[-1].read_text(encoding="utf-8")) if found else None


def section(path: Path, folder: Path, emails: dict[str, list[str]], home: Path) -> list[str]:
    lines = [f"### `{text(path)}`", ""]
    problems = check_file(path, emails, home)
    if problems:
        return lines + problems_section(problems)
    lines += [f"Note: {text(w.message)}\n" for w in check_warnings(path)]
    digest = find_preview(folder, path.stem)
    if digest is None:
        return [*lines, "Valid. No digest: no paper passed its cutoffs that day (or the "
                        "preview failed: the run's log says why)."]  # fmt: skip
    return lines + picks_section(digest)


def comment(paths: list[Path], folder: Path, run_url: str = "") -> str:
    home = load_config().subscribers_dir
    emails = address_book(home)
    lines = [MARKER, "## Profile check", ""]
    for path in paths:
        lines += [*section(path, folder, emails, home), ""]
    if run_url:
        lines.append(f"Each preview's email and prompt: the `profile-preview` artifact of "
                     f"[this run]({run_url}).")  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    changed, folder = Path(argv[0]), Path(argv[1])
    paths = [Path(line) for line in changed.read_text(encoding="utf-8").splitlines() if line]
    server, repo, run = (os.environ.get(k, "") for k in
                         ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))  # fmt: skip
    run_url = f"{server}/{repo}/actions/runs/{run}" if server and repo and run else ""
    sys.stdout.write(comment(paths, folder, run_url))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
