# syntax=docker/dockerfile:1
# One image for every Authorium service; the command picks the service:
#   docker run IMAGE authorium serve authz|resource|client-demo   (and `authorium setup` for the one-shot job)
ARG PYTHON=python:3.11-slim-bookworm

# Build stage: install Authorium, its runtime dependencies and the tracing extra (used only when OTEL_* turns it on;
# wheels; no test extras) into a virtualenv.
FROM ${PYTHON} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared shared
COPY services services
COPY cli cli
RUN python -m venv /opt/authorium \
 && /opt/authorium/bin/pip install --only-binary=:all: --no-compile ".[tracing]" \
 && /opt/authorium/bin/python -m compileall -q /opt/authorium

# Runtime stage: the virtualenv alone, run by an unprivileged user; nothing here is writable by it.
FROM ${PYTHON} AS runtime
RUN groupadd --system --gid 10001 authorium \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin authorium
COPY --from=build /opt/authorium /opt/authorium
ENV PATH=/opt/authorium/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AUTHORIUM_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001
EXPOSE 8000 8001 8002
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-m", "authorium.healthcheck"]
STOPSIGNAL SIGTERM
CMD ["authorium", "serve", "authz"]
