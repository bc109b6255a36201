"""Actor placement: the service that decides which sidecar hosts each actor id, and its client."""
