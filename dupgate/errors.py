"""Errors every part of the domain shares (no HTTP here: the gateway maps them to answers)."""


class NotFound(LookupError):
    """Nothing by that id that the caller may see: another tenant's things are not found either.

    `code` is the stable name programs see; the message says what was not found.
    """

    code = "not_found"
