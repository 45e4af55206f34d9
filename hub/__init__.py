"""The Hub, the other party of the service: what it is told. `hub.contract` is the model of
every event POSTed to HUB_WEBHOOK_URL, `hub.events` how each is built. Below the web and the
workers, above storage and Meta's package, so both the outbox writer and the OpenAPI
document use one contract."""
