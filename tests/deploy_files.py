"""Locations of the deploy artifacts, and the queries the Grafana dashboard runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "llm-usage.json"


def dashboard_targets(datasource_type: str) -> list[dict[str, Any]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [
        target
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
        if target["datasource"]["type"] == datasource_type
    ]
