"""A small, fast HTTP/1.1 server and pooled client on asyncio protocols and httptools.

The hot paths (invocation, state, publish, actors) go through here; see docs/benchmarks.md for why
this is hand-built rather than aiohttp or uvicorn.
"""

from pydapr.http.messages import Headers, Request, Response

__all__ = ["Headers", "Request", "Response"]
