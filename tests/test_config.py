"""config.toml: the lookup order, the key contract, and one-line errors naming file and key."""

import re
import shutil
from pathlib import Path

import pytest
from pydantic import BaseModel

from newsletter.config import Config, Price, load_config
from newsletter.errors import ConfigError
from tests.conftest import REPO


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestLookup:
    def test_an_empty_file_gives_the_settings_of_the_shipped_one(self, tmp_path):
        """config.toml shows every key at its default: an empty file gives the same settings
        (bar its example prices), with paths relative to the file."""
        default = load_config(write(tmp_path, "", "empty.toml"))
        shutil.copy(REPO / "config.toml", tmp_path)
        shipped = load_config(tmp_path / "config.toml")
        ignored = {"llm": {"prices"}}
        assert default.model_dump(exclude=ignored) == shipped.model_dump(exclude=ignored)
        paths = [default.subscribers_dir, default.storage.path, default.output.outbox,
                 default.archive.out]  # fmt: skip
        assert all(path.parent == tmp_path for path in paths)

    def test_the_shipped_file_names_every_key(self):
        """Set, or shown commented out, in its own section."""
        text = (REPO / "config.toml").read_text(encoding="utf-8")
        sections = {"": text.split("\n[", 1)[0]} | {
            part.split("]", 1)[0]: part for part in text.split("\n[")[1:]
        }
        missing = []
        for section, field in Config.model_fields.items():
            model = field.annotation
            if field.exclude or not isinstance(model, type) or not issubclass(model, BaseModel):
                if not field.exclude and not re.search(rf"(?m)^#? ?{section} =", sections[""]):
                    missing.append(section)
                continue
            for key, inner in model.model_fields.items():
                shown = re.search(rf"(?m)^#? ?{key} +=", sections[section])
                if not inner.exclude and not shown and f"\n[{section}.{key}." not in text:
                    missing.append(f"{section}.{key}")  # a table: [llm.prices.<model>]
        assert missing == []

    def test_explicit_path_wins_over_environment(self, tmp_path, monkeypatch):
        env_file = write(tmp_path, '[llm]\nmodel = "from-env"\n', "env.toml")
        arg_file = write(tmp_path, '[llm]\nmodel = "from-arg"\n', "arg.toml")
        monkeypatch.setenv("NEWSLETTER_CONFIG", str(env_file))
        assert load_config(arg_file).llm.model == "from-arg"
        assert load_config().llm.model == "from-env"

    def test_cwd_config_is_used(self, tmp_path):
        write(tmp_path, '[llm]\nmodel = "local-model"\n')
        assert load_config().llm.model == "local-model"

    def test_no_config_anywhere_says_where_it_looked(self, tmp_path):
        with pytest.raises(ConfigError) as info:
            load_config()
        message = str(info.value)
        assert "--config was not given" in message and "$NEWSLETTER_CONFIG is not set" in message
        assert f"no config.toml in {tmp_path}" in message

    def test_missing_explicit_file_is_an_error(self, tmp_path):
        with pytest.raises(ConfigError, match=r"nope\.toml: file not found"):
            load_config(tmp_path / "nope.toml")

    def test_relative_paths_are_relative_to_the_file(self, tmp_path):
        sub = tmp_path / "etc"
        sub.mkdir()
        path = write(sub, 'subscribers_dir = "people"\n[storage]\npath = "state/n.db"\n')
        config = load_config(path)
        assert config.subscribers_dir == sub / "people"
        assert config.storage.path == sub / "state" / "n.db"


