"use strict";
// A workflow app written with the JS SDK (@dapr/dapr's WorkflowRuntime and DaprWorkflowClient),
// run against a sidecar on DAPR_GRPC_PORT: it registers its workflows, starts them with the JS
// client, and prints one line `RESULT <json>` with what a JS user sees, then exits.
//   node workflow_app.js
// $JS_CONFIG names the instance ids: {"sequence": "...", "approval": "..."}.
const { DaprWorkflowClient, WorkflowRuntime, WorkflowRuntimeStatus } = require("@dapr/dapr");

const cfg = JSON.parse(process.env.JS_CONFIG || "{}");
const options = { daprHost: "127.0.0.1", daprPort: process.env.DAPR_GRPC_PORT };

const hello = async (_ctx, name) => `Hello ${name}!`;

// Workflows are async generators, as the SDK's examples write them.
// Three activities in sequence, then a fan-out of three in parallel.
const sequence = async function* (ctx, names) {
  const greetings = [];
  for (const name of names) {
    greetings.push(yield ctx.callActivity(hello, name));
  }
  const parallel = yield ctx.whenAll(names.map((name) => ctx.callActivity(hello, name.toUpperCase())));
  return { greetings, parallel };
};

const awaitApproval = async function* (ctx) {
  ctx.setCustomStatus("waiting");
  const approver = yield ctx.waitForExternalEvent("approval");
  return { approvedBy: approver, instance: ctx.getWorkflowInstanceId() };
};

function state(s) {
  return s && {
    name: s.name,
    status: WorkflowRuntimeStatus[s.runtimeStatus],
    input: s.serializedInput,
    output: s.serializedOutput,
    failure: s.workflowFailureDetails ? s.workflowFailureDetails.getErrorMessage() : null,
  };
}

async function main() {
  const runtime = new WorkflowRuntime(options)
    .registerWorkflowWithName("js_sequence", sequence)
    .registerWorkflowWithName("js_await_approval", awaitApproval)
    .registerActivityWithName("hello", hello);
  await runtime.start();
  const client = new DaprWorkflowClient(options);
  const result = {};
  try {
    await client.scheduleNewWorkflow("js_sequence", ["ann", "bo", "cy"], cfg.sequence);
    result.sequence = state(await client.waitForWorkflowCompletion(cfg.sequence, true, 30));

    await client.scheduleNewWorkflow("js_await_approval", undefined, cfg.approval);
    await client.waitForWorkflowStart(cfg.approval, true, 30);
    await client.suspendWorkflow(cfg.approval);
    result.suspended = state(await client.getWorkflowState(cfg.approval, true)).status;
    await client.resumeWorkflow(cfg.approval);
    await client.raiseEvent(cfg.approval, "approval", "Dee");
    result.approval = state(await client.waitForWorkflowCompletion(cfg.approval, true, 30));
  } catch (err) {
    result.error = String(err && err.stack ? err.stack : err);
  } finally {
    console.log("RESULT " + JSON.stringify(result));
    await client.stop();
    await runtime.stop();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.log("RESULT " + JSON.stringify({ error: String(err) }));
    process.exit(1);
  },
);
