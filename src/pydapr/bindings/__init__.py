"""The bindings building block: output bindings (the app calls out) and input bindings (events in)."""

from __future__ import annotations

# Dapr component type and version -> "module:Class", imported only when a component of that type loads.
REGISTRY: dict[tuple[str, str], str] = {
    ("bindings.cron", "v1"): "pydapr.bindings.cron:CronBinding",
    ("bindings.http", "v1"): "pydapr.bindings.http:HttpBinding",
    ("bindings.localstorage", "v1"): "pydapr.bindings.localstorage:LocalStorageBinding",
    ("bindings.postgresql", "v1"): "pydapr.bindings.postgres:PostgresBinding",
    ("bindings.postgres", "v1"): "pydapr.bindings.postgres:PostgresBinding",
    ("bindings.mysql", "v1"): "pydapr.bindings.mysql:MySQLBinding",
    ("bindings.redis", "v1"): "pydapr.bindings.redis:RedisBinding",
    ("bindings.rabbitmq", "v1"): "pydapr.bindings.rabbitmq:RabbitMQBinding",
    ("bindings.mqtt3", "v1"): "pydapr.bindings.mqtt3:MQTTBinding",
    ("bindings.mqtt", "v1"): "pydapr.bindings.mqtt3:MQTTBinding",
    ("bindings.smtp", "v1"): "pydapr.bindings.smtp:SMTPBinding",
}
