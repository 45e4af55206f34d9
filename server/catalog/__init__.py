"""The template catalog in the web: the process's copy of it (`cache`) and the check of a
template send against it (`check`). The worker keeps it in sync (`consumers.templates`);
`GET /api/v1/templates/` lists it (`server.routes.template_listing`)."""
