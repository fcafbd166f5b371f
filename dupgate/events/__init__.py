"""The audit trail (also the webhook outbox), and decision notifications for long-polls."""
