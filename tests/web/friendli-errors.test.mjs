// Unit tests of web/friendli-errors.js: `node --test tests/web/` (Node >= 20, no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import { splitEntry, splitNodeErrors, wrapQueuePrompt } from "../../web/friendli-errors.js";

const KEY = "API key (Settings > Friendli): 未設定 · No Friendli API key is set. Open Settings > Friendli > API key.";
const ID = "endpoint_id: エンドポイント ID が空です · is empty. Paste your endpoint id into this field.";
const PROMPT = "prompt: プロンプトが空です · is empty. Describe the edit you want in this field.";

// the entry ComfyUI 0.3.30-0.33 makes of the check's answer: "<input> - <message>", titled with the input
const hostEntry = (message, input = "endpoint_id") => ({
  type: "custom_validation_failed", message: "Custom validation failed for node", details: `${input} - ${message}`,
  extra_info: { input_name: input },
});
const answer = (errors, classType = "FriendliImageEdit") => ({
  error: { type: "prompt_outputs_failed_validation", message: "Prompt outputs failed validation", details: "" },
  node_errors: { 2: { errors, dependent_outputs: ["4"], class_type: classType } },
});

test("three labelled lines become three entries, each on its field and said once", () => {
  const parts = splitEntry(hostEntry([ID, PROMPT, KEY].join("\n")));
  assert.deepEqual(parts.map((e) => e.extra_info.input_name), ["endpoint_id", "prompt", "endpoint_id"]);
  assert.deepEqual(parts.map((e) => e.details), [ID, PROMPT, KEY]);
  assert.ok(parts.every((e) => e.type === "custom_validation_failed" && e.message === "Custom validation failed for node"));
});

test("the Friendli Endpoint node's key line stays on the input the host named", () => {
  const parts = splitEntry(hostEntry(`${KEY}\n${ID}`, "service"));
  assert.deepEqual(parts.map((e) => e.extra_info.input_name), ["service", "endpoint_id"]);
});

test("anything else is left as it came", () => {
  const one = hostEntry(ID);
  assert.deepEqual(splitEntry(one), [one]); // a single problem: already on its field
  const foreign = hostEntry("first line\nsecond line");
  assert.deepEqual(splitEntry(foreign), [foreign]); // unlabelled lines are not ours
  const mixed = hostEntry(`${ID}\nsomething else`);
  assert.deepEqual(splitEntry(mixed), [mixed]);
  const other = { ...hostEntry(`${ID}\n${PROMPT}`), type: "value_not_in_list" };
  assert.deepEqual(splitEntry(other), [other]);
  for (const odd of [null, undefined, 3, "x", {}, { type: "custom_validation_failed", details: 5 }]) {
    assert.deepEqual(splitEntry(odd), [odd]);
  }
  const long = hostEntry(Array(9).fill(ID).join("\n"));
  assert.deepEqual(splitEntry(long), [long]); // bounded
});

test("only Friendli nodes' entries are split, in place", () => {
  const ours = answer([hostEntry(`${ID}\n${PROMPT}`)]);
  assert.equal(splitNodeErrors(ours.node_errors), 1);
  assert.deepEqual(ours.node_errors[2].errors.map((e) => e.extra_info.input_name), ["endpoint_id", "prompt"]);
  const theirs = answer([hostEntry(`${ID}\n${PROMPT}`)], "KSampler");
  assert.equal(splitNodeErrors(theirs.node_errors), 0);
  assert.equal(theirs.node_errors[2].errors.length, 1);
  for (const odd of [null, undefined, "x", { 1: null }, { 1: { class_type: "FriendliImageEdit", errors: "x" } }]) {
    assert.equal(splitNodeErrors(odd), 0);
  }
});

test("the wrapped queuePrompt splits the error it rethrows, and its answer, and never throws itself", async () => {
  class PromptExecutionError extends Error {
    constructor(response) {
      super("Prompt execution failed");
      this.response = response;
    }
  }
  const api = { calls: [], async queuePrompt(...args) {
    this.calls.push(args);
    throw new PromptExecutionError(answer([hostEntry(`${ID}\n${PROMPT}\n${KEY}`)]));
  } };
  assert.equal(wrapQueuePrompt(api), true);
  assert.equal(wrapQueuePrompt(api), false); // once
  const error = await api.queuePrompt(0, { output: {} }).catch((e) => e);
  assert.ok(error instanceof PromptExecutionError); // the same error, as the frontend tests it
  assert.deepEqual(api.calls, [[0, { output: {} }]]); // arguments and `this` passed on
  assert.deepEqual(error.response.node_errors[2].errors.map((e) => e.extra_info.input_name),
    ["endpoint_id", "prompt", "endpoint_id"]);

  const accepted = { prompt_id: "p", node_errors: answer([hostEntry(`${ID}\n${PROMPT}`)]).node_errors };
  const ok = { async queuePrompt() { return accepted; } };
  wrapQueuePrompt(ok);
  assert.equal(await ok.queuePrompt(0, {}), accepted);
  assert.equal(accepted.node_errors[2].errors.length, 2);

  const hostile = { async queuePrompt() {
    throw { get response() { throw new Error("boom"); } };
  } };
  wrapQueuePrompt(hostile);
  const thrown = await hostile.queuePrompt().catch((e) => e);
  assert.equal(typeof Object.getOwnPropertyDescriptor(thrown, "response").get, "function"); // its own error, untouched
  assert.equal(wrapQueuePrompt({}), false);
  assert.equal(wrapQueuePrompt(null), false);
});
