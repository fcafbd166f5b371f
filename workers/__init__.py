"""Celery app and tasks: thin wrappers that load by id and call the domain in dupgate/."""
