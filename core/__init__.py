"""The bottom layer: what the web, the workers and the operator's CLI all need.

Settings, names (streams, keys, statuses), which failures are transient, logging, the Redis
client and stream helpers, pause flags, the micro-batcher, metric exposition and token
checks. It imports nothing else of ours; everything else may import it.
"""
