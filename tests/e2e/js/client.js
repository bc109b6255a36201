"use strict";
// The JS SDK's DaprClient, driven through one scenario per building block:
//   node client.js <scenario> <http|grpc>
// The sidecar is found the SDK's default way (DAPR_HTTP_PORT / DAPR_GRPC_PORT on 127.0.0.1); the
// test's names (app ids, topics, keys) come as JSON in $JS_CONFIG. The scenario prints one line
// `RESULT <json>` with what a JS user sees: return values, and errors as the SDK raises them.
const net = require("net");
const {
  DaprClient,
  CommunicationProtocolEnum,
  HttpMethod,
  LogLevel,
  StateConcurrencyEnum,
} = require("@dapr/dapr");

const [scenario, protocolName] = process.argv.slice(2);
const cfg = JSON.parse(process.env.JS_CONFIG || "{}");
const protocol = protocolName === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;

// gRPC status names by code, for ConnectError.code.
const GRPC_CODES = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
  "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
  "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];

// An SDK error as data. The HTTP client throws Error(JSON{error, error_msg, status}) and some calls
// return or throw it wrapped as {error}; the gRPC client throws connect's ConnectError.
function describe(err) {
  if (err && !(err instanceof Error) && err.error !== undefined) err = err.error;
  const out = { name: err?.name ?? null, message: String(err?.message ?? err) };
  try {
    const parsed = JSON.parse(err.message);
    out.status = parsed.status ?? null;
    out.error = parsed.error ?? null;
    try {
      out.body = JSON.parse(parsed.error_msg);
    } catch {
      out.body = parsed.error_msg ?? null;
    }
  } catch {
    // not the HTTP client's JSON message
  }
  if (typeof err?.code === "number") {
    out.code = GRPC_CODES[err.code] ?? err.code;
    out.rawMessage = err.rawMessage ?? null;
  }
  return out;
}

// Runs a call and reports {ok: value} or {err: description}; a call may also *return* {error}.
async function attempt(fn) {
  try {
    const value = await fn();
    if (value && typeof value === "object" && value.error !== undefined) return { err: describe(value.error) };
    return { ok: value === undefined ? null : value };
  } catch (err) {
    return { err: describe(err) };
  }
}

