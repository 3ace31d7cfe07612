"""`python -m observatory_ingest.healthcheck`: the container image's HEALTHCHECK, exit 0 when
/healthz answers. It runs apart from the service's command line, so it finds the address where
the service reads it too: OBSERVATORY_METRICS_LISTEN, else the default."""

from __future__ import annotations

import os
import sys
import urllib.request

from observatory_ingest.config import OPTIONS_BY_ATTRIBUTE, ListenAddress, parse_listen

# A service listening on every address is reached on loopback.
WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def healthz_url(listen: ListenAddress) -> str:
    return f"http://{ListenAddress(WILDCARDS.get(listen.host, listen.host), listen.port)}/healthz"


def main() -> int:
    option = OPTIONS_BY_ATTRIBUTE["metrics_listen"]
    url = healthz_url(parse_listen(os.environ.get(option.env_name, option.default)))
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return 0 if reply.status == 200 else 1
    except OSError as error:
        print(f"observatory-ingest healthcheck: {url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
