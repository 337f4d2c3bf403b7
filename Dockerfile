# syntax=docker/dockerfile:1
# The design-job service: `designer serve` with its worker processes (and, with
# EXTRAS=service,ray, everything a Ray head or worker node needs).
#
#   docker build -t designer .                                  # JAX on CPU
#   docker build --build-arg JAX_EXTRA=cuda12 -t designer:cuda .  # JAX with CUDA 12 wheels
#   docker build --build-arg EXTRAS=service,ray -t designer:ray .
#
# No secrets are baked in: database URL, passwords and tokens come from the environment at run
# time (see docker-compose.yml). Data (SQLite file, job results, plots) lives in the /data volume.
ARG BASE_IMAGE=python:3.12-slim

# --- build: a virtualenv with the package and its dependencies --------------------------------
FROM ${BASE_IMAGE} AS build
ARG EXTRAS=service
ARG JAX_EXTRA=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Dependencies first (a layer that survives source edits), then the package itself.
COPY pyproject.toml README.md ./
RUN pip install --upgrade pip \
 && mkdir designer app && touch designer/__init__.py app/__init__.py \
 && pip install ".[${EXTRAS}]" \
 && if [ -n "${JAX_EXTRA}" ]; then pip install "jax[${JAX_EXTRA}]"; fi \
 && pip uninstall -y implicit-bias-designer && rm -rf designer app build
COPY designer ./designer
COPY app ./app
RUN pip install --no-deps . \
 && find /opt/venv -name '__pycache__' -prune -exec rm -rf {} + \
 && find /opt/venv -name 'tests' -path '*/site-packages/*/tests' -prune -exec rm -rf {} +

# --- runtime: the virtualenv on a clean base, as an unprivileged user -------------------------
FROM ${BASE_IMAGE}
ARG UID=10001
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    DESIGNER_DATA_DIR=/data \
    DESIGNER_JAX_CACHE=/data/jax-cache \
    MPLCONFIGDIR=/tmp/matplotlib
RUN useradd --uid ${UID} --user-group --create-home --home-dir /home/designer --shell /usr/sbin/nologin designer \
 && mkdir -p /data && chown designer:designer /data
COPY --from=build /opt/venv /opt/venv
USER designer
WORKDIR /home/designer
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]
# Listening on 0.0.0.0 needs at least one user (tokens); create one first:
#   docker compose run --rm designer designer users add admin --admin
CMD ["sh", "-c", "exec designer serve --host \"${HOST:-0.0.0.0}\" --port \"${PORT:-8000}\" --data-dir /data --workers \"${DESIGNER_WORKERS:-1}\""]