function decode(bytes) {
  if (bytes === undefined || bytes === null) return null;
  if (!(bytes instanceof Uint8Array)) return bytes; // already decoded (the HTTP client parses JSON)
  const text = Buffer.from(bytes).toString("utf-8");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// The gRPC client returns binding data as bytes; the HTTP client returns the parsed body.
function bindingData(result) {
  if (result && typeof result === "object" && "ok" in result && protocolName === "grpc" && result.ok) {
    return { ok: { data: decode(result.ok.data), metadata: result.ok.metadata } };
  }
  return result;
}

// SET key value on Redis, spoken directly (the SDK has no configuration writes).
function redisSet(key, value) {
  const args = ["SET", key, value];
  const frame = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
  return new Promise((resolve, reject) => {
    const socket = net.connect(6379, "127.0.0.1", () => socket.write(frame));
    socket.once("data", (reply) => {
      socket.end();
      reply.toString().startsWith("+OK") ? resolve() : reject(new Error(reply.toString()));
    });
    socket.once("error", reject);
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const scenarios = {
  async invoke(client) {
    const out = {};
    for (const target of cfg.apps) {
      const call = (method, verb, data, options) => attempt(() => client.invoker.invoke(target, method, verb, data, options));
      out[target] = {
        post: await call("echo", HttpMethod.POST, { hello: "js", n: 1 }),
        text: await call("echo", HttpMethod.POST, "plain words"),
        put: await call("echo", HttpMethod.PUT, { n: 2 }),
        patch: await call("echo", HttpMethod.PATCH, { n: 3 }),
        get: await call("echo", HttpMethod.GET),
        delete: await call("echo", HttpMethod.DELETE),
        missing: await call("no-such-method", HttpMethod.POST, { n: 4 }),
      };
      if (protocolName === "http") {
        // Query string and headers are the HTTP client's (the gRPC client takes neither).
        out[target].query = await call("echo?color=blue&size=2", HttpMethod.GET, undefined, { headers: { "x-js-e2e": "from-js" } });
      }
    }
    out.unknownApp = await attempt(() => client.invoker.invoke(cfg.unknownApp, "echo", HttpMethod.POST, { n: 5 }));
    return out;
  },

  async state(client) {
    const store = "statestore";
    const k = (name) => `${cfg.prefix}-${name}`;
    const out = {};
    out.save = await attempt(() =>
      client.state.save(store, [
        { key: k("a"), value: { name: "js", n: 1 } },
        { key: k("b"), value: "plain text" },
      ]),
    );
    out.getA = await attempt(() => client.state.get(store, k("a")));
    out.getB = await attempt(() => client.state.get(store, k("b")));
    out.getMissing = await attempt(() => client.state.get(store, k("missing")));
    const bulk = await attempt(() => client.state.getBulk(store, [k("a"), k("b"), k("missing")]));
    out.bulk = bulk;
    const etagA = bulk.ok?.find((item) => item.key === k("a"))?.etag;
    out.etagA = etagA ?? null;
    out.saveWrongEtag = await attempt(() =>
      client.state.save(store, [{ key: k("a"), value: { n: 2 }, etag: "987654321", options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE } }]),
    );
    out.afterWrongEtag = await attempt(() => client.state.get(store, k("a")));
    out.saveRightEtag = await attempt(() =>
      client.state.save(store, [{ key: k("a"), value: { n: 3 }, etag: etagA, options: { concurrency: StateConcurrencyEnum.CONCURRENCY_FIRST_WRITE } }]),
    );
    out.afterRightEtag = await attempt(() => client.state.get(store, k("a")));
    out.deleteWrongEtag = await attempt(() => client.state.delete(store, k("a"), { etag: "987654321" }));
    out.deleteB = await attempt(() => client.state.delete(store, k("b")));
    out.afterDeleteB = await attempt(() => client.state.get(store, k("b")));
    out.transaction = await attempt(() =>
      client.state.transaction(store, [
        { operation: "upsert", request: { key: k("c"), value: "from-transaction" } },
        { operation: "delete", request: { key: k("a") } },
      ]),
    );
    out.afterTransaction = {
      a: await attempt(() => client.state.get(store, k("a"))),
      c: await attempt(() => client.state.get(store, k("c"))),
    };
    out.unknownStore = await attempt(() => client.state.get("no-such-store", k("a")));
    // A value near the 4 MB default body limit of both the SDK and the sidecar.
    const large = "x".repeat(3 * 1024 * 1024);
    out.saveLarge = await attempt(() => client.state.save(store, [{ key: k("large"), value: large }]));
    const gotLarge = await attempt(() => client.state.get(store, k("large")));
    out.large = gotLarge.ok === undefined ? gotLarge : { ok: { length: gotLarge.ok.length, same: gotLarge.ok === large } };
    // TTL as request metadata: the HTTP client sends it as metadata.ttlInSeconds on the query.
    out.saveTtl = await attempt(() => client.state.save(store, [{ key: k("ttl"), value: "short-lived" }], { metadata: { ttlInSeconds: "1" } }));
    out.ttlBefore = await attempt(() => client.state.get(store, k("ttl")));
    await sleep(2100);
    out.ttlAfter = await attempt(() => client.state.get(store, k("ttl")));
    return out;
  },

  // The state query API (alpha) on the embedded SQLite store.
  async query(client) {
    const store = "querystore";
    const k = (name) => `${cfg.prefix}-${name}`;
    const cities = [["p1", "Paris", 1], ["p2", "Paris", 3], ["p3", "Paris", 2], ["l1", "London", 5]];
    const out = {};
    out.save = await attempt(() =>
      client.state.save(store, cities.map(([key, city, n]) => ({ key: k(key), value: { city, n, run: cfg.prefix } }))),
    );
    const run = (query) =>
      attempt(async () => {
        const res = await client.state.query(store, query);
        // The gRPC client hands back data as bytes.
        return { token: res.token ?? null, results: res.results.map((r) => ({ key: r.key, data: decode(r.data), etag: r.etag })) };
      });
    out.paris = await run({
      filter: { AND: [{ EQ: { run: cfg.prefix } }, { EQ: { city: "Paris" } }] },
      sort: [{ key: "n", order: "DESC" }],
    });
    out.firstPage = await run({ filter: { EQ: { run: cfg.prefix } }, sort: [{ key: "n" }], page: { limit: 2 } });
    if (out.firstPage.ok?.token) {
      out.secondPage = await run({ filter: { EQ: { run: cfg.prefix } }, sort: [{ key: "n" }], page: { limit: 2, token: out.firstPage.ok.token } });
    }
    out.badQuery = await run({ filter: { NOPE: { city: "Paris" } } });
    return out;
  },

  async pubsub(client) {
    const id = (name) => `${protocolName}-${name}`;
    const out = {};
    out.json = await attempt(() => client.pubsub.publish("pubsub", cfg.topics.plain, { id: id("json"), kind: "order", n: 1 }));
    out.text = await attempt(() => client.pubsub.publish("pubsub", cfg.topics.plain, `text ${id("text")}`));
    // The SDK sends an object with the CloudEvent attributes as application/cloudevents+json.
    out.cloudEvent = await attempt(() =>
      client.pubsub.publish("pubsub", cfg.topics.plain, {
        specversion: "1.0",
        id: id("ce"),
        source: "js-e2e",
        type: "js.custom",
        datacontenttype: "application/json",
        data: { id: id("ce"), kind: "custom" },
      }),
    );
    out.raw = await attempt(() =>
      client.pubsub.publish("pubsub", cfg.topics.raw, { id: id("raw") }, { metadata: { rawPayload: "true" } }),
    );
    out.gift = await attempt(() => client.pubsub.publish("pubsub", cfg.topics.routed, { id: id("gift"), kind: "gift" }));
    out.other = await attempt(() => client.pubsub.publish("pubsub", cfg.topics.routed, { id: id("other"), kind: "book" }));
    // CloudEvent attributes set through publish metadata, seen by the routing rules.
    out.typed = await attempt(() =>
      client.pubsub.publish("pubsub", cfg.topics.routed, { id: id("typed"), kind: "book" }, { metadata: { "cloudevent.type": "js.big" } }),
    );
    out.bulk = await attempt(() =>
      client.pubsub.publishBulk("pubsub", cfg.topics.bulk, [
        { id: id("bulk-1") },
        { id: id("bulk-2") },
        { entryID: "entry-3", event: { id: id("bulk-3") }, contentType: "application/json" },
        `bulk text ${id("bulk-4")}`,
      ]),
    );
    out.unknownPubsub = await attempt(() => client.pubsub.publish("no-such-pubsub", cfg.topics.plain, { id: id("lost") }));
    return out;
  },

  // Events for the subscribers' RETRY / DROP / SUCCESS answers.
  async answers(client) {
    const out = {};
    for (const answer of ["retry-once", "drop", "success"]) {
      const id = `${protocolName}-${answer}`;
      out[answer] = await attempt(() => client.pubsub.publish("pubsub", cfg.topics.answers, { id, answer }));
    }
    return out;
  },

  async binding(client) {
    const file = `${cfg.prefix}.json`;
    const out = {};
    out.create = bindingData(await attempt(() => client.binding.send("files", "create", { hello: "file", via: protocolName }, { fileName: file })));
    out.get = bindingData(await attempt(() => client.binding.send("files", "get", undefined, { fileName: file })));
    out.list = bindingData(await attempt(() => client.binding.send("files", "list")));
    out.delete = bindingData(await attempt(() => client.binding.send("files", "delete", undefined, { fileName: file })));
    out.getDeleted = bindingData(await attempt(() => client.binding.send("files", "get", undefined, { fileName: file })));
    out.mqtt = bindingData(await attempt(() => client.binding.send("mqtt-out", "create", { id: `${protocolName}-mqtt` })));
    out.unknownBinding = await attempt(() => client.binding.send("no-such-binding", "create", { n: 1 }));
    return out;
  },

  async secret(client) {
    return {
      get: await attempt(() => client.secret.get("localsecrets", "db-password")),
      nested: await attempt(() => client.secret.get("localsecrets", "nested:user")),
      bulk: await attempt(() => client.secret.getBulk("localsecrets")),
      missing: await attempt(() => client.secret.get("localsecrets", "no-such-secret")),
      unknownStore: await attempt(() => client.secret.get("no-such-store", "db-password")),
    };
  },

  async configuration(client) {
    const store = "configstore";
    const out = {};
    if (protocolName === "http") {
      // The SDK implements configuration over gRPC only; over HTTP it refuses before any request.
      out.get = await attempt(() => client.configuration.get(store, [cfg.keys.color]));
      return out;
    }
    out.get = await attempt(() => client.configuration.get(store, [cfg.keys.color, cfg.keys.size]));
    out.getMissing = await attempt(() => client.configuration.get(store, [cfg.keys.missing]));
    const updates = [];
    const subscription = await client.configuration.subscribeWithKeys(store, [cfg.keys.color], async (update) => {
      updates.push(update);
    });
    // The stream opens in the background: write until the update arrives.
    for (let i = 0; i < 50 && updates.length === 0; i++) {
      await redisSet(cfg.keys.color, `red||${10 + i}`);
      await sleep(200);
    }
    await subscription.stop();
    out.update = updates[0] ?? null;
    out.unknownStore = await attempt(() => client.configuration.get("no-such-store", [cfg.keys.color]));
    return out;
  },

  async lock(client) {
    const store = "lockstore";
    const resource = `${cfg.prefix}-resource`;
    return {
      lockA: await attempt(() => client.lock.lock(store, resource, "owner-a", 30)),
      lockB: await attempt(() => client.lock.lock(store, resource, "owner-b", 30)),
      unlockB: await attempt(() => client.lock.unlock(store, resource, "owner-b")),
      unlockA: await attempt(() => client.lock.unlock(store, resource, "owner-a")),
      unlockAgain: await attempt(() => client.lock.unlock(store, resource, "owner-a")),
      relockB: await attempt(() => client.lock.lock(store, resource, "owner-b", 30)),
      unlockRelocked: await attempt(() => client.lock.unlock(store, resource, "owner-b")),
      unknownStore: await attempt(() => client.lock.lock("no-such-store", resource, "owner-a", 30)),
    };
  },

  async metadata(client) {
    return {
      healthy: await client.health.isHealthy(),
      set: await attempt(() => client.metadata.set("js-e2e", `set-over-${protocolName}`)),
      get: await attempt(() => client.metadata.get()),
    };
  },

  // What an app started by `pydapr run -- node client.js smoke` does: reach its sidecar with the
  // SDK's defaults, save and read a value, and say who it is.
  // With DAPR_API_TOKEN set, the SDK sends it by default; a client with another token is refused.
  async smoke(client) {
    const key = `${cfg.prefix}-smoke`;
    await client.state.save("statestore", [{ key, value: { from: process.env.APP_ID } }]);
    const out = { appId: process.env.APP_ID, value: await client.state.get("statestore", key) };
    if (process.env.DAPR_API_TOKEN) {
      const intruder = new DaprClient({ communicationProtocol: protocol, daprApiToken: "not-the-token", logger: { level: LogLevel.Error } });
      // start() would poll the sidecar (refused too) for a minute before giving up: skip it.
      intruder.daprClient.setIsInitialized(true);
      out.wrongToken = await attempt(() => intruder.state.get("statestore", key));
    }
    return out;
  },
};

async function main() {
  const run = scenarios[scenario];
  if (!run) throw new Error(`unknown scenario ${scenario}`);
  const client = new DaprClient({ communicationProtocol: protocol, logger: { level: LogLevel.Error } });
  await client.start();
  const result = await run(client);
  console.log("RESULT " + JSON.stringify(result));
  await client.stop();
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error("JS CLIENT FAILED", err);
    process.exit(1);
  },
);
