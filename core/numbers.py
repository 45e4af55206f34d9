"""The business numbers the service speaks for, and everything that depends on which one.

A business number is one of the business's WhatsApp phone numbers, named by Meta's
`phone_number_id` (WHATSAPP_PHONE_NUMBER_ID lists them; the first is the default). Each is
a `BusinessNumber`: its Meta token and send rate (its own, else the shared ones), its Graph
API URLs, and the names of its Redis keys (its outbound stream, rate schedule, pause and
pair limits, each carrying the number as a Redis Cluster hash tag). `Numbers` holds them in
order and picks the one a request names. Everything about "which number" asks these two.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from core.names import PAIR_LIMIT_KEY, RATE_KEY, SEND_PAUSED_KEY, outbound_stream

FIELD = "phone_number_id"  # how requests, rows and events name a number


class UnknownNumber(ValueError):
    """A number that is not configured (or none where one is required); the message says
    which numbers are."""


@dataclass(frozen=True)
class BusinessNumber:
    id: str
    token: str = field(repr=False)  # Meta's bearer token for this number's calls
    rate_per_s: float  # messages a second to Meta, across every sender replica
    graph_url: str  # the Graph API of the configured version, e.g. https://graph.../v23.0

    def url(self, *path: str) -> str:
        """A Graph API URL under this number: `url("messages")`, `url("media")`."""
        return "/".join((self.graph_url, self.id, *path))

    @property
    def messages_url(self) -> str:
        return self.url("messages")

    @property
    def marketing_messages_url(self) -> str:
        """Meta's Marketing Messages API: /messages' body, for MARKETING templates only."""
        return self.url("marketing_messages")

    @property
    def bearer(self) -> dict[str, str]:
        """The Authorization header of a Meta call made for this number."""
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def stream(self) -> str:
        """Its outbound stream: one entry per message to send from it."""
        return outbound_stream(self.id)

    @property
    def rate_key(self) -> str:
        return RATE_KEY.format(phone_number_id=self.id)

    @property
    def paused_key(self) -> str:
        return SEND_PAUSED_KEY.format(phone_number_id=self.id)

    def pair_limit_key(self, recipient: str) -> str:
        return PAIR_LIMIT_KEY.format(phone_number_id=self.id, recipient=recipient)


@dataclass(frozen=True)
class Numbers:
    """The configured numbers, the default first."""

    all: tuple[BusinessNumber, ...]
    _by_id: dict[str, BusinessNumber] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {n.id: n for n in self.all})

    @classmethod
    def build(
        cls,
        ids: tuple[str, ...],
        *,
        token: str,
        rate_per_s: float,
        graph_url: str,
        tokens: Mapping[str, str],
        rates_per_s: Mapping[str, float],
    ) -> Numbers:
        """Each of `ids` with its own token and rate where `tokens` / `rates_per_s` give one."""
        return cls(
            tuple(
                BusinessNumber(i, tokens.get(i, token), rates_per_s.get(i, rate_per_s), graph_url)
                for i in ids
            )
        )

    @property
    def default(self) -> BusinessNumber:
        return self.all[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(n.id for n in self.all)

    def __getitem__(self, number_id: str) -> BusinessNumber:
        return self._by_id[number_id]

    def __iter__(self) -> Iterator[BusinessNumber]:
        return iter(self.all)

    def __len__(self) -> int:
        return len(self.all)

    def pick(self, given: str | None, *, required: bool = False) -> BusinessNumber:
        """The number `given` names, or the default when it is None (unless `required` and
        there are several); `UnknownNumber` otherwise."""
        if given is None:
            if required and len(self.all) > 1:
                raise UnknownNumber(f"is required: this service sends from {self._listed()}")
            return self.default
        if given not in self._by_id:
            raise UnknownNumber(f"is not a configured number ({given!r}); one of {self._listed()}")
        return self[given]

    def _listed(self) -> str:
        return ", ".join(self.ids)
