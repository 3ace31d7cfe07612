# observatory-ingest: `docker run observatory-ingest` serves on the embedded PostgreSQL;
# with DATABASE_URL (or OBSERVATORY_DATABASE_URL) it uses that database instead.

# Any Debian-based image with python3 (3.11+) and its venv module; the tests pass one made with debootstrap.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# The C extensions (hatch_build.py) need a compiler and Python's headers: Debian's python3 takes them
# from libpython3-dev, the official python images ship their own (and leave Debian's unused).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev libpython3-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/observatory-ingest
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY service ./service
COPY migrations ./migrations
# Another package index (a mirror, a private one): --secret id=pip.conf,src=PATH is pip's
# configuration for this step only. pip and setuptools only install: the final stage goes without.
RUN --mount=type=secret,id=pip.conf,target=/etc/pip.conf \
    /opt/observatory-ingest/bin/pip install --no-cache-dir . \
    && /opt/observatory-ingest/bin/pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE}
# The data directory exists in the image, owned by the user, so a fresh volume mounted there is too.
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin observatory \
    && install -d -o 10001 -g 10001 -m 0700 /home/observatory/data
COPY --from=build /opt/observatory-ingest /opt/observatory-ingest
ENV PATH=/opt/observatory-ingest/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OBSERVATORY_DATA_DIR=/home/observatory/data \
    OBSERVATORY_LOG_FORMAT=json
USER 10001
WORKDIR /home/observatory
VOLUME ["/home/observatory/data"]
EXPOSE 4317 4318 9464
# GET /healthz on OBSERVATORY_METRICS_LISTEN (the health check does not see the command's flags).
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-m", "observatory_ingest.healthcheck"]
ENTRYPOINT ["observatory-ingest", "serve"]
