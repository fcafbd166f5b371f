"""What the API answers, one module per resource: Pydantic models built from domain objects, so
that the OpenAPI document describes every answer."""
