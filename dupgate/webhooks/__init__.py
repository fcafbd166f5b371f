"""Webhooks: a tenant's endpoints, where they may point, signing, and delivery from the outbox."""
