"""The deliver stage against a local SendGrid, through the real sendgrid client."""

from __future__ import annotations

import email
import email.policy
import socket
from datetime import date

import pytest

from newsletter.deliver import (
    Envelope,
    SendgridApi,
    UnknownOutcome,
    build_mime,
    build_payload,
    deliver,
    prior_delivery,
)
from newsletter.errors import ConfigError, CredentialsRejected, DeliveryError
from newsletter.models import Email, Paper, Pick, SavedDigest, Score, Selection
from newsletter.outbox import write_preview
from newsletter.store import FAILED, SENDING, SENT, UNKNOWN
from tests.conftest import sendgrid_config

DAY = date(2025, 3, 4)
EMAIL = Email(
    subject="arXiv digest — 4 March: 2 papers for Ada",
    preheader="Diffusion models, twice",
    html="<!doctype html><html><body><p>Héllo Ada</p>\n<p>" + "x" * 300 + "</p></body></html>\n",
    text="Héllo Ada\n\n1. A paper\n2. Another one\n",
)
ENV = Envelope(
    day=DAY,
    subscriber_id="ada",
    to_email="ada@example.org",
    to_name="Ada Lovelace",
    paper_ids=("2503.00001", "2503.00002"),
)


@pytest.fixture
def config(sender):
    return sender.config


# -- the payload ------------------------------------------------------------------------


