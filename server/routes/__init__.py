"""The web's routes, one module per route group, each with its blueprint `bp`: the Hub's API
(`sending`, `reads`, `contact_info`, `media_files`, `template_listing`), Meta's webhook
(`webhook_intake`), and the operator's (`health`, `metrics`). `server.app` registers them."""
