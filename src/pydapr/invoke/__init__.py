"""Service invocation: app to app through the sidecars, HTTPEndpoints and full URLs."""
