"""Dapr's metrics of the building blocks that act on their own: resiliency policies, actors, jobs
and workflows (dapr/dapr pkg/diagnostics), with daprd's names, labels and buckets.

Each block is handed a recorder (``ActorMetrics``, ``JobMetrics``, ``WorkflowMetrics``,
``SidecarResiliencyMetrics``) bound to the sidecar's app id and namespace, or None when the
Configuration's ``spec.metric.enabled`` is false: a disabled sidecar then records nothing and
pays one ``is None`` test where a block would record.
"""
