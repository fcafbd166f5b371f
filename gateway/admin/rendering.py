"""How the console answers: pages rendered from its templates, errors as pages, redirects."""

import secrets
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dupgate.gateway.admin.session import CSRF_FIELD, Admin

_TEMPLATES = Environment(
    loader=PackageLoader("dupgate.gateway.admin"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
)


def render(
    request: Request,
    template: str,
    admin: Admin | None,
    *,
    status: int = 200,
    title: str,
    **context: Any,
) -> HTMLResponse:
    """A console page. Inline style and script run only with this response's nonce."""
    nonce = secrets.token_urlsafe(16)
    html = _TEMPLATES.get_template(template).render(
        title=title,
        admin=admin,
        csrf=admin.csrf if admin else context.pop("csrf", ""),
        csrf_field=CSRF_FIELD,
        nonce=nonce,
        path=request.url.path,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=security_headers(nonce))


def security_headers(nonce: str) -> dict[str, str]:
    """No caching of admin pages, no framing, nothing run or loaded from elsewhere."""
    return {
        "Cache-Control": "no-store",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Content-Security-Policy": (
            f"default-src 'self'; img-src 'self'; style-src 'nonce-{nonce}'; "
            f"script-src 'nonce-{nonce}'; form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"
        ),
    }


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    """An error as a console page (the JSON API answers the same errors as JSON)."""
    titles = {403: "Refused", 404: "Not found", 409: "Not possible now", 422: "Not accepted"}
    return render(
        request,
        "error.html",
        None,
        status=status,
        title=titles.get(status, "Error"),
        status_code=status,
        message=message,
    )


def see(path: str, **query: str | None) -> RedirectResponse:
    """After a POST: the page that shows what it did (303, so reloading does not repeat it)."""
    shown = {k: v for k, v in query.items() if v is not None}
    return RedirectResponse(path + (f"?{urlencode(shown)}" if shown else ""), status_code=303)
