"""`python -m consumers [name ...]`: run the named consumers (default: all, plus the sweeper).

The registry below is the list of consumers; add a line to add one. `sender` is one consumer
per business number of WHATSAPP_PHONE_NUMBER_ID, each on its own stream; `webhooks` and
`hub` one per shard of their stream (STREAM_SHARDS).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import uvloop

from consumers import hub_forwarder, sender, webhook_processor, worker
from consumers.runner import Consumer
from core.logs import configure_logging, secrets_of
from core.settings import Settings, SettingsError

CONSUMERS: dict[str, Callable[[Settings], list[Consumer]]] = {
    "sender": lambda s: sender.consumers(s.numbers),  # a number's stream -> Meta
    "webhooks": lambda s: webhook_processor.consumers(s.stream_shards),  # Meta -> PG -> hub
    "hub": lambda s: hub_forwarder.consumers(s.stream_shards),  # hub streams -> the Hub
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m consumers", description=__doc__)
    parser.add_argument(
        "names",
        nargs="*",
        choices=[*CONSUMERS, "sweeper", []],
        help="consumers to run (default: all of them and the sweeper)",
    )
    args = parser.parse_args(argv)
    names = args.names or [*CONSUMERS, "sweeper"]
    try:
        settings = Settings.from_env(process="worker")
    except SettingsError as exc:
        sys.exit(f"config error: {exc}")
    configure_logging(settings.log_level, secrets_of(settings))
    consumers = [c for n in names if n in CONSUMERS for c in CONSUMERS[n](settings)]
    sys.exit(uvloop.run(worker.run(settings, consumers, sweep="sweeper" in names)))


if __name__ == "__main__":
    main()
