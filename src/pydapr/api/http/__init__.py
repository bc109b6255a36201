"""The Dapr HTTP API: routes to building-block APIs, no logic of its own."""
