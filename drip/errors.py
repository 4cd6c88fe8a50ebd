"""Every error drip raises on purpose.

DripError
 +-- ConfigError                 settings missing or unsafe
 +-- ScheduleError               a schedule file does not validate (carries .problems)
 +-- TemplateError               a message template does not validate (carries .problems)
 +-- EnrollmentError             bad enrollment input (carries .field)
 +-- DeliveryError               a channel could not send (carries .code, .detail)
      +-- TransientDeliveryError     try again later (Twilio 20429/5xx, SMTP 4xx, timeouts)
      +-- PermanentDeliveryError     never retry (Twilio 21211/21614/..., SMTP 5xx)
           +-- RecipientOptedOutError    the carrier says the patient replied STOP (Twilio 21610)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file, located for a human: ``file:line: [step] message``."""

    source: str
    line: int | None
    message: str
    step: str | None = None

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        step = f" step '{self.step}':" if self.step else ""
        return f"{where}:{step} {self.message}"


class DripError(Exception):
    """Base of every deliberate drip error."""


class ConfigError(DripError):
    """Settings are missing or unsafe for this environment."""


class _ProblemsError(DripError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ScheduleError(_ProblemsError):
    """A schedule does not validate; ``.problems`` lists every problem found."""


class TemplateError(_ProblemsError):
    """A message template does not validate; ``.problems`` lists every problem found."""


class EnrollmentError(DripError):
    """Enrollment input is invalid; ``.field`` names the offending field, and ``.patient_id``
    the patient who already has that phone or email, when that is the trouble."""

    def __init__(self, field: str, message: str, *, patient_id: int | None = None) -> None:
        self.field = field
        self.patient_id = patient_id
        super().__init__(f"{field}: {message}")


class DeliveryError(DripError):
    """A channel failed to hand a message to its provider."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


class TransientDeliveryError(DeliveryError):
    """Worth retrying later with backoff."""


class PermanentDeliveryError(DeliveryError):
    """Retrying cannot help; the delivery fails with this code."""


class RecipientOptedOutError(PermanentDeliveryError):
    """The provider reports the recipient has opted out (Twilio 21610)."""
