// web/friendli.js wired to stand-ins of ComfyUI's app/api and a minimal DOM: the settings rows carry their
// data-testids and the UI language's text, the buttons call the server routes with the plan's shapes, errors
// from {"error": ...} answers are shown, Sleep now asks first, and progress for "12:5" lands inside subgraph 12.
// `node --test tests/web/` (Node >= 20.6 for module.register; no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import { register } from "node:module";
import { STRINGS } from "../../web/friendli-strings.js";
import { SETTINGS } from "../../web/friendli-logic.js";

// ComfyUI serves the extension at /extensions/<pack>/friendli.js and it imports ../../scripts/{app,api}.js:
// resolve those two to modules that hand out the stand-ins below.
const hooks = `
export async function resolve(specifier, context, next) {
  const m = specifier.match(/\\/scripts\\/(app|api)\\.js$/);
  if (m) return { url: "data:text/javascript,export const " + m[1] + " = globalThis.__friendliFake." + m[1] + ";",
    shortCircuit: true };
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);

class FakeElement {
  constructor(tag) {
    Object.assign(this, { tag, children: [], dataset: {}, style: {}, listeners: {}, textContent: "", value: "",
      checked: false, disabled: false });
  }
  append(...nodes) { this.children.push(...nodes); }
  addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
  fire(type, event = {}) {
    for (const fn of this.listeners[type] ?? []) fn({ stopPropagation() {}, ...event });
  }
  *walk() {
    yield this;
    for (const child of this.children) if (child instanceof FakeElement) yield* child.walk();
  }
}

const fetched = [];
const answers = new Map(); // "METHOD path" -> [status, body]
let confirmAnswer = false;
const confirmed = [];
const apiListeners = {};
let locale = "ko";
let registered = null;

function graph(nodes) {
  return { getNodeById: (id) => nodes[String(id)] ?? null };
}
function fakeNode(id) {
  return {
    id, widgets: [], added: 0,
    addDOMWidget(name, type, element) {
      this.added += 1;
      const widget = { name, element };
      this.widgets.push(widget);
      return widget;
    },
  };
}
const inner5 = fakeNode(5);
const root5 = fakeNode(5);

globalThis.document = { createElement: (tag) => new FakeElement(tag), head: { append() {} } };
globalThis.window = { confirm: (text) => { confirmed.push(text); return confirmAnswer; } };
globalThis.__friendliFake = {
  app: {
    registerExtension(ext) { registered = ext; },
    extensionManager: { setting: { get: (id) => (id === "Comfy.Locale" ? locale : undefined) } },
    rootGraph: graph({ 5: root5, 12: { id: 12, subgraph: graph({ 5: inner5 }) } }),
  },
  api: {
    async fetchApi(path, init) {
      const method = init?.method ?? "GET";
      fetched.push({ path, method, body: init?.body === undefined ? undefined : JSON.parse(init.body) });
      const [status, body] = answers.get(`${method} ${path}`) ?? [200, {}];
      return { ok: status < 400, status, json: async () => body };
    },
    addEventListener(type, fn) { (apiListeners[type] ??= []).push(fn); },
  },
};

const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
const PREFS = { trusted_hosts: ["proxy.example.com"], max_in_flight: 8, wake_on_queue: true, result_store: true,
  result_store_gib: 4 };
answers.set("GET /friendli/preferences", [200, PREFS]);
answers.set("GET /friendli/status", [200, { source: "none", base_url: "https://api.friendli.ai" }]);
answers.set("GET /friendli/store", [200, { enabled: true, size_bytes: 2 ** 30, entries: 3, max_bytes: 4 * 2 ** 30 }]);

await import("../../web/friendli.js");

function renderAll() {
  const rows = Object.fromEntries(registered.settings.map((s) => [s.id, s.type()]));
  const byTestid = {};
  for (const row of Object.values(rows)) for (const el of row.walk()) if (el.dataset.testid) byTestid[el.dataset.testid] = el;
  return byTestid;
}

test("the extension registers every setting of the table, each a custom renderer with an empty default", () => {
  assert.equal(registered.name, "friendli.settings");
  assert.deepEqual(registered.settings.map((s) => s.id), SETTINGS.map((s) => s.id));
  for (const s of registered.settings) {
    assert.equal(typeof s.type, "function");
    assert.equal(s.defaultValue, "");
    assert.equal(s.category[0], "Friendli");
  }
});

test("settings rows carry the data-testids and the UI language's words (Korean here)", async () => {
  locale = "ko";
  const el = renderAll();
  await settle();
  for (const id of ["friendli-token", "friendli-team", "friendli-save", "friendli-clear", "friendli-status",
    "friendli-message", "friendli-trusted-hosts", "friendli-trusted-hosts-save", "friendli-endpoint-id",
    "friendli-test-connection", "friendli-sleep-now", "friendli-endpoint-message", "friendli-wake-on-queue",
    "friendli-max-in-flight", "friendli-result-store", "friendli-result-store-size", "friendli-store-info",
    "friendli-store-clear"]) assert.ok(el[id], `no element with data-testid ${id}`);
  assert.equal(el["friendli-test-connection"].textContent, STRINGS.ko["endpoint.test"]);
  assert.equal(el["friendli-sleep-now"].textContent, STRINGS.ko["endpoint.sleep"]);
  assert.equal(el["friendli-store-clear"].textContent, STRINGS.ko["store.clear"]);
  assert.equal(el["friendli-endpoint-id"].placeholder, STRINGS.ko["endpoint.placeholder"]);
  // values come from the server's preferences, never from the frontend's settings store
  assert.equal(el["friendli-trusted-hosts"].value, "proxy.example.com");
  assert.equal(el["friendli-max-in-flight"].value, 8);
  assert.equal(el["friendli-wake-on-queue"].checked, true);
  assert.equal(el["friendli-result-store-size"].value, 4);
  assert.equal(el["friendli-store-info"].textContent, "1.0 GiB / 4.0 GiB · 결과 3개");
  assert.equal(el["friendli-status"].textContent.startsWith("설정된 키 없음"), true);
});

test("Test connection and Sleep now call the endpoint routes; errors from {error} answers are shown", async () => {
  locale = "en";
  const el = renderAll();
  await settle();
  fetched.length = 0;
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(el["friendli-endpoint-message"].textContent, "Enter the endpoint id first.");
  assert.equal(fetched.length, 0);

  el["friendli-endpoint-id"].value = "  ep-1 ";
  answers.set("POST /friendli/endpoint/status", [200, { available: true, endpoint_id: "ep-1", status: "SLEEPING",
    phase: null, error_code: null, explanation: "asleep" }]);
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.deepEqual(fetched.at(-1), { path: "/friendli/endpoint/status", method: "POST", body: { endpoint_id: "ep-1" } });
  assert.equal(el["friendli-endpoint-message"].textContent, "ep-1: sleeping");
  assert.equal(el["friendli-endpoint-message"].dataset.tone, "ok");
  assert.equal(el["friendli-test-connection"].disabled, false);

  answers.set("POST /friendli/endpoint/status", [401, { error: "the key was refused (401): check it" }]);
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(el["friendli-endpoint-message"].textContent, "the key was refused (401): check it");
  assert.equal(el["friendli-endpoint-message"].dataset.tone, "error");

  // Sleep now asks first: declined, nothing is sent
  fetched.length = 0;
  confirmAnswer = false;
  el["friendli-sleep-now"].fire("click");
  await settle();
  assert.equal(fetched.length, 0);
  assert.match(confirmed.at(-1), /ep-1/);
  confirmAnswer = true;
  answers.set("POST /friendli/endpoint/sleep", [200, { available: true, endpoint_id: "ep-1", status: "SLEEPING" }]);
  el["friendli-sleep-now"].fire("click");
  await settle();
  assert.deepEqual(fetched, [{ path: "/friendli/endpoint/sleep", method: "POST", body: { endpoint_id: "ep-1" } }]);

  answers.set("POST /friendli/endpoint/status", [200, { available: false, reason: "no status route" }]);
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(el["friendli-endpoint-message"].textContent, STRINGS.en["endpoint.unavailable"]);
});

test("preferences: trusted hosts, toggles and numbers POST one change; a refused value is restored", async () => {
  locale = "en";
  const el = renderAll();
  await settle();
  fetched.length = 0;
  answers.set("POST /friendli/preferences", [200, { ...PREFS, trusted_hosts: ["a.example.com", "10.0.0.5:8443"] }]);
  el["friendli-trusted-hosts"].value = "a.example.com,\n 10.0.0.5:8443";
  el["friendli-trusted-hosts-save"].fire("click");
  await settle();
  assert.deepEqual(fetched.at(-1), { path: "/friendli/preferences", method: "POST",
    body: { trusted_hosts: ["a.example.com", "10.0.0.5:8443"] } });
  assert.equal(el["friendli-trusted-hosts-message"].textContent, "Saved.");

  el["friendli-wake-on-queue"].checked = false;
  el["friendli-wake-on-queue"].fire("change");
  await settle();
  assert.deepEqual(fetched.at(-1).body, { wake_on_queue: false });

  answers.set("POST /friendli/preferences", [400, { error: "max_in_flight: 1 to 64" }]);
  el["friendli-max-in-flight"].value = "500";
  el["friendli-max-in-flight"].fire("change");
  await settle();
  assert.deepEqual(fetched.find((f) => f.method === "POST" && "max_in_flight" in f.body).body, { max_in_flight: 500 });
  assert.equal(el["friendli-max-in-flight-message"].textContent, "max_in_flight: 1 to 64");
  assert.equal(el["friendli-max-in-flight"].value, 8); // the server's value again

  // switching the store or its size refreshes the "Stored results" line
  answers.set("POST /friendli/preferences", [200, { ...PREFS, result_store: false }]);
  answers.set("GET /friendli/store", [200, { enabled: false, size_bytes: 2 ** 30, entries: 3, max_bytes: 4 * 2 ** 30 }]);
  el["friendli-result-store"].checked = false;
  el["friendli-result-store"].fire("change");
  await settle();
  assert.equal(el["friendli-store-info"].textContent, "1.0 GiB of 4.0 GiB · 3 results (off)");
  assert.ok(!fetched.some((f) => JSON.stringify(f.body ?? {}).includes("token")));
});

test("Clear empties the result store and shows its new size", async () => {
  locale = "ja";
  const el = renderAll();
  await settle();
  answers.set("DELETE /friendli/store", [200, { enabled: true, size_bytes: 0, entries: 0, max_bytes: 4 * 2 ** 30 }]);
  el["friendli-store-clear"].fire("click");
  await settle();
  assert.deepEqual(fetched.at(-1), { path: "/friendli/store", method: "DELETE", body: undefined });
  assert.equal(el["friendli-store-info"].textContent, `${STRINGS.ja["store.cleared"]} 0 KiB / 4.0 GiB・0 件`);
});

test("progress for '12:5' lands on node 5 inside subgraph 12, in the UI language", async () => {
  locale = "zh";
  registered.setup();
  const [onProgress] = apiListeners["friendli.progress"];
  onProgress({ detail: { node: "12:5", state: "done", done: 2, total: 2, elapsed: 3, reused: 2, seeds: [1, 2] } });
  assert.equal(inner5.added, 1);
  assert.equal(root5.added, 0);
  const lines = [...inner5.widgets[0].element.walk()].filter((e) => e.className?.startsWith("friendli-line"));
  assert.deepEqual(lines.map((l) => l.textContent), ["已完成 2/2 · 3.0 秒 · 复用 2 个", "种子 1, 2"]);
  onProgress({ detail: { node: "5", state: "running", done: 0, total: 1, elapsed: 0 } });
  assert.equal(root5.added, 1);
  for (const type of ["execution_error", "execution_interrupted", "execution_success"]) assert.ok(apiListeners[type]);
  apiListeners.execution_success[0]({}); // stops the running clock (no interval left behind)
});
