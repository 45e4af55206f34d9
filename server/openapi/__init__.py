"""The OpenAPI 3.1 document: how a handler declares its operation (`operation`), the models
of what the service answers (`answers`), the document built from the app's routes
(`document`, `GET /openapi.json`) and its rendered page (`page`, `GET /docs`)."""
