"""Figure 5: digests handed to SendGrid per second.

1,000 digests (about 60 KB of HTML each, with a plain-text part) delivered to the local SendGrid
fake through `newsletter.deliver.deliver`, with the delivery ledger in a fresh SQLite store,
from a pool of `newsletter.pipeline.SEND_WORKERS` threads as `newsletter send` does. The fake
runs in this process, so client and server share the two cores (and the GIL).

    .venv/bin/python bench/bench_send.py [--mails 1000] [--html-kb 60]
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.dayfactory import DEFAULT_DAY, make_day, table, verdict
from newsletter.config import SendgridConfig
from newsletter.deliver import Envelope, Outcome, SendgridSender, deliver
from newsletter.models import Email, Paper
from newsletter.pipeline import SEND_WORKERS
from newsletter.store import Store
from tests.fakes.sendgrid import FakeSendgrid

TARGET = 50.0  # mails per second
CORES = 2

CARD = """<tr><td style="padding:16px 24px;border-bottom:1px solid #e5e7eb;font-family:\
-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0"><tr>
<td style="font-size:12px;line-height:16px;color:#6b7280;padding-bottom:4px;">{n}. \
<span style="display:inline-block;padding:1px 6px;border-radius:9px;background:#ecfdf5;\
color:#047857;font-weight:600;">relevance {rel}</span> <span style="display:inline-block;\
padding:1px 6px;border-radius:9px;background:#eff6ff;color:#1d4ed8;font-weight:600;">novelty \
{nov}</span> {cat}</td></tr>
<tr><td style="font-size:17px;line-height:24px;font-weight:600;padding-bottom:4px;">\
<a href="https://arxiv.org/abs/{id}" style="color:#111827;text-decoration:none;">{title}</a>\
</td></tr>
<tr><td style="font-size:13px;line-height:18px;color:#4b5563;padding-bottom:8px;">{authors}</td>\
</tr>
<tr><td style="font-size:14px;line-height:21px;color:#1f2937;padding-bottom:8px;">{abstract}\
</td></tr>
<tr><td style="font-size:13px;line-height:19px;color:#374151;background:#f9fafb;\
padding:8px 12px;border-left:3px solid #10b981;">{comment}</td></tr>
<tr><td style="font-size:13px;line-height:18px;padding-top:8px;"><a href="https://arxiv.org/abs/\
{id}" style="color:#2563eb;">Abstract</a> &middot; <a href="https://arxiv.org/pdf/{id}" \
style="color:#2563eb;">PDF</a></td></tr></table></td></tr>
"""
HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" \
content="width=device-width,initial-scale=1"><title>{subject}</title><style>@media (max-width:\
620px){{.wrap{{width:100%!important}}}}@media (prefers-color-scheme:dark){{body{{background:\
#111827!important}}}}</style></head><body style="margin:0;padding:0;background:#f3f4f6;">
<div style="display:none;max-height:0;overflow:hidden;">{preheader}</div>
<table role="presentation" class="wrap" width="600" align="center" cellpadding="0" \
cellspacing="0" border="0" style="background:#ffffff;margin:0 auto;">
<tr><td style="padding:24px;font-size:22px;font-weight:700;">{subject}</td></tr>
"""
FOOT = """<tr><td style="padding:24px;font-size:12px;color:#6b7280;">You receive this digest \
because you subscribed. <a href="mailto:digest@example.org?subject=unsubscribe">Unsubscribe</a>\
</td></tr></table></body></html>"""


@dataclass
class Job:
    email: Email
    envelope: Envelope


def make_email(number: int, papers: list[Paper], html_bytes: int) -> Email:
    """A digest of about `html_bytes` of HTML: paper cards until the size is reached."""
    subject = f"arXiv digest {DEFAULT_DAY:%d %b %Y}: papers for subscriber {number}"
    preheader = " / ".join(p.title for p in papers[:3])
    parts = [HEAD.format(subject=html.escape(subject), preheader=html.escape(preheader))]
    text = [subject, ""]
    size = len(parts[0]) + len(FOOT)
    for n, paper in enumerate(papers, start=1):
        card = CARD.format(
            n=n,
            id=paper.id,
            rel=9 - n % 3,
            nov=7 - n % 2,
            cat=paper.primary_category,
            title=html.escape(paper.title),
            authors=html.escape(", ".join(paper.authors[:6])),
            abstract=html.escape(paper.abstract[:900]),
            comment=html.escape(f"Matches the reader's topics: {paper.title.lower()}."),
        )
        if size + len(card) > html_bytes and n > 1:
            break
        parts.append(card)
        size += len(card)
        text += [f"{n}. {paper.title}", f"   https://arxiv.org/abs/{paper.id}", ""]
    parts.append(FOOT)
    return Email(subject, preheader, "".join(parts), "\n".join(text))


def make_jobs(count: int, html_bytes: int) -> list[Job]:
    papers = make_day(400).papers
    jobs = []
    for i in range(count):
        start = (i * 7) % (len(papers) - 60)
        env = Envelope(
            day=DEFAULT_DAY,
            subscriber_id=f"subscriber{i:04d}",
            to_email=f"subscriber{i:04d}@example.org",
            to_name=f"Subscriber {i}",
            paper_ids=tuple(p.id for p in papers[start : start + 30]),
        )
        jobs.append(Job(make_email(i, papers[start : start + 60], html_bytes), env))
    return jobs


def pin_cores(count: int) -> str:
    """Run on at most `count` CPUs, as the production host has."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) > count:
        os.sched_setaffinity(0, available[:count])
    return f"{min(count, len(available))} of {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--html-kb", type=int, default=60)
    args = parser.parse_args()

    cpus = pin_cores(CORES)
    jobs = make_jobs(args.mails, args.html_kb * 1000)
    fake = FakeSendgrid()
    fake.start()
    config = SendgridConfig(api_host=fake.url, timeout=30, retries=3)
    sender = SendgridSender(config, fake.api_key)
    try:
        with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.db") as store:

            def send(job: Job) -> Outcome:
                return deliver(store, sender, job.email, job.envelope, config)

            started = time.perf_counter()
            with ThreadPoolExecutor(SEND_WORKERS) as pool:
                outcomes = list(pool.map(send, jobs))
            seconds = time.perf_counter() - started
    finally:
        fake.stop()

    sent = sum(o.status == "sent" for o in outcomes)
    rate = len(jobs) / seconds
    mean_html = sum(len(j.email.html.encode()) for j in jobs) / len(jobs)
    print(
        f"Figure 5 - delivery rate: {len(jobs)} digests of {mean_html / 1000:.1f} KB HTML to the "
        f"local SendGrid fake, {SEND_WORKERS} worker threads, {cpus}\n"
    )
    print(
        table(
            ["mails", "sent", "received", "wall time", "mails/s", "ms per mail per worker"],
            [
                [
                    len(jobs),
                    sent,
                    len(fake.messages),
                    f"{seconds:.2f}s",
                    f"{rate:.1f}",
                    f"{seconds / len(jobs) * SEND_WORKERS * 1000:.1f}",
                ]
            ],
        )
    )
    print()
    ok = rate >= TARGET and sent == len(jobs) == len(fake.messages)
    print(verdict(ok, f"{rate:.1f} mails/s (target >= {TARGET:.0f}), {sent}/{len(jobs)} sent"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
