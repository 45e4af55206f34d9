"""Stand-ins for the outside world in dev runs, end-to-end tests and benchmarks.

`python -m simulator.meta` plays Meta's WhatsApp Cloud API (send endpoint, signed status and
inbound webhooks, fault injection under `/_sim/`); `python -m simulator.hub` plays the Hub
receiving our signed events (verification, de-duplication, fault injection under `/_sink/`).
"""
