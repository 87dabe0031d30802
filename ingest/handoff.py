"""Handing an ingest or re-index job to the running service (``POST /v1/ingest``,
``POST /v1/reindex``) and following it.

With embedded Qdrant only one process can open the store: while the service runs, ``ragsvc ingest``
sends the paths (absolute, as the service reads them from the same machine) and polls the job.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.report import FileProblem, IngestReport
from ragsvc.errors import RagsvcError
from ragsvc.settings import Settings

_POLL_S = 0.5


class HandoffError(RagsvcError):
    """The service is up but refused or lost the job."""


def service_url(settings: Settings) -> str:
    host = settings.server.host
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{settings.server.port}"


def service_is_up(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def admin_key_for_cli(settings: Settings) -> str:
    if settings.api.admin_api_key is not None:
        return settings.api.admin_api_key.get_secret_value()
    path = settings.api.admin_key_file
    if path.is_file():
        return path.read_text().strip()
    raise HandoffError(
        f"the service is running but no admin key is configured and {path} does not exist; "
        "set api.admin_api_key (RAGSVC_API__ADMIN_API_KEY) to the service's key"
    )


def call_service(
    url: str, key: str, body: dict[str, Any] | None = None, method: str | None = None
) -> dict[str, Any]:
    """One admin call to the running service: POST with ``body``, else GET (or ``method``)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url,
        data=data,
        method=method or ("POST" if data else "GET"),
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise HandoffError(f"the service answered {exc.code}: {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise HandoffError(f"lost the service at {url}: {exc}") from exc


def run_remote(
    settings: Settings,
    paths: list[Path],
    prune: bool,
    progress: Callable[[str, int, int], None],
) -> IngestReport:
    """Run the job inside the service; returns its report once the job has finished."""
    base = service_url(settings)
    key = admin_key_for_cli(settings)
    absolute = [str(p.expanduser().resolve()) for p in paths]
    job = call_service(f"{base}/v1/ingest", key, {"paths": absolute, "prune": prune})
    return report_from_dict(follow_job(base, key, job, progress))


def run_remote_reindex(
    settings: Settings, progress: Callable[[str, int, int], None]
) -> dict[str, Any]:
    """Run a re-index inside the service (``POST /v1/reindex``); its report once finished."""
    base = service_url(settings)
    key = admin_key_for_cli(settings)
    return follow_job(base, key, call_service(f"{base}/v1/reindex", key, {}), progress)


def follow_job(
    base: str, key: str, job: dict[str, Any], progress: Callable[[str, int, int], None]
) -> dict[str, Any]:
    """Poll the service's ``job`` until it has finished; its report."""
    while job["status"] in ("queued", "running"):
        time.sleep(_POLL_S)
        job = call_service(f"{base}/v1/ingest/{job['job_id']}", key)
        progress(job["current"], job["files_done"], max(job["files_total"], 1))
    if job["status"] != "succeeded" or job["report"] is None:
        raise HandoffError(f"the service's {job['kind']} job failed: {job.get('error')}")
    report: dict[str, Any] = job["report"]
    return report


def report_from_dict(data: dict[str, Any]) -> IngestReport:
    return IngestReport(
        added=list(data["added"]),
        updated=list(data["updated"]),
        unchanged=list(data["unchanged"]),
        failed=[FileProblem(**p) for p in data["failed"]],
        warnings=[FileProblem(**p) for p in data["warnings"]],
        pruned=list(data["pruned"]),
        chunks_written=int(data["chunks_written"]),
        staged_removed=int(data["staged_removed"]),
        repaired=list(data["repaired"]),
        seconds=float(data["seconds"]),
    )
