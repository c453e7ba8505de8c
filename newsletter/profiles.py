"""Subscriber profiles: one TOML file per subscriber, the file name being the id.

Each file is validated on its own, so one bad profile never stops the others: `load_profiles`
returns the good profiles and one `ProfileError` per bad file, each problem naming the file and
the field (`subscribers/ada.toml: categories[1]: 'cs.XX' is not an arXiv category`).
`check_file` adds the line each problem is on, for an editor or a pull request to point at.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic_core import ErrorDetails

from newsletter import arxiv_id, i18n, templating
from newsletter.config import describe_error, display_path, read_toml
from newsletter.errors import NewsletterError, ProfileError, UnknownSubscriber
from newsletter.models import Frequency, Weekday

ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # fullmatch: "$" allows a "\n"
# Deliberately simple: one @, a dot in the domain, nothing that separates addresses in a
# header (, ; < > quotes, brackets) and no white space. The provider does the rest.
EMAIL_PATTERN = re.compile(r"[^@\s<>\"(),;:\[\]\\]+@[^@\s<>\"(),;:\[\]\\]+\.[A-Za-z]{2,}")
# Bidirectional overrides reorder what a reader sees (and what a header shows).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@cache
def arxiv_categories() -> dict[str, str]:
    """arXiv's taxonomy, shipped with the package: code -> name."""
    text = resources.files("newsletter").joinpath("data/categories.txt").read_text("utf-8")
    rows = (line.split("\t", 1) for line in text.splitlines() if line and line[0] != "#")
    return {code: name for code, name in rows}


ArxivId = Annotated[str, StringConstraints(pattern=arxiv_id.FULL_PATTERN)]


class Topic(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1)
    relevant: str = Field(min_length=1)
    irrelevant: str = ""


class Profile(BaseModel):
    """What one subscriber reads about. Unknown keys are errors, so typos never pass silently,
    and so are wrong types: `max_papers = "15"` or `active = "yes"` is not quietly converted."""

    model_config = ConfigDict(extra="forbid", strict=True)

    id: str = Field(default="", exclude=True)
    name: str = Field(min_length=1)
    email: str
    active: bool = True
    categories: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    topics: list[Topic] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    irrelevant_domains: list[str] = Field(default_factory=list)
    application_tasks: list[str] = Field(default_factory=list)
    relevance_cutoff: int = Field(default=5, ge=1, le=10)
    novelty_cutoff: int = Field(default=4, ge=1, le=10)
    max_papers: int = Field(default=30, ge=1, le=500)
    model: str | None = None
    frequency: Frequency = "daily"  # weekly: one digest on `weekday` (newsletter.rhythm)
    weekday: Weekday = "friday"
    language: i18n.LanguageCode = i18n.DEFAULT  # the reader's: the email, pages, comments
    # arXiv ids given as examples; their titles are looked up once and kept with the votes
    liked: list[ArxivId] = Field(default_factory=list)
    disliked: list[ArxivId] = Field(default_factory=list)
    # titles of papers the reader liked and did not want, newest first: filled in from the
    # store's votes for a run (newsletter.votes.taught), never written to the file
    liked_titles: list[str] = Field(default_factory=list, exclude=True)
    disliked_titles: list[str] = Field(default_factory=list, exclude=True)

    def categories_or(self, default: Sequence[str]) -> list[str]:
        return self.categories or list(default)

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


@dataclass
class Roster:
    """Every profile file in a folder: the valid ones and the errors of the others."""

    profiles: list[Profile] = field(default_factory=list)
    errors: list[ProfileError] = field(default_factory=list)

    @property
    def active(self) -> list[Profile]:
        return [p for p in self.profiles if p.active]

    def get(self, subscriber_id: str) -> Profile:
        for p in self.profiles:
            if p.id == subscriber_id:
                return p
        for e in self.errors:
            if Path(e.path).stem == subscriber_id:
                raise e
        raise UnknownSubscriber(f"no subscriber '{subscriber_id}' (no {subscriber_id}.toml)")


