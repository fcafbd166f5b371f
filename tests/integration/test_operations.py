"""What an operator watches: JSON logs that follow one upload from the gateway to the worker."""

import json

from tests.conftest import photo
from tests.servers import running_server


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
