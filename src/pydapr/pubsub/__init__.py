"""Publish/subscribe: the building block, its component contract and the brokers it ships with.

``pubsub.pydapr-sqlite`` is pydapr's own embedded durable broker (one SQLite file, survives restarts),
used by the local default resources; the other types are Dapr's names.
"""

from __future__ import annotations

REGISTRY: dict[tuple[str, str], str] = {
    ("pubsub.in-memory", "v1"): "pydapr.pubsub.memory:InMemoryPubSub",
    ("pubsub.pydapr-sqlite", "v1"): "pydapr.pubsub.sqlite:SQLitePubSub",
    ("pubsub.redis", "v1"): "pydapr.pubsub.redis:RedisPubSub",
    ("pubsub.rabbitmq", "v1"): "pydapr.pubsub.rabbitmq:RabbitMQPubSub",
    ("pubsub.mqtt3", "v1"): "pydapr.pubsub.mqtt3:MQTTPubSub",
    ("pubsub.mqtt", "v1"): "pydapr.pubsub.mqtt3:MQTTPubSub",
    ("pubsub.jetstream", "v1"): "pydapr.pubsub.jetstream:JetStreamPubSub",
    ("pubsub.kafka", "v1"): "pydapr.pubsub.kafka:KafkaPubSub",
}
