"""A valid environment for `Settings.from_env`: every required variable, with a value each."""

HUB_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 of 24 bytes
VALID = {
    "DATABASE_URL": "postgresql://app:pg-password-123@db.internal:5432/messaging",
    "REDIS_URL": "redis://:redis-password-456@cache.internal:6379/0",
    "MESSAGING_SERVICE_API_KEY": "api-key-one",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-access-token-789",
    "WHATSAPP_VERIFY_TOKEN": "verify-token-abc",
    "WHATSAPP_APP_SECRET": "app-secret-def",
    "HUB_WEBHOOK_URL": "https://hub.example.com/webhooks/whatsapp",
    "HUB_WEBHOOK_SECRET": HUB_SECRET,
}
NUMBER = VALID["WHATSAPP_PHONE_NUMBER_ID"]  # the default business number of the tests
OUTBOUND = f"messaging:outbound:{{{NUMBER}}}"  # its stream (core.names.outbound_stream)
# The webhook and Hub-event streams with one shard (STREAM_SHARDS=1): shard 0 of each.
WEBHOOKS_STREAM = "messaging:webhooks:{w0}"  # core.names.webhook_streams()[0]
HUB_STREAM = "messaging:hub-events:{h0}"  # core.names.hub_streams()[0]
