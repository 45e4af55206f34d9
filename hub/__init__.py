"""The Hub, the other party of the service: what it is told (`hub.events`, the contract of
every event POSTed to HUB_WEBHOOK_URL). Below the web and the workers, above storage and
Meta's package, so both the outbox writer and the OpenAPI document use one contract."""
