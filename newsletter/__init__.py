"""newsletter: a personalized daily digest of new arXiv papers.

The package reads as the pipeline it runs, one module per stage:

    config    the operator's config.toml
    profiles  the subscribers' profile files (profile_lines: the line each problem is on)
    fetch     the day's announced papers, from arXiv's RSS (backfill: a past day, and papers
              by id, from the arXiv API)
    prompt    a profile rendered into the prompts of the title pass, the skim and the full read
    score     the funnel: what to ask an LLM (or the local scorer) about papers, with token
              and dollar counts; transport: how a round of requests travels, chat (one
              request at a time) or batch (a round as one OpenAI Batch API batch)
    select    the day's picks for one subscriber; plans: a day's scoring shared among
              the subscribers, and each one's selection; rhythm: a daily or a weekly reader,
              the days their digest gathers and the run it goes out on
    render    the digest email (MJML -> HTML, and text/plain)
    deliver   SendGrid, or the dry-run outbox, exactly once per subscriber and day
    pipeline  the stages joined into one run
    archive   the web archive of past digests, built from the store (atom: their feeds)
    web       `newsletter serve`: votes, one-click unsubscribe, the archive (votes: what
              readers taught the prompts; seed: a profile drafted from a BibTeX file)
    cli       the `newsletter` command, a thin layer over the above

Beside the stages: `store` keeps what must outlive a run in SQLite, in the versioned schema of
`migrations`; `models` holds the plain data passed between stages; `answers` reads the model's
answers; `keywords` is the local scorer; `suppressions` mirrors SendGrid's suppression lists;
`retry` is the one retry policy for our own HTTP calls; `unreachable` says in one line why arXiv
is out of reach; `text` turns LaTeX into text; `templating` makes every Jinja2 environment;
`i18n` holds the readers' languages (catalogs, dates, numbers); `links` signs links; `views`
turns a selection into what the templates show, the frozen values of `view_models`, with the
sentences of `wording`; `web_pages` words the server's pages; `errors` holds the domain
exceptions.
"""

__version__ = "0.1.0"
