"use strict";
// A DaprServer app hosting one actor type written with @dapr/dapr's AbstractActor, for
// test_js_sdk_actors.py. The ports come from the variables the SDK reads by default (APP_PORT,
// DAPR_HTTP_PORT); the app talks to its sidecar over HTTP. Every activation, deactivation, timer
// and reminder callback is appended to $RECORD as one JSON line, so the test can see what the
// runtime delivered.
const fs = require("fs");
const { AbstractActor, DaprServer, LogLevel, Temporal } = require("@dapr/dapr");

function record(kind, fields) {
  fs.appendFileSync(process.env.RECORD, JSON.stringify({ kind, t: Date.now(), ...fields }) + "\n");
}

// The type's name is the class name, as for every @dapr/dapr actor.
class CounterActor extends AbstractActor {
  async onActivate() {
    record("activate", { id: this.getActorId().getId() });
  }

  async onDeactivate() {
    record("deactivate", { id: this.getActorId().getId() });
  }

  // State goes through the SDK's state manager: saved as one transaction after the method.
  async add(amount) {
    const [found, count] = await this.getStateManager().tryGetState("count");
    const next = (found ? count : 0) + amount;
    await this.getStateManager().setState("count", next);
    return next;
  }

  async get() {
    const [found, count] = await this.getStateManager().tryGetState("count");
    return found ? count : 0;
  }

  async whoami() {
    return { type: this.getActorType(), id: this.getActorId().getId() };
  }

  async fail() {
    throw new Error("the actor method failed on purpose");
  }

  // Answers are objects: the server sends a string as text/plain, which the Python proxy cannot
  // decode as JSON.
  async startTicking(data) {
    const half = Temporal.Duration.from({ milliseconds: 500 });
    await this.registerActorTimer("ticker", "onTick", half, half, undefined, data);
    return { status: "ticking" };
  }

  async stopTicking() {
    await this.unregisterActorTimer("ticker");
    return { status: "stopped" };
  }

  async onTick(data) {
    record("timer", { id: this.getActorId().getId(), data });
  }

  async remindMe(data) {
    const second = Temporal.Duration.from({ seconds: 1 });
    await this.registerActorReminder("nudge", second, second, undefined, data);
    return { status: "reminding" };
  }

  async forget() {
    await this.unregisterActorReminder("nudge");
    return { status: "forgotten" };
  }

  async receiveReminder(data) {
    record("reminder", { id: this.getActorId().getId(), data });
  }
}

async function main() {
  const server = new DaprServer({
    serverHost: "127.0.0.1",
    serverPort: process.env.APP_PORT,
    clientOptions: {
      daprHost: "127.0.0.1",
      daprPort: process.env.DAPR_HTTP_PORT,
      actor: { actorIdleTimeout: "1h", drainOngoingCallTimeout: "5s", drainRebalancedActors: true },
    },
    logger: { level: LogLevel.Warn },
  });
  await server.actor.init();
  await server.actor.registerActor(CounterActor);
  await server.start();
  console.log("JS ACTOR SERVER READY");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
