"""``middleware.http.routerchecker``: refuses requests whose path and query do not match ``rule``.

As components-contrib's: the regex ``rule`` is searched (unanchored, as Go's ``MatchString``) in the
request URI — the escaped path, plus ``?`` and the raw query when there is one. No match → 400
``invalid router`` (text/plain). An empty or absent rule matches everything. The rule is compiled
with Python's ``re`` in ASCII mode (Go's ``\\d``, ``\\w``, ``\\s`` are ASCII); Go's ``\\z`` is read
as end of text. RE2-only syntax (``[[:alpha:]]``, ``\\pL``) is refused at init.
"""

from __future__ import annotations

import re

from pydapr.components.base import ComponentConfigError, ComponentMetadata
from pydapr.http.messages import Request, Response
from pydapr.middleware._gourl import escaped_path
from pydapr.middleware.contract import Handler, HttpMiddleware, Middleware, text_response

REJECTION = "invalid router"


def _from_go(rule: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(rule):
        if rule[i] == "\\" and i + 1 < len(rule):
            pair = rule[i : i + 2]
            out.append(r"\Z" if pair == r"\z" else pair)
            i += 2
        else:
            out.append(rule[i])
            i += 1
    return "".join(out)


def request_uri(req: Request) -> str:
    """components-contrib's ``httputils.RequestURI``."""
    uri = escaped_path(req.path) or "/"
    return f"{uri}?{req.query}" if req.query else uri


class RouterCheckerMiddleware(HttpMiddleware):
    async def init(self, metadata: ComponentMetadata) -> None:
        await super().init(metadata)
        rule = metadata.get("rule") or ""
        try:
            self.rule = re.compile(_from_go(rule), re.ASCII)
        except re.error as exc:
            raise ComponentConfigError(
                metadata.name, "rule", f"failed to compile rule regexp: {exc}"
            ) from None

    def handler(self) -> Middleware:
        rule = self.rule

        async def check_route(req: Request, call_next: Handler) -> Response:
            if rule.search(request_uri(req)) is None:
                return text_response(400, REJECTION)
            return await call_next(req)

        return check_route
