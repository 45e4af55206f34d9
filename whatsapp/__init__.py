"""Meta's WhatsApp Cloud API, with no web framework: the client and its error taxonomy, the
webhook parser, inbound message normalisation, and Meta's rules for what a message may hold
(`message_rules`, `interactive_rules`, `template_rules`, `media_rules`, `emoji`), which the
send API and the Meta simulator both build on. Imports `core` only.
"""
