"""Every Redis key and every message status, in one place (documented in the README).

Streams carry small, flat, human-readable entries so `redis-cli XRANGE` tells the story:

- outbound_stream(n)  `message_id`                     one entry per message to send from number n
- webhook_streams(N) `body`, `received_at`            Meta's raw webhook POST body, verified
- hub_streams(N)     `event_id`, `type`, `message_id` one entry per event to POST to the Hub
- `<stream>:dead`   the original fields + `error`, `deliveries`, `source_id`, `failed_at`

Every stream carries a Redis Cluster hash tag (`{...}`), and so do the keys used with it in
one transaction (its `:dead` stream, its `messaging:last-errors:<stream>` hash): a number's
stream, schedule and pauses share its slot, and the webhook and Hub streams are STREAM_SHARDS
shards each, `messaging:webhooks:{w0}`... and `messaging:hub-events:{h0}`..., so no single
slot carries every webhook or every Hub event.
"""

import zlib

OUTBOUND_PREFIX = "messaging:outbound:"
WEBHOOKS_PREFIX = "messaging:webhooks:"
HUB_PREFIX = "messaging:hub-events:"
# The unsharded names of before the shards (no hash tag): what is left in them is moved to
# shard 0 (consumers/sweeper.py), then they are gone.
LEGACY_STREAMS = ("messaging:webhooks", "messaging:hub-events")

SENDERS_GROUP = "senders"
WEBHOOK_PROCESSORS_GROUP = "webhook-processors"
HUB_FORWARDERS_GROUP = "hub-forwarders"

DEAD_LETTER_SUFFIX = ":dead"

# One sweeper per interval across every worker replica.
SWEEP_LOCK_KEY = "messaging:sweep-lock"
# The template catalog (consumers/templates.py): held by the replica that syncs it, and the
# flag a template status webhook sets to have a sync at once.
TEMPLATE_SYNC_LOCK_KEY = "messaging:template-sync-lock"
TEMPLATE_SYNC_WANTED_KEY = "messaging:template-sync-wanted"
TEMPLATE_STATUS_FIELD = "message_template_status_update"  # Meta's webhook field
# One retention purge at a time across every worker replica (consumers/retention.py).
RETENTION_LOCK_KEY = "messaging:retention-lock"

# Throughput control toward Meta, shared by every sender replica (see consumers/ratelimit.py).
RATE_KEY = "messaging:rate:{{{phone_number_id}}}"  # GCRA: when the next send slot is free
SEND_PAUSED_KEY = "messaging:send-paused:{{{phone_number_id}}}"  # JSON reason; TTL = the pause
PAIR_LIMIT_KEY = "messaging:pair-limit:{{{phone_number_id}}}:{recipient}"  # TTL = the wait
HUB_PAUSED_KEY = "messaging:hub-paused"  # JSON reason; set when the Hub answers 410 Gone
# A worker is taken for alive while its key exists (a TTL it keeps refreshing): a hint for
# taking back its claims sooner, never the record (consumers/liveness.py).
WORKER_KEY = "messaging:worker:{worker_id}"
# Why each entry of a stream last failed (hash: entry id -> error), so the entry that is
# dead-lettered after STREAM_MAX_DELIVERIES says why, whichever consumer saw it fail. It holds
# the stream's name, hash tag and all, so it shares the stream's slot.
LAST_ERRORS_KEY = "messaging:last-errors:{stream}"


def dead_letter_stream(stream: str) -> str:
    return stream + DEAD_LETTER_SUFFIX


def outbound_stream(phone_number_id: str) -> str:
    """The stream of one business number's messages: `messaging:outbound:{106540352242922}`."""
    return f"{OUTBOUND_PREFIX}{{{phone_number_id}}}"


def number_of(stream: str) -> str | None:
    """The business number of an outbound stream's name, else None."""
    tag = stream.removeprefix(OUTBOUND_PREFIX)
    if tag == stream or not (tag.startswith("{") and tag.endswith("}")):
        return None
    return tag[1:-1] or None


