"use strict";
// A DaprServer app for the end-to-end tests, run under `pydapr run`: invocation handlers, pub/sub
// subscribers (plain, routed with CEL rules, bulk) and input bindings. Every delivery is appended as
// one JSON line to $RECORD so the test can read what the app was given. The protocol comes from
// $APP_PROTOCOL and the ports from the variables `pydapr run` sets (APP_PORT, DAPR_HTTP_PORT,
// DAPR_GRPC_PORT), as the SDK reads them by default.
const fs = require("fs");
const {
  DaprServer,
  CommunicationProtocolEnum,
  DaprPubSubStatusEnum,
  HttpMethod,
  LogLevel,
} = require("@dapr/dapr");

const protocolName = process.env.APP_PROTOCOL === "grpc" ? "grpc" : "http";
const protocol = protocolName === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;
const topics = JSON.parse(process.env.JS_TOPICS);
const app = process.env.APP_ID;

function record(kind, fields) {
  fs.appendFileSync(process.env.RECORD, JSON.stringify({ app, protocol: protocolName, kind, ...fields }) + "\n");
}

// What the app sees of one pub/sub delivery; header names are lower case on both protocols.
function delivery(topic, route, data, headers) {
  return { topic, route, data, contentType: (headers || {})["content-type"] ?? null };
}

async function main() {
  const server = new DaprServer({ communicationProtocol: protocol, logger: { level: LogLevel.Warn } });

  for (const verb of [HttpMethod.GET, HttpMethod.POST, HttpMethod.PUT, HttpMethod.DELETE, HttpMethod.PATCH]) {
    await server.invoker.listen(
      "echo",
      async (req) => ({
        app,
        protocol: protocolName,
        verb,
        body: req.body,
        query: req.query ?? null,
        contentType: req.metadata?.contentType ?? null,
        header: req.headers?.["x-js-e2e"] ?? null,
      }),
      { method: verb },
    );
  }

  await server.pubsub.subscribe("pubsub", topics.plain, async (data, headers) => {
    record("event", delivery(topics.plain, "default", data, headers));
  });
  // A raw-payload subscription: the sidecar wraps messages that are not CloudEvents.
  await server.pubsub.subscribe(
    "pubsub",
    topics.raw,
    async (data, headers) => record("event", delivery(topics.raw, "default", data, headers)),
    "",
    { rawPayload: true },
  );
  // The handler's answers: RETRY once then SUCCESS, or DROP, which the sidecar sends to this app's
  // dead-letter topic (the SDK routes it, but the app subscribes to that topic itself).
  const attempts = {};
  const deadTopic = `${topics.dead}-${protocolName}`;
  await server.pubsub.subscribeWithOptions("pubsub", topics.answers, {
    deadLetterTopic: deadTopic,
    callback: async (data, headers) => {
      attempts[data.id] = (attempts[data.id] ?? 0) + 1;
      record("answer", { ...delivery(topics.answers, "default", data, headers), attempt: attempts[data.id] });
      if (data.answer === "retry-once" && attempts[data.id] === 1) return DaprPubSubStatusEnum.RETRY;
      if (data.answer === "drop") return DaprPubSubStatusEnum.DROP;
      return DaprPubSubStatusEnum.SUCCESS;
    },
  });
  await server.pubsub.subscribe("pubsub", deadTopic, async (data, headers) => {
    record("dead", delivery(deadTopic, "default", data, headers));
  });
  // Routing rules are CEL evaluated by the sidecar; each route has its own handler.
  await server.pubsub.subscribeWithOptions("pubsub", topics.routed, {
    route: {
      rules: [
        { match: 'event.type == "js.big"', path: "big" },
        { match: 'event.data.kind == "gift"', path: "gifts" },
      ],
      default: "others",
    },
  });
  for (const route of ["big", "gifts", "others"]) {
    server.pubsub.subscribeToRoute("pubsub", topics.routed, route, async (data, headers) =>
      record("event", delivery(topics.routed, route, data, headers)),
    );
  }
  await server.pubsub.subscribeBulk(
    "pubsub",
    topics.bulk,
    async (data, headers) => record("bulk", delivery(topics.bulk, "default", data, headers)),
    { maxMessagesCount: 10, maxAwaitDurationMs: 200 },
  );

  await server.binding.receive("cron", async (data) => record("cron", { data: data ?? null }));
  await server.binding.receive("mqtt-in", async (data) => record("mqtt", { data }));

  await server.start();
  console.log(`JS SERVER READY ${app} ${protocolName}`);
}

main().catch((err) => {
  console.error("JS SERVER FAILED", err);
  process.exit(1);
});
