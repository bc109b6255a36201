"""pydapr: Dapr, the Distributed Application Runtime, written in Python."""

__version__ = "0.1.0"
# Reported in the metadata API's runtimeVersion; the Dapr release whose APIs pydapr follows.
DAPR_COMPAT_VERSION = "1.16.0"