def parse_profile(path: Path) -> Profile:
    """Read and validate one profile file; raise ProfileError listing every problem."""
    try:
        data = read_toml(path, error=ValueError)
    except ValueError as exc:
        raise ProfileError(display_path(path), [str(exc).removeprefix(f"{path}: ")]) from None
    problems: list[str] = []
    if not ID_PATTERN.fullmatch(path.stem):
        problems.append(f"(file name): '{path.stem}' is not a usable id (letters, digits, -_.)")
    try:
        profile = Profile.model_validate(data)
    except ValidationError as exc:
        problems += [_explain(e) for e in exc.errors()]
        raise ProfileError(display_path(path), problems) from None
    problems += check_profile(profile)
    if problems:
        raise ProfileError(display_path(path), problems)
    profile.id = path.stem
    return profile


def _explain(err: ErrorDetails) -> str:
    """A pydantic error in the subscriber's words, with the one TOML trap spelled out."""
    text = describe_error(err, Profile)
    if err["type"] == "extra_forbidden" and err["loc"][0] == "topics" and len(err["loc"]) == 3:
        key = err["loc"][2]
        if key in Profile.model_fields:
            text += f" (TOML puts keys after [[topics]] into that topic: move '{key}' above it)"
    return text


def check_profile(profile: Profile) -> list[str]:
    """The checks pydantic's types cannot express."""
    problems = [f"{field}: {why}" for field, why in unprintable_fields(profile)]
    if not profile.name.strip():
        problems.append("name: must not be blank")
    if not EMAIL_PATTERN.fullmatch(profile.email):
        problems.append(f"email: {profile.email!r} is not an email address")
    known = arxiv_categories()
    for i, cat in enumerate(profile.categories):
        if cat not in known:
            problems.append(f"categories[{i}]: '{cat}' is not an arXiv category")
    for i, topic in enumerate(profile.topics):
        if not topic.relevant.strip():
            problems.append(f"topics[{i}].relevant: must say what is relevant")
    if not profile.topics and not profile.keywords and not profile.authors:
        problems.append("topics: a profile needs topics, keywords or authors to select anything")
    return problems


def profile_warnings(profile: Profile) -> list[str]:
    """What a valid profile lacks to be judged well, or says to no effect: said by `validate`
    and `check`, never an error (keywords or followed authors alone still select papers)."""
    warnings = []
    if not profile.topics:
        given = [w for w, v in (("keywords", profile.keywords), ("authors", profile.authors)) if v]
        warnings.append(f"topics: none, so the model judges the papers by the "
                        f"{' and '.join(given)} alone; add a [[topics]] table (name, relevant, "
                        "irrelevant) at the end of the file")  # fmt: skip
    if "weekday" in profile.model_fields_set and profile.frequency == "daily":
        warnings.append('weekday: ignored, since frequency is "daily"; set frequency = "weekly" '
                        f"for one digest a week on {profile.weekday.capitalize()}")  # fmt: skip
    return warnings


def edit_profile(path: Path, **values: object) -> None:
    """Set top-level keys of a profile file, keeping its comments and layout (tomlkit puts a
    new key before the first table, where TOML reads it as top-level)."""
    doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    for key, value in values.items():
        doc[key] = value
    path.write_text(tomlkit.dumps(doc), encoding="utf-8")


