"""Celery app and tasks: thin wrappers that load by id and call the domain in dupgate/."""

# The queues a worker consumes unless told otherwise (`dupgate worker --queues`): uploads run
# on Celery's default queue, webhook deliveries, scans and the gateway's analyses (/check,
# blocked files: a person waits for them) on their own (routes in workers/app.py).
QUEUES = ("celery", "webhooks", "scans", "analyses")
