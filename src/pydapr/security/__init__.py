"""Security: workload identities (SPIFFE X.509 SVIDs from Sentry), mTLS between sidecars and to the
control plane, access control by verified identity, and the API tokens."""
