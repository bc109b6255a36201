"""Name resolution: from an app id to the address of one of its sidecars.

Pluggable through the Configuration's ``nameResolution`` section, as in Dapr. The local default
needs no setup: every sidecar on the machine registers itself in a folder under the pydapr home.
"""

from pydapr.nameresolution.base import Address, NameResolver, ResolveError, create_resolver

__all__ = ["Address", "NameResolver", "ResolveError", "create_resolver"]
