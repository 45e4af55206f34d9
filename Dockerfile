# One image for both Railway services. Its default command runs `web` on 0.0.0.0:$PORT; the
# worker service starts the same image with `python -m consumers`, and the web service's
# pre-deploy command is `python -m db.migrate` (both also recorded as labels below).
# tests/e2e/test_deploy.py plays this file's stages on the host and runs exactly these commands.

FROM python:3.11-slim AS build
COPY --from=ghcr.io/astral-sh/uv:0.9 /uv /bin/uv
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /app
# Dependencies first, from the lock file alone, so code changes reuse this layer.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv uv sync --locked --no-dev --no-install-project

# The final stage: the virtualenv and the code, no uv, no compilers, not root.
FROM python:3.11-slim
LABEL org.opencontainers.image.title="messaging-service" \
      service.worker.command="python -m consumers" \
      service.release.command="python -m db.migrate"
RUN useradd --create-home --uid 10001 app
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY core ./core
COPY whatsapp ./whatsapp
COPY db ./db
COPY hub ./hub
COPY server ./server
COPY consumers ./consumers
COPY ops ./ops
ENV PATH="/app/.venv/bin:$PATH" PYTHONUNBUFFERED=1 PORT=8000
USER app
EXPOSE 8000
CMD ["python", "-m", "server"]
