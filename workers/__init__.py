"""Celery app and tasks: thin wrappers that load by id and call the domain in dupgate/."""

# The queues a worker consumes unless told otherwise (`dupgate worker --queues`): uploads run
# on Celery's default queue, webhook deliveries and scans on their own (routes in workers/app.py).
QUEUES = ("celery", "webhooks", "scans")
