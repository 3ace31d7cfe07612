# observatory-ingest: `docker run observatory-ingest` serves on the embedded PostgreSQL;
# with DATABASE_URL (or OBSERVATORY_DATABASE_URL) it uses that database instead.

FROM python:3.11-slim AS build
# The wheel compiles the C extensions (hatch_build.py); only this stage needs a compiler.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md hatch_build.py ./
COPY service ./service
COPY migrations ./migrations
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin observatory
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /home/observatory
ENV PYTHONUNBUFFERED=1 \
    OBSERVATORY_DATA_DIR=/home/observatory/data \
    OBSERVATORY_LOG_FORMAT=json
VOLUME ["/home/observatory/data"]
EXPOSE 4317 4318 9464
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=2)"]
ENTRYPOINT ["observatory-ingest", "serve"]
