"""A gRPC subscriber written with the official SDK (``dapr.ext.grpc.App``): ListTopicSubscriptions,
OnTopicEvent and OnBulkTopicEvent. Every event is appended as one JSON line to ``RECORD``; the
event's ``answer`` says how the handler replies (``raise-once``, ``retry-once``, ``drop``)."""

import json
import os
import sys
from typing import Any

from dapr.ext.grpc import App, Rule, SubscriptionMessage, TopicEventResponse

TOPICS = json.loads(os.environ["TOPICS"])
RECORD = os.environ["RECORD"]

app = App()
seen: dict[str, int] = {}


def record(route: str, event: Any) -> int:
    key = f"{route}:{event.id()}"
    seen[key] = seen.get(key, 0) + 1
    line = {
        "app": "grpc",
        "route": route,
        "n": seen[key],
        "event": {
            "id": event.id(),
            "type": event.type(),
            "topic": event.topic(),
            "pubsubname": event.pubsub_name(),
            "datacontenttype": event.data_content_type(),
            "data": event.data(),
        },
    }
    with open(RECORD, "a") as out:
        out.write(json.dumps(line) + "\n")
    return seen[key]


def answer_of(event: Any) -> str:
    data: Any = event.data()
    return str(data.get("answer", "")) if isinstance(data, dict) else ""


@app.subscribe(pubsub_name="sqlite", topic=TOPICS["grpc"], dead_letter_topic=TOPICS["grpc-dead"])  # type: ignore[untyped-decorator]
def grpc_events(event: SubscriptionMessage) -> TopicEventResponse | None:
    n = record("grpc", event)
    answer = answer_of(event)
    if answer == "raise-once" and n == 1:
        raise ValueError("the handler failed on purpose")
    if answer == "retry-once" and n == 1:
        return TopicEventResponse("retry")
    if answer == "drop":
        return TopicEventResponse("drop")
    return TopicEventResponse("success")


@app.subscribe(pubsub_name="sqlite", topic=TOPICS["grpc-dead"])  # type: ignore[untyped-decorator]
def grpc_dead(event: SubscriptionMessage) -> None:
    record("grpc-dead", event)


@app.subscribe(pubsub_name="sqlite", topic=TOPICS["grpc-routed"], rule=Rule('event.type == "important"', 1))  # type: ignore[untyped-decorator]
def important(event: SubscriptionMessage) -> None:
    record("important", event)


@app.subscribe(pubsub_name="sqlite", topic=TOPICS["grpc-bulk"])  # type: ignore[untyped-decorator]
def grpc_bulk(event: SubscriptionMessage) -> TopicEventResponse | None:
    n = record("grpc-bulk", event)
    if answer_of(event) == "retry-once" and n == 1:
        return TopicEventResponse("retry")
    return TopicEventResponse("success")


# The SDK's App has no bulkSubscribe option: switch it on in the subscription the app lists.
for listed in app._servicer._registered_topics:
    if listed.topic == TOPICS["grpc-bulk"]:
        listed.bulk_subscribe.enabled = True
        listed.bulk_subscribe.max_messages_count = 5
        listed.bulk_subscribe.max_await_duration_ms = 300

if __name__ == "__main__":
    app.run(int(sys.argv[1]))
