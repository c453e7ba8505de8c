"""Tokens as OpenAI bills them: tiktoken's o200k_base, the encoding of gpt-4o-mini (and of the
other current OpenAI chat models).

The fake server's own count (4 characters a token) bills real arXiv text about a quarter more
than o200k_base does (5.0 characters a token on the shipped listing's paper blocks, 5.5 on the
reference digests' abstracts; 4.8 on the generated days), so the token benchmarks count with
the real encoding instead.

tiktoken downloads its encoding files from openaipublic.blob.core.windows.net on first use, a
host that the machines this project is built on cannot reach: the same file is unpacked instead,
once, from a wheel on PyPI that ships it in its own tiktoken cache (litellm's), into
bench/.cache/tiktoken (or $TIKTOKEN_CACHE_DIR, where a file already there is used as it is).
tiktoken checks it against the SHA-256 it expects of o200k_base, and refuses a file that
differs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from functools import cache
from pathlib import Path

ENCODING = "o200k_base"
BLOB = f"https://openaipublic.blob.core.windows.net/encodings/{ENCODING}.tiktoken"
CACHE = Path(__file__).resolve().parent / ".cache" / "tiktoken"
WHEEL = "litellm==1.110.2"  # ships tiktoken's cache files under this folder
IN_WHEEL = "litellm/litellm_core_utils/tokenizers/"


@cache
def o200k() -> Callable[[str], int]:
    """A text's token count in o200k_base."""
    try:
        import tiktoken
    except ImportError:
        sys.exit("the token benchmarks need tiktoken: pip install -e '.[test,bench]'")
    cache_dir = Path(os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(CACHE)))
    cached = cache_dir / hashlib.sha1(BLOB.encode()).hexdigest()  # tiktoken's cache key
    if not cached.exists():
        _from_wheel(cached)
    encoding = tiktoken.get_encoding(ENCODING)
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def _from_wheel(target: Path) -> None:
    """Unpack the encoding file from the wheel that ships it (tiktoken checks its hash)."""
    print(f"fetching {ENCODING} from the {WHEEL} wheel into {target.parent}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary",
             ":all:", "--dest", tmp, WHEEL],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(IN_WHEEL + target.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
