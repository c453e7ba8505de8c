"""Domain exceptions. The CLI turns each into a one-line message and an exit code."""


class NewsletterError(Exception):
    """Base class: anything a user can fix or must be told about, in one line."""

    exit_code = 1


class ConfigError(NewsletterError):
    """config.toml is missing, unreadable or invalid. The message names the file and key."""

    exit_code = 2


class UsageError(NewsletterError):
    """The run was asked for something it cannot do (options that contradict each other,
    nobody to serve): nothing was started."""

    exit_code = 2


class CredentialsRejected(NewsletterError):
    """A service refused our key: the message names the variable to fix."""

    exit_code = 2


class ProfileError(NewsletterError):
    """A subscriber profile is invalid. The message names the file and field."""

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join(f"{path}: {p}" for p in problems))


class UnknownSubscriber(NewsletterError):
    """An id named on the command line has no profile file."""


class FetchError(NewsletterError):
    """The arXiv listing could not be read (after retries)."""


class QuotaExhausted(NewsletterError):
    """The LLM provider said the account has no quota left: retrying cannot help."""


class DeliveryError(NewsletterError):
    """A mail could not be handed to SendGrid (after retries)."""


class RunLocked(NewsletterError):
    """Another `newsletter send` holds the lock on the store."""


class SchemaTooNew(NewsletterError):
    """The store was written by a newer release, whose schema this one does not know."""


class StoreError(NewsletterError):
    """The SQLite file cannot be opened, read or written: the message names it and says why."""