def unprintable_fields(profile: Profile) -> list[tuple[str, str]]:
    """Text fields holding what no field should: line breaks where a header or a one-line
    value goes (name, email, lists), control characters or bidirectional overrides anywhere
    (a topic's long texts may span lines)."""
    fields: list[tuple[str, str, bool]] = [
        ("name", profile.name, False), ("email", profile.email, False),
        ("model", profile.model or "", False),
    ]  # fmt: skip
    for key in ("categories", "authors", "keywords", "irrelevant_domains", "application_tasks"):
        fields += [(f"{key}[{i}]", v, False) for i, v in enumerate(getattr(profile, key))]
    for i, t in enumerate(profile.topics):
        at = f"topics[{i}]"
        fields += [(f"{at}.name", t.name, False), (f"{at}.relevant", t.relevant, True),
                   (f"{at}.irrelevant", t.irrelevant, True)]  # fmt: skip
    found = []
    for name, text, multiline in fields:
        allowed = "\n\t" if multiline else ""
        bad = [c for c in text if c in _BIDI
               or (unicodedata.category(c) in ("Cc", "Cs") and c not in allowed)]  # fmt: skip
        if bad:
            what = "a line break" if bad[0] in "\r\n" else f"the character {bad[0]!r}"
            found.append((name, f"holds {what}: write it on one line, in plain text"))
    return found


def write_active(path: Path, active: bool) -> None:
    """Pause (False) or resume (True) a subscriber's digest."""
    edit_profile(path, active=active)
    parse_profile(path)


def create_profile(
    folder: Path, subscriber_id: str, email: str, name: str, **seeded: object
) -> Path:
    """Write a commented profile file, folder/ID.toml, from templates/profile.toml.j2;
    refuse a bad id or address, and an existing file. Unseeded, the file carries the
    template's example interests, to edit; `seeded` values (from the reader's own papers)
    replace them, and the file holds no interest the reader did not give: it may need
    topics or keywords before it validates."""
    path = folder / f"{subscriber_id}.toml"
    if not ID_PATTERN.fullmatch(subscriber_id):
        raise ProfileError(str(path), [f"(file name): '{subscriber_id}' is not a usable id"])
    if not EMAIL_PATTERN.fullmatch(email):
        raise ProfileError(str(path), [f"email: '{email}' is not an email address"])
    if path.exists():
        raise NewsletterError(f"{display_path(path)} exists already: not overwritten")
    template = templating.text_templates().get_template("profile.toml.j2")
    text = template.render(id=subscriber_id, example=not seeded)
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    edit_profile(path, name=name, email=email, **seeded)
    if not seeded:
        parse_profile(path)  # the template must always produce a valid profile
    return path


def load_profiles(folder: Path, known: Mapping[str, str] | None = None) -> Roster:
    """Every `*.toml` in `folder`. Two files giving one address: the one whose id the store
    `known` (id -> address) already has at that address keeps being served, else the first
    by name; the other is an error naming both files."""
    roster = Roster()
    if not folder.is_dir():
        return roster
    parsed: list[tuple[Path, Profile]] = []
    for path in sorted(folder.glob("*.toml")):
        try:
            parsed.append((path, parse_profile(path)))
        except ProfileError as exc:
            roster.errors.append(exc)
    by_address: dict[str, list[tuple[Path, Profile]]] = {}
    for path, profile in parsed:
        by_address.setdefault(profile.email.lower(), []).append((path, profile))
    known = {k: v.lower() for k, v in (known or {}).items()}
    for path, profile in parsed:
        sharing = by_address[profile.email.lower()]
        keeper = next((e for e in sharing if known.get(e[1].id) == profile.email.lower()),
                      sharing[0])  # fmt: skip
        if keeper[0] == path:
            roster.profiles.append(profile)
            continue
        problem = (
            f"email: '{profile.email}' is also used by {display_path(keeper[0])}, which "
            "keeps being served: this file is skipped"
        )
        roster.errors.append(ProfileError(display_path(path), [problem]))
    return roster


def address_book(folder: Path) -> dict[str, list[str]]:
    """Each address of the valid profiles in `folder`, lower-cased -> their files."""
    book: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
        try:
            email = parse_profile(path).email.lower()
        except ProfileError:
            continue
        book.setdefault(email, []).append(display_path(path))
    return book
