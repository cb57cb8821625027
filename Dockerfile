# Style Studio in production: one image for every app service in compose.yaml. Its
# commands are the ones `make prod` runs: `stylestudio serve --prod` (migrate, build the
# frontend, serve pages + backend on one port with STYLESTUDIO_WEB_PROCESSES processes) and
# `stylestudio worker`. Untested here (no Docker on the project's machines): read it first.
FROM python:3.11-slim-bookworm

ARG BUN_VERSION=1.4.5
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_BUN_PATH=/app/.tools/node_modules/bun/bin/bun.exe \
    STYLESTUDIO_DATA_DIR=/data \
    STYLESTUDIO_HOST=0.0.0.0 \
    STYLESTUDIO_PORT=8000

# Node/npm fetch bun (as `make setup` does) and run the frontend build; unzip for Reflex.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
       nodejs npm unzip \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 stylestudio \
    && mkdir -p /app /data && chown stylestudio:stylestudio /app /data
WORKDIR /app
USER stylestudio

RUN npm install --prefix .tools --no-audit --no-fund --loglevel=error "bun@${BUN_VERSION}"

# Dependencies first (a code change does not reinstall them), then the code. Editable:
# the CLI finds alembic/ and rxconfig.py beside the package, as in a checkout.
COPY --chown=stylestudio:stylestudio pyproject.toml README.md ./
RUN python -m venv .venv \
    && .venv/bin/pip install --quiet --upgrade pip \
    && mkdir -p stylestudio && touch stylestudio/__init__.py \
    && .venv/bin/pip install --quiet -e . \
    && rm -rf stylestudio
COPY --chown=stylestudio:stylestudio . .
RUN .venv/bin/pip install --quiet --no-deps -e .
ENV PATH="/app/.venv/bin:${PATH}"

# Warm the frontend's packages and build cache; the start builds again with the real
# public address (it is part of the built pages), which is then quick.
RUN reflex export --frontend-only --no-zip \
    && rm -rf frontend.zip

EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/api/health', timeout=4)"

CMD ["stylestudio", "serve", "--prod"]
