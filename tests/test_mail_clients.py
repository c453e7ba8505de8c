"""What real inboxes do with the digest: SendGrid's link tracking, and what each mail client
supports of the HTML and CSS the email uses (caniemail's data, vendored in tests/vendor)."""

from __future__ import annotations

from datetime import date

import pytest

from newsletter.config import SendgridConfig
from newsletter.deliver import Envelope, SendgridSender, build_payload
from newsletter.models import Email

ENV = Envelope(date(2025, 4, 10), "ada", "ada@example.org", "Ada Lovelace", ("2504.07001",))
EMAIL = Email("Digest", "Papers", '<html><a href="https://arxiv.org">x</a></html>', "Hi")


# -- SendGrid's tracking ------------------------------------------------------------------


@pytest.mark.parametrize("opted_in", [False, True])
def test_tracking_is_off_unless_the_operator_opts_in(sendgrid_server, opted_in) -> None:
    config = SendgridConfig(api_host=sendgrid_server.url, retries=0, click_tracking=opted_in)
    SendgridSender(config, sendgrid_server.api_key).send(build_payload(EMAIL, ENV, config))

    [msg] = sendgrid_server.messages
    assert msg.body["tracking_settings"] == {
        "click_tracking": {"enable": opted_in, "enable_text": opted_in},
        "open_tracking": {"enable": opted_in},
    }


def test_tracking_is_off_by_default() -> None:
    settings = build_payload(EMAIL, ENV, SendgridConfig())["tracking_settings"]
    assert not settings["click_tracking"]["enable"] and not settings["open_tracking"]["enable"]
