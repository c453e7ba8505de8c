"""The script that seals the state the daily workflow keeps between runs."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO

STATE_SCRIPT = REPO / ".github" / "scripts" / "state.py"


@pytest.fixture(scope="module")
def state():
    """The state script as a module, to call its `main` as the workflow does."""
    spec = importlib.util.spec_from_file_location("state", STATE_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.SCRYPT_N = 2**10  # the same steps at a tenth of the cost; the runs of the workflow's
    return module  # own scripts below keep the real one


def seal(state, tmp_path: Path, monkeypatch, *paths: str) -> Path:
    monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
    monkeypatch.chdir(tmp_path)
    assert state.main(["encrypt", "state.tar.enc", *paths]) == 0
    return tmp_path / "state.tar.enc"


@pytest.fixture
def sealed(state, tmp_path, monkeypatch) -> Path:
    """A state of a database and a site folder, sealed under "correct horse"; the folder it
    was made in is then emptied, for `decrypt` to fill again."""
    source = tmp_path / "source"
    (source / "site" / "t0ken").mkdir(parents=True)
    (source / "newsletter.db").write_bytes(b"SQLite format 3\x00" + bytes(range(256)))
    (source / "site" / "t0ken" / "2025-04-10.html").write_text("<p>the day</p>")
    blob = seal(state, source, monkeypatch, "newsletter.db", "newsletter.db-wal", "site")
    target = tmp_path / "target"
    target.mkdir()
    monkeypatch.chdir(target)
    return blob


class TestStateScript:
    def test_decrypt_restores_what_encrypt_kept(self, state, sealed, capsys):
        assert state.main(["decrypt", str(sealed)]) == 0
        assert Path("newsletter.db").read_bytes() == b"SQLite format 3\x00" + bytes(range(256))
        assert Path("site/t0ken/2025-04-10.html").read_text() == "<p>the day</p>"
        assert not Path("newsletter.db-wal").exists()  # there was none to keep
        assert "Restored newsletter.db, site" in capsys.readouterr().out

    def test_two_seals_of_the_same_state_differ(self, state, sealed, monkeypatch):
        first = sealed.read_bytes()
        again = seal(state, sealed.parent, monkeypatch, "newsletter.db", "site").read_bytes()
        assert first != again and first[:19] == again[:19]  # a fresh salt and nonce each time

    def test_nothing_to_keep_writes_nothing(self, state, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["encrypt", "state.tar.enc", "newsletter.db", "site"]) == 0
        assert not (tmp_path / "state.tar.enc").exists()
        assert "nothing to keep" in capsys.readouterr().out

    def test_the_first_run_has_nothing_to_decrypt(self, state, tmp_path, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["decrypt", "state.tar.enc"]) == 0
        assert list(tmp_path.iterdir()) == []
        assert "starting with an empty database" in capsys.readouterr().out

    @pytest.mark.parametrize("command", ["encrypt state.tar.enc newsletter.db", "decrypt x"])
    def test_no_passphrase_no_state(self, state, tmp_path, monkeypatch, capsys, command):
        monkeypatch.setenv("STATE_PASSPHRASE", "")
        (tmp_path / "newsletter.db").write_text("ledger")
        assert state.main(command.split()) == 1
        assert "Add the STATE_PASSPHRASE secret" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["newsletter.db"]

    def test_another_passphrase_is_refused(self, state, sealed, monkeypatch, capsys):
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse ")
        assert state.main(["decrypt", str(sealed)]) == 1
        assert "does not open with this STATE_PASSPHRASE" in capsys.readouterr().err
        assert list(Path.cwd().iterdir()) == []

    @pytest.mark.parametrize(
        "where", [0, 20, 40, 60, -1], ids=["magic", "salt", "nonce", "ciphertext", "tag"]
    )
    def test_a_changed_byte_anywhere_is_refused(self, state, sealed, where):
        blob = bytearray(sealed.read_bytes())
        blob[where] ^= 0x01
        sealed.write_bytes(blob)
        assert state.main(["decrypt", str(sealed)]) == 1
        assert list(Path.cwd().iterdir()) == []

    def test_a_cut_short_file_is_refused(self, state, sealed):
        sealed.write_bytes(sealed.read_bytes()[:-100])
        assert state.main(["decrypt", str(sealed)]) == 1
        assert list(Path.cwd().iterdir()) == []

    def test_a_state_naming_a_path_outside_the_folder_is_refused(
        self, state, tmp_path, monkeypatch, capsys
    ):
        evil = tmp_path / "evil.tar.gz"
        with tarfile.open(evil, "w:gz") as tar:
            (tmp_path / "x").write_text("gotcha")
            tar.add(tmp_path / "x", arcname="../escaped")
        blob = tmp_path / "state.tar.enc"
        blob.write_bytes(state.seal(evil.read_bytes(), b"correct horse"))
        (tmp_path / "inside").mkdir()
        monkeypatch.chdir(tmp_path / "inside")
        monkeypatch.setenv("STATE_PASSPHRASE", "correct horse")
        assert state.main(["decrypt", str(blob)]) == 1
        assert "may not write" in capsys.readouterr().err
        assert not (tmp_path / "escaped").exists()

    def test_usage(self, state, capsys):
        assert state.main(["encrypt", "state.tar.enc"]) == 2
        assert "state.py decrypt state.tar.enc" in capsys.readouterr().err
