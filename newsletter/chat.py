"""Requests sent one at a time through chat completions, in parallel up to `[llm]
concurrency`: the synchronous way a round travels, and where the Batch API leaves off.

What no retry can help (a rejected key, an unknown model, an exhausted quota) stops the run;
any other failure is that request's alone, told back in words an operator can act on.
"""

from __future__ import annotations

import asyncio

import openai

from newsletter.answers import clean_comment
from newsletter.config import Config, LLMConfig, openai_key
from newsletter.errors import ConfigError, CredentialsRejected, NewsletterError, QuotaExhausted
from newsletter.transport import Reply, Request, Round, Sent, read_reply, usage_of


def make_client(config: Config) -> openai.AsyncOpenAI:
    """The openai client, with our timeout and retry policy (it retries 429/5xx itself)."""
    key = openai_key()
    if key is None and config.llm.base_url is None:
        raise NewsletterError(
            'OPENAI_API_KEY is not set: export it, or set [llm] provider = "local" in config.toml'
        )
    return openai.AsyncOpenAI(
        api_key=key or "unused",  # self-hosted endpoints often need no key
        base_url=config.llm.base_url,
        timeout=config.llm.timeout,
        max_retries=config.llm.max_retries,
    )


class ChatTransport:
    """Each request of a round as its own chat completion."""

    def __init__(self, llm: LLMConfig, client: openai.AsyncOpenAI):
        self.label = f"the model ({llm.model})"
        self.llm = llm
        self.client = client
        self.slots = asyncio.Semaphore(llm.concurrency)
        self.requests = 0
        # Reasoning models refuse `max_tokens` (they want `max_completion_tokens`) and any
        # temperature but the default; older servers know only `max_tokens`. Start with what
        # most endpoints accept and adapt once when the 400 names the parameter.
        self.limit_param = "max_tokens"
        self.send_temperature = True

    async def close(self) -> None:
        await self.client.close()

    async def send(self, round: Round) -> Sent:
        """The round's requests, in parallel; each answer cached as it arrives."""
        return Sent(list(await asyncio.gather(*(self._ask(round, r) for r in round.requests))))

    def body(self, model: str, system: str, user: str, max_tokens: int) -> dict:
        """The chat-completions request, with the parameters this endpoint accepts."""
        options: dict[str, float | int] = {self.limit_param: max_tokens}
        if self.send_temperature:
            options["temperature"] = self.llm.temperature
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        return {"model": model, "messages": messages, **options}

    def why(self, exc: openai.APIError) -> tuple[str, str]:
        """What went wrong with a request: its kind, and words an operator can act on."""
        return failure(exc, self.client.base_url, self.llm.timeout)

    async def _ask(self, round: Round, request: Request) -> Reply:
        """One request, reserved against the cost cap; a rejected key, an unknown model and an
        exhausted quota stop the run: no other request could do better."""
        price = self.llm.prices.get(round.model)
        async with self.slots:
            expected = round.reserve(price, request)
            if expected is None:
                return Reply(None)
            actual = 0.0
            try:
                response = await self._request(
                    round.model, round.system, request.user, request.max_tokens
                )
                usage = usage_of(round.model, response, price)
                actual = usage.cost_usd or 0.0
            except openai.APIStatusError as exc:
                stop_on_hopeless(exc, round.model, self.llm.base_url)
                return Reply(None, failure=self.why(exc), unanswered=exc.status_code >= 500)
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                return Reply(None, failure=self.why(exc), unanswered=True)
            finally:
                round.budget.settle(expected, actual)
        return read_reply(round, request, response, usage)  # the slot is free for the next

    async def _request(
        self, model: str, system: str, user: str, max_tokens: int, adaptations: int = 2
    ):
        self.requests += 1
        try:
            return await self.client.chat.completions.create(
                **self.body(model, system, user, max_tokens)
            )
        except openai.BadRequestError as exc:
            if not adaptations or not self._adapt(exc.param):
                raise
        return await self._request(model, system, user, max_tokens, adaptations - 1)

    def _adapt(self, param: str | None) -> bool:
        """Rename or drop the parameter a 400 names in its `param` field (another request may
        have done so already); False when the 400 is about something else."""
        if param == "max_tokens":
            self.limit_param = "max_completion_tokens"
            return True
        if param == "temperature":
            self.send_temperature = False
            return True
        return False


def stop_on_hopeless(exc: openai.APIStatusError, model: str, base_url: str | None) -> None:
    """Raise for the answers no retry can change; return for the others."""
    where = base_url or "the OpenAI API"
    if exc.status_code in (401, 403):
        raise CredentialsRejected(
            f"{where} refused the key (HTTP {exc.status_code}): check OPENAI_API_KEY "
            "(scores so far are kept; nothing was sent)"
        )
    if exc.status_code == 404:
        raise ConfigError(
            f"{where} has no model '{model}' (HTTP 404): check [llm] model and base_url "
            "in config.toml (nothing was sent)"
        )
    if exc.status_code == 429 and _quota_exhausted(exc):
        raise QuotaExhausted(
            f"the LLM provider reports insufficient quota for model '{model}': "
            "add credit or change [llm] model, then re-run (scores so far are kept)"
        )


def failure(exc: openai.APIError, base_url, timeout: float) -> tuple[str, str]:
    """A failed request's kind and words: ('HTTP 400', "HTTP 400 (the API's message)"),
    ('timeout', 'no answer from URL within 30 s'), ('connection', 'no connection to URL').
    The notes reach the digests: the URL keeps neither credentials nor query."""
    if isinstance(exc, openai.APIStatusError):
        message = _error(exc).get("message")
        said = clean_comment(message)[:160] if isinstance(message, str) else ""
        return f"HTTP {exc.status_code}", f"HTTP {exc.status_code}" + (f" ({said})" if said else "")
    host = f"[{base_url.host}]" if ":" in base_url.host else base_url.host
    url = f"{base_url.scheme}://{host}{f':{base_url.port}' if base_url.port else ''}"
    url += base_url.path.rstrip("/")
    if isinstance(exc, openai.APITimeoutError):
        return "timeout", f"no answer from {url} within {timeout:g} s"
    return "connection", f"no connection to {url}"


def _error(exc: openai.APIStatusError) -> dict:
    """The error object of an API error's body (`{"error": {...}}`, or the body itself)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error", body)
    return error if isinstance(error, dict) else {}


def _quota_exhausted(exc: openai.APIStatusError) -> bool:
    fields = {getattr(exc, "code", None), getattr(exc, "type", None)}
    error = _error(exc)
    return "insufficient_quota" in fields | {error.get("code"), error.get("type")}
