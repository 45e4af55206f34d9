"""Meta's WhatsApp Cloud API, with no web framework: the client and its error taxonomy, the
webhook parser, inbound message normalisation and Meta's media rules. Imports `core` only.
"""