class TestContract:
    def test_the_shipped_config_loads(self):
        config = load_config(REPO / "config.toml")
        assert config.llm.prices["gpt-4o-mini"].prompt == 0.15
        assert config.arxiv.categories == ["cs.LG"]

    def test_every_documented_key(self, tmp_path):
        path = write(
            tmp_path,
            """
subscribers_dir = "subs"
[arxiv]
categories = ["cs.LG", "stat.ML"]
rss_url = "http://127.0.0.1:1/rss/"
api_url = "http://127.0.0.1:1/api/query"
[llm]
model = "m"
base_url = "http://127.0.0.1:2/v1"
batch_size = 10
title_batch_size = 100
concurrency = 4
timeout = 5
title_cutoff = 4
max_cost_usd = 0.5
prefilter_keep = 0.5
provider = "local"
[llm.prices.m]
prompt = 1.0
cached = 0.5
completion = 2.0
[sendgrid]
api_host = "http://127.0.0.1:3"
from_email = "me@example.org"
from_name = "Me"
[storage]
path = "x.db"
[output]
outbox = "out"
""",
        )
        c = load_config(path)
        assert (c.arxiv.categories, c.llm.base_url, c.llm.concurrency) == (
            ["cs.LG", "stat.ML"],
            "http://127.0.0.1:2/v1",
            4,
        )
        assert c.llm.prices["m"] == Price(prompt=1.0, cached=0.5, completion=2.0)
        assert c.sendgrid.from_email == "me@example.org"
        assert c.output.outbox == tmp_path / "out"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("colour = 1\n", "config.toml: colour: unknown key"),
            ("[llm]\nmodle = 'x'\n", "config.toml: llm.modle: unknown key (did you mean 'model'?)"),
            ("[llm]\nskim_char = 200\n", "llm.skim_char: unknown key (did you mean 'skim_chars'?)"),
            ("[sendgird]\nx = 1\n", "sendgird: unknown key (did you mean 'sendgrid'?)"),
            (
                "[llm.prices.m]\nprompt = 1\ncompletion = 2\ncahced = 1\n",
                "llm.prices.m.cahced: unknown key (did you mean 'cached'?)",
            ),
            ("[llm]\nconcurrency = 'many'\n", "config.toml: llm.concurrency: Input should be"),
            ("[llm]\nconcurrency = 0\n", "config.toml: llm.concurrency: Input should be greater"),
            ('[llm]\nconcurrency = "8"\n', "config.toml: llm.concurrency: Input should be a valid"),
            ('[llm]\ntitle_pass = "no"\n', "config.toml: llm.title_pass: Input should be a valid"),
            ("[arxiv]\nretries = 2.0\n", "config.toml: arxiv.retries: Input should be a valid"),
            ("[output]\nmax_html_bytes = '90000'\n", "output.max_html_bytes: Input should be"),
            ("[llm.prices.x]\nprompt = 1\n", "config.toml: llm.prices.x.completion: required"),
            ("[arxiv]\ncategories = 'cs.LG'\n", "config.toml: arxiv.categories: Input should be"),
            ("[llm\n", "config.toml: not valid TOML"),
            ("[llm]\nskim_chars = 40\n", "config.toml: llm.skim_chars: 40: use 0 (no skim) or"),
            ("[llm]\nskim_chars = 900\n", "llm.skim_chars: 900: use 0 (no skim) or 100 to 799"),
            ("[llm]\nabstract_chars = 200\n", "llm.skim_chars: 230: use 0 (no skim) or 100 to"),
        ],
    )
    def test_bad_input_is_one_line_naming_file_and_key(self, tmp_path, text, message):
        path = write(tmp_path, text)
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert message in str(info.value)
        assert "\n" not in str(info.value)

    @pytest.mark.parametrize("text", ["[llm]\nturbo = 1\n", "sources = 1\n"])
    def test_a_key_like_no_file_key_gets_no_guess(self, tmp_path, text):
        """`source` is a field the loader fills in, not a key a file may write."""
        with pytest.raises(ConfigError) as info:
            load_config(write(tmp_path, text))
        assert str(info.value).endswith(": unknown key")

    def test_secrets_cannot_come_from_the_file(self, tmp_path):
        path = write(tmp_path, '[llm]\napi_key = "sk-secret"\n')
        with pytest.raises(ConfigError, match=r"llm\.api_key: unknown key"):
            load_config(path)


class TestPrice:
    def test_cached_tokens_are_billed_at_the_cached_rate(self):
        price = Price(prompt=2.0, cached=1.0, completion=8.0)
        assert price.cost(1_000_000, 400_000, 100_000) == pytest.approx(1.2 + 0.4 + 0.8)

    def test_without_a_cached_price_cached_tokens_cost_the_full_rate(self):
        assert Price(prompt=2.0, completion=0).cost(1_000_000, 500_000, 0) == pytest.approx(2.0)
