"""Encrypt and decrypt the state that the daily workflow keeps between runs.

    python state.py encrypt state.tar.enc newsletter.db newsletter.db-wal site
    python state.py decrypt state.tar.enc

`encrypt` packs those of the paths that exist into a gzip'd tar and seals it with AES-256-GCM,
under a key derived by scrypt from $STATE_PASSPHRASE; with none of them there, it writes
nothing. `decrypt` checks the seal before it unpacks anything into the current folder: a file
that was altered, cut short or sealed under another passphrase is refused whole. A missing
file is not an error: the first run has no state yet.

The file is MAGIC, a 16-byte salt and a 12-byte nonce, then the ciphertext and its 16-byte
tag; the first three are authenticated with it. Needs only Python and `cryptography`, so that
the workflow can run it where no other package's code sees the passphrase.

Release 0.1.0's workflow kept the state as `openssl enc -aes-256-cbc -pbkdf2` of a plain tar,
which has no integrity check: `decrypt` still opens such a file once (with the openssl
command, as it was written), and the next `encrypt` keeps the state in this format.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

MAGIC = b"newsletter-state 1\n"
LEGACY_MAGIC = b"Salted__"  # what `openssl enc -salt` writes first
SALT, NONCE = 16, 12
# 32 MiB of memory and about 0.1 s per guess; the passphrase itself should be random
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


class Refused(Exception):
    """The state cannot be written or read as asked; the message says why."""


def passphrase() -> bytes:
    value = os.environ.get("STATE_PASSPHRASE", "")
    if not value:
        raise Refused("Add the STATE_PASSPHRASE secret (a long random string).")
    return value.encode()


def derive_key(secret: bytes, salt: bytes) -> bytes:
    return Scrypt(salt=salt, length=32, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P).derive(secret)


def seal(data: bytes, secret: bytes) -> bytes:
    salt, nonce = os.urandom(SALT), os.urandom(NONCE)
    header = MAGIC + salt + nonce
    return header + AESGCM(derive_key(secret, salt)).encrypt(nonce, data, header)


def unseal(blob: bytes, secret: bytes) -> bytes:
    if blob.startswith(LEGACY_MAGIC):
        return unseal_legacy(blob)
    if not blob.startswith(MAGIC):
        raise Refused("not a state file written by this script (an older format?)")
    header_size = len(MAGIC) + SALT + NONCE
    header, body = blob[:header_size], blob[header_size:]
    salt, nonce = header[len(MAGIC) : len(MAGIC) + SALT], header[-NONCE:]
    try:
        return AESGCM(derive_key(secret, salt)).decrypt(nonce, body, header)
    except (InvalidTag, ValueError):
        raise Refused(
            "the state does not open with this STATE_PASSPHRASE: the secret was changed, "
            "or the file was altered"
        ) from None


def unseal_legacy(blob: bytes) -> bytes:
    """A state the 0.1.0 workflow kept, opened as that workflow did."""
    command = ["openssl", "enc", "-d", "-aes-256-cbc", "-pbkdf2", "-pass", "env:STATE_PASSPHRASE"]
    done = subprocess.run(command, input=blob, capture_output=True, check=False)
    if done.returncode != 0:
        raise Refused("the state (in release 0.1.0's format) does not open with this passphrase")
    return done.stdout


def pack(paths: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in paths:
            tar.add(path)
    return buffer.getvalue()


def unpack(data: bytes, into: Path) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:  # 0.1.0's was not gzip'd
        try:
            # the "data" filter refuses absolute paths, links out of the folder and devices
            tar.extractall(into, filter="data")
        except tarfile.FilterError as error:
            raise Refused(f"the state holds a path it may not write: {error}") from None
        return sorted({Path(name).parts[0] for name in tar.getnames()})


def encrypt(target: Path, candidates: list[Path]) -> str:
    secret = passphrase()
    paths = [p for p in candidates if p.exists()]
    if not paths:
        return "No state yet: nothing to keep."
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(seal(pack(paths), secret))
    partial.replace(target)  # a run stopped halfway leaves the previous file whole
    return f"Kept {', '.join(map(str, paths))} in {target}."


def decrypt(source: Path) -> str:
    secret = passphrase()
    if not source.exists():
        return "No saved state: starting with an empty database."
    names = unpack(unseal(source.read_bytes(), secret), Path.cwd())
    return f"Restored {', '.join(names)} from {source}."


def main(argv: list[str]) -> int:
    try:
        match argv:
            case ["encrypt", target, *paths] if paths:
                print(encrypt(Path(target), [Path(p) for p in paths]))
            case ["decrypt", source]:
                print(decrypt(Path(source)))
            case _:
                print(__doc__.split("\n\n")[1], file=sys.stderr)
                return 2
    except Refused as refused:
        print(f"::error::{refused}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
