"""``pydapr dashboard``: a live web page of the apps, sidecars and control plane running on this machine.

Its own process (``pydapr dashboard``) serves server-rendered HTML; htmx (vendored under ``static/``)
polls one fragment every two seconds. Each refresh discovers the running sidecars
(``pydapr.cli.instances``), asks each of them at once, with short timeouts, for its health, jobs and
workflows, and probes the control plane's services. See docs/dashboard.md.
"""
