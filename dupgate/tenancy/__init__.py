"""Tenancy: callers and their keys, collections and their policies, and every visibility rule."""