def webhook_streams(shards: int = 1) -> tuple[str, ...]:
    """The webhook stream's shards: `messaging:webhooks:{w0}`, `{w1}`..."""
    return tuple(f"{WEBHOOKS_PREFIX}{{w{i}}}" for i in range(shards))


def hub_streams(shards: int = 1) -> tuple[str, ...]:
    """The Hub-event stream's shards: `messaging:hub-events:{h0}`, `{h1}`..."""
    return tuple(f"{HUB_PREFIX}{{h{i}}}" for i in range(shards))


def hub_stream_of(key: str, shards: int = 1) -> str:
    """The shard of an event keyed by `key` (its message's id): one message, one shard, so
    its events keep their order."""
    return hub_streams(shards)[zlib.crc32(key.encode()) % shards]


def shard_of(stream: str) -> int | None:
    """The shard number of a webhook or Hub-event stream's name, else None."""
    for prefix, letter in ((WEBHOOKS_PREFIX, "w"), (HUB_PREFIX, "h")):
        tag = stream.removeprefix(prefix)
        if tag != stream and tag.startswith("{" + letter) and tag.endswith("}"):
            return int(tag[2:-1]) if tag[2:-1].isdigit() else None
    return None


def legacy_target(stream: str) -> str:
    """Where entries of a legacy (untagged) stream or its `:dead` stream go: shard 0's."""
    base = stream.removesuffix(DEAD_LETTER_SUFFIX)
    shard = webhook_streams()[0] if base == LEGACY_STREAMS[0] else hub_streams()[0]
    return shard + stream[len(base) :]


def groups(numbers: tuple[str, ...], shards: int = 1) -> tuple[tuple[str, str], ...]:
    """(stream, consumer group) pairs: one outbound stream per number, then the webhook and
    the Hub-event shards."""
    return (
        *((outbound_stream(n), SENDERS_GROUP) for n in numbers),
        *((s, WEBHOOK_PROCESSORS_GROUP) for s in webhook_streams(shards)),
        *((s, HUB_FORWARDERS_GROUP) for s in hub_streams(shards)),
    )


# Outbound message statuses, in the order a message moves through them. A status update
# never moves a message backwards (see `status_rank` in the migrations); `failed`
# outranks everything because it is terminal.
QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DELIVERED = "delivered"
READ = "read"
PLAYED = "played"  # a voice note the user listened to
FAILED = "failed"
STATUSES = (QUEUED, SENDING, SENT, DELIVERED, READ, PLAYED, FAILED)
# The error code of a message failed because no answer or status came (the sweeper's verdict,
# lifted by a status Meta reports later).
OUTCOME_UNKNOWN = "outcome_unknown"
# The error of a message its validity period ended before it was written to Meta.
EXPIRED_ERROR = {
    "code": "expired",
    "title": "Validity period ended",
    "message": "The message was not written to Meta before its validity period ended.",
    "details": None,
}

# Hub event types and outbox states.
EVENT_MESSAGE_STATUS = "message.status"
EVENT_MESSAGE_RECEIVED = "message.received"
EVENT_CONTACT_PREFERENCES = "contact.preferences"  # a contact stopped or resumed marketing
# Any other webhook field Meta sends (template status, account updates...) is forwarded as
# `whatsapp.<field>`, Meta's field name verbatim; what we could not read as `webhook.unparsed`.
EVENT_WHATSAPP_PREFIX = "whatsapp."
EVENT_WEBHOOK_UNPARSED = "webhook.unparsed"
# A user's phone number or business-scoped user id changed (a system message, user_id_update).
EVENT_CONTACT_USER_ID_CHANGED = "contact.user_id_changed"
HUB_PENDING = "pending"
HUB_DELIVERED = "delivered"
HUB_DEAD = "dead"
