"use strict";
// Calls the JS actor of actor_server.js with @dapr/dapr's ActorProxyBuilder:
//   node actor_client.js <scenario> <http|grpc>
// The sidecar is found the SDK's default way (DAPR_HTTP_PORT / DAPR_GRPC_PORT on 127.0.0.1); the
// actor id comes in $JS_CONFIG ({"id": ...}). Prints one line `RESULT <json>` with what each call
// returned ({ok: value}) or raised ({err: {name, message}}).
const { ActorId, ActorProxyBuilder, CommunicationProtocolEnum, DaprClient, LogLevel } = require("@dapr/dapr");

const [scenario, protocolName] = process.argv.slice(2);
const cfg = JSON.parse(process.env.JS_CONFIG || "{}");
const protocol = protocolName === "grpc" ? CommunicationProtocolEnum.GRPC : CommunicationProtocolEnum.HTTP;

// The proxy takes the actor type's name from a class; the client needs no implementation.
class CounterActor {}

async function attempt(fn) {
  try {
    const value = await fn();
    return { ok: value === undefined ? null : value };
  } catch (err) {
    return { err: { name: err?.name ?? null, message: String(err?.message ?? err) } };
  }
}

const scenarios = {
  // Method calls with arguments, state kept by the actor between calls, an error.
  async calls(actor) {
    return {
      first: await attempt(() => actor.add(2)),
      second: await attempt(() => actor.add(3)),
      get: await attempt(() => actor.get()),
      whoami: await attempt(() => actor.whoami()),
      fail: await attempt(() => actor.fail()),
    };
  },
  // Calls without arguments. (Over gRPC, InvokeActor carries no content type, and daprd sends the
  // app none either, so @dapr/dapr's express server hands an actor method {} instead of its
  // arguments: an argument sent by the gRPC proxy does not reach an HTTP DaprServer actor.)
  async reads(actor) {
    return {
      get: await attempt(() => actor.get()),
      whoami: await attempt(() => actor.whoami()),
      fail: await attempt(() => actor.fail()),
    };
  },
  async startTicking(actor) {
    return { start: await attempt(() => actor.startTicking(`tick-${protocolName}`)) };
  },
  async stopTicking(actor) {
    return { stop: await attempt(() => actor.stopTicking()) };
  },
  async remindMe(actor) {
    return { remind: await attempt(() => actor.remindMe(`nudge-${protocolName}`)) };
  },
  async forget(actor) {
    return { forget: await attempt(() => actor.forget()) };
  },
};

async function main() {
  const port = protocol === CommunicationProtocolEnum.GRPC ? process.env.DAPR_GRPC_PORT : process.env.DAPR_HTTP_PORT;
  const client = new DaprClient({
    daprHost: "127.0.0.1",
    daprPort: port,
    communicationProtocol: protocol,
    logger: { level: LogLevel.Error },
  });
  const actor = new ActorProxyBuilder(CounterActor, client).build(new ActorId(cfg.id));
  const result = await scenarios[scenario](actor);
  console.log("RESULT " + JSON.stringify(result));
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