def test_payload_on_the_wire_and_message_id_in_the_ledger(store, sender, config, sendgrid_server):
    outcome = deliver(store, sender, EMAIL, ENV, config)

    assert outcome.status == "sent"
    [msg] = sendgrid_server.messages
    assert msg.headers["authorization"] == f"Bearer {sendgrid_server.api_key}"
    body = msg.body
    assert body["from"] == {"email": "digest@example.org", "name": "arXiv digest"}
    assert body["personalizations"] == [
        {"to": [{"email": "ada@example.org", "name": "Ada Lovelace"}]}
    ]
    assert body["subject"] == EMAIL.subject
    assert body["content"] == [
        {"type": "text/plain", "value": EMAIL.text},
        {"type": "text/html", "value": EMAIL.html},
    ]
    assert body["headers"] == {
        "List-Unsubscribe": "<https://example.org/unsubscribe?who=ada>, "
        "<mailto:leave@example.org?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert body["categories"] == ["arxiv-digest", "digest-2025-03-04"]
    assert body["custom_args"] == {"digest_date": "2025-03-04", "subscriber_id": "ada"}
    assert outcome.message_id == msg.message_id
    row = store.ledger.delivery(DAY, "ada")
    assert (row.status, row.message_id, row.attempts) == (SENT, msg.message_id, 1)


def test_unsubscribe_falls_back_to_a_mailto_to_the_sender():
    config = sendgrid_config(unsubscribe_url=None, unsubscribe_mailto=None)
    headers = build_payload(EMAIL, ENV, config)["headers"]
    assert headers == {"List-Unsubscribe": "<mailto:digest@example.org?subject=unsubscribe>"}


def test_one_click_header_needs_an_https_url():
    config = sendgrid_config(unsubscribe_url="http://example.org/u", unsubscribe_mailto=None)
    headers = build_payload(EMAIL, ENV, config)["headers"]
    assert "List-Unsubscribe-Post" not in headers
    assert headers["List-Unsubscribe"].startswith("<http://example.org/u>, <mailto:")


# -- retries and failures ---------------------------------------------------------------


def test_429_then_success_sends_once(store, sender, config, sendgrid_server):
    sendgrid_server.fail_next(1, 429, retry_after=0)
    outcome = deliver(store, sender, EMAIL, ENV, config)
    assert outcome.status == "sent"
    assert len(sendgrid_server.messages) == 1
    assert sendgrid_server.requests_count == 2


def test_retry_after_is_honoured_and_capped(sendgrid_server, config):
    pauses: list[float] = []
    sender = SendgridApi(config, sendgrid_server.api_key, sleep=pauses.append)
    sendgrid_server.fail_next(1, 429, retry_after=7)
    sendgrid_server.fail_next(1, 429, retry_after=3600)
    sender.send(build_payload(EMAIL, ENV, config))
    assert pauses == [7.0, 60.0]


def test_a_5xx_with_retry_after_waits_for_it(sendgrid_server, config):
    pauses: list[float] = []
    sender = SendgridApi(config, sendgrid_server.api_key, sleep=pauses.append)
    sendgrid_server.fail_next(1, 503, retry_after=5)
    assert sender.send(build_payload(EMAIL, ENV, config))
    assert pauses == [5.0]
    assert len(sendgrid_server.messages) == 1


def test_5xx_backs_off_exponentially(sendgrid_server):
    config = sendgrid_config(sendgrid_server.url, retry_delay=0.5, retries=3)
    pauses: list[float] = []
    sender = SendgridApi(config, sendgrid_server.api_key, sleep=pauses.append)
    sendgrid_server.fail_next(3, 503)
    assert sender.send(build_payload(EMAIL, ENV, config))
    assert pauses == [0.5, 1.0, 2.0]


def test_5xx_beyond_retries_fails_and_a_rerun_sends(store, sender, config, sendgrid_server):
    sendgrid_server.fail_next(config.retries + 1, 500)
    outcome = deliver(store, sender, EMAIL, ENV, config)
    assert outcome.status == "failed"
    assert "SendGrid 500" in outcome.detail and "3 attempts" in outcome.detail
    assert store.ledger.delivery(DAY, "ada").status == FAILED
    assert sendgrid_server.messages == []
    assert store.ledger.sent_paper_ids("ada") == set()

    again = deliver(store, sender, EMAIL, ENV, config)
    assert again.status == "sent"
    assert len(sendgrid_server.messages) == 1
    assert store.ledger.delivery(DAY, "ada").attempts == 2


def test_4xx_is_not_retried(sendgrid_server, sender, config):
    payload = build_payload(EMAIL, ENV, config)
    payload["content"].reverse()
    with pytest.raises(DeliveryError, match="SendGrid 400: If present, text/plain") as info:
        sender.send(payload)
    assert not isinstance(info.value, UnknownOutcome)
    assert sendgrid_server.requests_count == 1


@pytest.mark.parametrize("status", [400, 413])
def test_a_4xx_with_retry_after_is_still_final(sendgrid_server, config, status):
    sender = SendgridApi(config, sendgrid_server.api_key, sleep=pytest.fail)
    sendgrid_server.fail_next(1, status, retry_after=1)
    with pytest.raises(DeliveryError, match=f"SendGrid {status}"):
        sender.send(build_payload(EMAIL, ENV, config))
    assert sendgrid_server.requests_count == 1


def test_wrong_key_stops_without_retry_and_leaves_the_mail_to_send(store, sendgrid_server, config):
    sender = SendgridApi(config, "SG.wrong")
    with pytest.raises(CredentialsRejected, match="SendGrid refused SENDGRID_API_KEY") as info:
        deliver(store, sender, EMAIL, ENV, config)
    assert "SG.wrong" not in str(info.value)
    assert sendgrid_server.requests_count == 1
    assert prior_delivery(store, ENV.day, ENV.subscriber_id) is None  # a re-run sends it


def test_unreachable_server_is_a_definite_failure(store):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = sendgrid_config(f"http://127.0.0.1:{port}")
    outcome = deliver(store, SendgridApi(config, "SG.key"), EMAIL, ENV, config)
    assert outcome.status == "failed"
    assert "cannot reach" in outcome.detail
    assert store.ledger.delivery(DAY, "ada").status == FAILED


def test_missing_key_fails_at_construction(config):
    with pytest.raises(ConfigError, match="SENDGRID_API_KEY is not set"):
        SendgridApi(config, None)
    with pytest.raises(ConfigError):
        SendgridApi(config, "")


def test_the_client_gets_a_timeout(sender, config):
    assert sender.client.client.timeout == config.timeout


# -- exactly once -----------------------------------------------------------------------


def test_dropped_connection_is_unknown_and_never_resent(store, sender, config, sendgrid_server):
    sendgrid_server.drop_next()
    outcome = deliver(store, sender, EMAIL, ENV, config)
    assert outcome.status == "unknown"
    assert store.ledger.delivery(DAY, "ada").status == UNKNOWN
    assert sendgrid_server.requests_count == 1
    assert store.ledger.sent_paper_ids("ada") == set()

    again = deliver(store, sender, EMAIL, ENV, config)
    assert again.status == "unknown"
    assert "--force" in again.detail
    assert sendgrid_server.requests_count == 1
    assert len(sendgrid_server.messages) == 1

    forced = deliver(store, sender, EMAIL, ENV, config, force=True)
    assert forced.status == "sent"
    assert len(sendgrid_server.messages) == 2
    assert store.ledger.delivery(DAY, "ada").status == SENT


def test_read_timeout_is_unknown_not_retried(store, sendgrid_server):
    config = sendgrid_config(sendgrid_server.url, timeout=0.2)
    sendgrid_server.latency = 0.5
    sender = SendgridApi(config, sendgrid_server.api_key)
    with pytest.raises(UnknownOutcome):
        sender.send(build_payload(EMAIL, ENV, config))
    assert sendgrid_server.requests_count == 1
    assert len(sendgrid_server.messages) == 1


def test_crash_mid_send_is_not_resent(store, sender, config, sendgrid_server):
    store.ledger.begin(DAY, "ada", ENV.to_email)  # the process died right after this
    outcome = deliver(store, sender, EMAIL, ENV, config)
    assert outcome.status == "unknown"
    assert outcome.detail == (
        "previous attempt's outcome unknown; check SendGrid activity, then rerun with --force"
    )
    assert sendgrid_server.requests_count == 0
    assert store.ledger.delivery(DAY, "ada").status == SENDING


def test_already_sent_is_skipped_without_a_request(store, sender, config, sendgrid_server):
    first = deliver(store, sender, EMAIL, ENV, config)
    second = deliver(store, sender, EMAIL, ENV, config)
    assert second.status == "skipped"
    assert second.detail.startswith("already sent ")
    assert second.message_id == first.message_id
    assert sendgrid_server.requests_count == 1


def test_sent_papers_are_recorded_per_subscriber(store, sender, config, sendgrid_server):
    bob = Envelope(DAY, "bob", "bob@example.org", "Bob", ("2503.00009",))
    assert deliver(store, sender, EMAIL, ENV, config).status == "sent"
    assert deliver(store, sender, EMAIL, bob, config).status == "sent"
    assert store.ledger.sent_paper_ids("ada") == {"2503.00001", "2503.00002"}
    assert store.ledger.sent_paper_ids("bob") == {"2503.00009"}
    assert store.ledger.sent_paper_ids("ada", before=DAY) == set()
    assert [m.body["custom_args"]["subscriber_id"] for m in sendgrid_server.messages] == [
        "ada",
        "bob",
    ]


# -- the dry-run outbox -----------------------------------------------------------------


def test_write_preview_writes_four_files(tmp_path):
    config = sendgrid_config()
    paper = Paper("2503.00001", "Ünïcode", ("Ada",), "Abstract.", ("cs.LG",), "cs.LG")
    picks = [Pick(paper, Score(paper.id, 8, 6, "why"))]
    selection = Selection("ada", ENV.day, picks, listed=10, read=5)
    record = SavedDigest.of(selection, EMAIL.subject, None)
    paths = write_preview(tmp_path / "outbox", EMAIL, ENV, config, record)

    folder = tmp_path / "outbox" / "2025-03-04"
    assert paths == [folder / f"ada.{ext}" for ext in ("html", "txt", "eml", "json")]
    assert sorted(p.name for p in folder.iterdir()) == [
        "ada.eml",
        "ada.html",
        "ada.json",
        "ada.txt",
    ]
    assert paths[0].read_bytes() == EMAIL.html.encode("utf-8")
    assert paths[1].read_bytes() == EMAIL.text.encode("utf-8")
    saved = SavedDigest.model_validate_json(paths[3].read_text("utf-8"))
    assert saved == record and saved.to_selection({paper.id: paper}).picks == picks
    assert "Ünïcode" in paths[3].read_text("utf-8")

    msg = email.message_from_bytes(paths[2].read_bytes(), policy=email.policy.default)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert parts[0].get_content() == EMAIL.text
    assert parts[1].get_content() == EMAIL.html
    assert msg["Subject"] == EMAIL.subject
    assert msg["From"].addresses[0].addr_spec == "digest@example.org"
    assert msg["To"].addresses[0].display_name == "Ada Lovelace"
    assert msg["Message-ID"] and msg["Date"]
    headers = build_payload(EMAIL, ENV, config)["headers"]
    for key, value in headers.items():
        assert " ".join(msg[key].split()) == value


def test_write_preview_replaces_files_atomically(tmp_path):
    config = sendgrid_config()
    record = SavedDigest.of(Selection("ada", ENV.day, [], listed=1, read=1), None, None)
    write_preview(tmp_path, EMAIL, ENV, config, record)
    newer = Email("New subject", "", "<p>new</p>", "new")
    paths = write_preview(tmp_path, newer, ENV, config, record)
    assert paths[0].read_text("utf-8") == "<p>new</p>"
    assert [p.name for p in (tmp_path / "2025-03-04").iterdir() if p.name.startswith(".")] == []


def test_mime_is_ascii_safe_on_the_wire():
    raw = build_mime(EMAIL, ENV, sendgrid_config())
    head = raw.split(b"\n\n", 1)[0]
    assert head.isascii()
