"""The ``pydapr`` command line: run, sidecar, init and the control-plane services."""
