"""What an operator watches: /metrics for the whole deployment, health, and JSON logs that
follow one upload from the gateway to the worker."""

import json
from functools import partial

from prometheus_client.parser import text_string_to_metric_families

from dupgate.services import get_services
from dupgate.store.db import session_scope
from dupgate.uploads.pipeline import run_upload
from tests.conftest import photo
from tests.receiver import SECRET
from tests.servers import Server, running_server

# (metric sample name, labels) -> value, as a Prometheus server would store a scrape.
Scrape = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(server: Server) -> Scrape:
    r = server.client.get("/metrics", headers={"Authorization": ""})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(r.text)
        for sample in family.samples
    }


def value(scraped: Scrape, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def work_off(server: Server, upload_id: str) -> None:
    """What a worker does with the upload's task, run here (the app in this process has none)."""
    services = get_services()
    run_upload(
        partial(session_scope, services.database_url),
        services.store,
        lambda: services.embedder,
        services.registry,
        upload_id,
        max_attempts=3,
        max_pixels=services.settings.max_pixels,
    )


def test_metrics_count_uploads_queues_deliveries_and_scans_of_the_deployment(api: Server) -> None:
    r = api.client.post(
        "/v1/webhooks",
        json={"url": "http://127.0.0.1:9/", "secret": SECRET, "events": ["collection.*"]},
    )
    assert r.status_code == 201, r.text
    api.put_collection("shop")  # collection.created: one delivery, pending (no worker sends it)
    content = photo("n01440764").read_bytes()
    first, copy = api.upload("shop", content), api.upload("shop", content)

    waiting = scrape(api)
    assert value(waiting, "dupgate_uploads", status="queued", outcome="", tier="") == 2
    assert value(waiting, "dupgate_queue_messages", queue="celery") == 2
    assert value(waiting, "dupgate_broker_up") == 1
    assert value(waiting, "dupgate_decision_latency_seconds_count") == 0

    work_off(api, first)
    work_off(api, copy)
    scan = api.client.post("/v1/collections/shop/scans", json={})
    assert scan.status_code == 202, scan.text
    scan_id = scan.json()["scan_id"]

    scraped = scrape(api)
    decided = partial(value, scraped, "dupgate_uploads", status="decided")
    assert decided(outcome="accepted", tier="unique") == 1
    assert decided(outcome="rejected", tier="exact") == 1
    assert value(scraped, "dupgate_uploads", status="queued", outcome="", tier="") is None
    # Both decisions are in the histogram; only the first analysed the bytes (the copy reused
    # the analysis of identical bytes).
    assert value(scraped, "dupgate_decision_latency_seconds_count") == 2
    assert value(scraped, "dupgate_decision_latency_seconds_bucket", le="+Inf") == 2
    assert value(scraped, "dupgate_analysis_latency_seconds_count") == 1
    assert (value(scraped, "dupgate_analysis_latency_seconds_sum") or 0) > 0
    assert value(scraped, "dupgate_webhook_deliveries", status="pending") == 1
    assert value(scraped, "dupgate_webhook_deliveries", status="dead") == 0
    assert value(scraped, "dupgate_scans", status="queued") == 1
    assert value(scraped, "dupgate_scan_images_done", scan=scan_id) == 0
    assert value(scraped, "dupgate_queue_messages", queue="scans") == 1


def test_health_readiness_and_metrics_need_no_key(api: Server) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        r = api.client.get(path, headers={"Authorization": ""})
        assert r.status_code == 200, (path, r.text)
    ready = api.client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert set(ready["checks"]) == {"database", "broker", "storage"}


def test_json_logs_follow_an_upload_from_the_gateway_to_the_worker() -> None:
    with running_server("sqlite", DUPGATE_LOG_FORMAT="json") as server:
        server.put_collection("logged")
        upload_id = server.upload("logged", photo("n01440764").read_bytes())
        assert server.decided(upload_id)["status"] == "decided"
        assert server.log is not None
        lines = [
            json.loads(line) for line in server.log.read_text().splitlines() if line.startswith("{")
        ]
    about = [line for line in lines if line.get("upload_id") == upload_id]
    loggers = {line["logger"] for line in about}
    assert "dupgate.gateway.routes.uploads" in loggers, lines
    assert "dupgate.uploads.pipeline" in loggers, lines
    for line in about:
        assert {"time", "level", "logger", "message"} <= set(line)
    decided = next(line for line in about if line["logger"] == "dupgate.uploads.pipeline")
    assert decided["level"] == "INFO" and "decided" in decided["message"]
