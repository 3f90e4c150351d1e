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
    dispatchCustomEvent(type, detail) { dispatched.push([type, { ...detail }]); return true; },
  },
};
const dispatched = []; // what ComfyUI's listeners receive

const settle = async () => { for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r)); };
const PREFS = { trusted_hosts: ["proxy.example.com"], max_in_flight: 8, wake_on_queue: true, result_store: true,
  result_store_gib: 4, memory_budget_mib: 512, confirm_over: 16, confirm_headless: "send", price_per_gpu_hour: 0 };
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
    "friendli-store-clear", "friendli-price", "friendli-confirm-over", "friendli-confirm-headless",
    "friendli-memory-budget"]) assert.ok(el[id], `no element with data-testid ${id}`);
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
  assert.equal(el["friendli-status"].textContent.startsWith("아직 API 키가 없습니다"), true);
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
  assert.deepEqual(lines.map((l) => l.textContent), ["已完成 2/2 · 3.0 秒 · 复用 2 个", "种子 1, 2", ""]);
  onProgress({ detail: { node: "5", state: "running", done: 0, total: 1, elapsed: 0 } });
  assert.equal(root5.added, 1);
  for (const type of ["execution_error", "execution_interrupted", "execution_success"]) assert.ok(apiListeners[type]);
  apiListeners.execution_success[0]({}); // stops the running clock (no interval left behind)
});

// ---- issue 17 ----------------------------------------------------------------------------------------------

test("Clear asks before removing the key; saving a key clears the stale error lines", async () => {
  locale = "en";
  const el = renderAll();
  await settle();
  answers.set("POST /friendli/endpoint/status", [400, { error: "No Friendli API key is configured. Set the FRIENDLI_TOKEN ..." }]);
  el["friendli-endpoint-id"].value = "ep-1";
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(el["friendli-endpoint-message"].textContent, STRINGS.en["endpoint.noKey"]); // the UI's words
  assert.equal(el["friendli-endpoint-message"].dataset.tone, "error");

  answers.set("POST /friendli/credentials", [200, { configured: true, source: "file", token_hint: "…abcd" }]);
  el["friendli-token"].value = "flp_abcdefgh1234";
  el["friendli-save"].fire("click");
  await settle();
  assert.equal(el["friendli-message"].textContent, STRINGS.en["key.saved"]);
  assert.equal(el["friendli-endpoint-message"].textContent, ""); // the old error is gone

  fetched.length = 0;
  confirmAnswer = false;
  el["friendli-clear"].fire("click");
  await settle();
  assert.equal(confirmed.at(-1), STRINGS.en["key.confirmClear"]);
  assert.equal(fetched.length, 0); // declined: nothing removed
  confirmAnswer = true;
  answers.set("DELETE /friendli/credentials", [200, { configured: false, source: "none" }]);
  el["friendli-clear"].fire("click");
  await settle();
  assert.deepEqual(fetched.map((f) => `${f.method} ${f.path}`), ["DELETE /friendli/credentials"]);

  // with no key the test does not even ask the server
  fetched.length = 0;
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(fetched.length, 0);
  assert.equal(el["friendli-endpoint-message"].textContent, STRINGS.en["endpoint.noKey"]);
});

test("Test connection shows the endpoint's info, with the price per hour when one is set", async () => {
  locale = "en";
  answers.set("GET /friendli/status", [200, { configured: true, source: "file", token_hint: "…abcd" }]);
  answers.set("GET /friendli/preferences", [200, { ...PREFS, price_per_gpu_hour: 2 }]);
  await new Promise((r) => setTimeout(r, 2100)); // the shared preferences answer is read again
  const el = renderAll();
  await settle();
  answers.set("POST /friendli/endpoint/status", [200, { available: true, endpoint_id: "ep-1", status: "RUNNING", phase: null,
    info: { name: "my-endpoint", gpu_type: "A100", num_gpu: 2, replicas_current: 1, replicas_min: 0, replicas_max: 2,
      cooldown_s: 300, running_s: 4320 } }]);
  el["friendli-endpoint-id"].value = "ep-1";
  el["friendli-test-connection"].fire("click");
  await settle();
  assert.equal(el["friendli-endpoint-message"].textContent,
    "my-endpoint · running · A100 × 2 · replicas 1 (min 0, max 2) · cooldown 5 min · running 1 h 12 min · ≈ $4.00/h");
  answers.set("GET /friendli/preferences", [200, PREFS]);
});

test("the new preference rows: price, confirmation threshold, headless choice, memory", async () => {
  locale = "ko";
  const el = renderAll();
  await settle();
  assert.equal(el["friendli-confirm-over"].value, 16);
  assert.equal(el["friendli-confirm-headless"].value, "send");
  assert.deepEqual(el["friendli-confirm-headless"].children.map((o) => [o.value, o.textContent]),
    [["send", STRINGS.ko["headless.send"]], ["skip", STRINGS.ko["headless.skip"]]]);
  assert.equal(el["friendli-memory-budget"].value, 512);
  fetched.length = 0;
  answers.set("POST /friendli/preferences", [200, { ...PREFS, confirm_headless: "skip" }]);
  el["friendli-confirm-headless"].value = "skip";
  el["friendli-confirm-headless"].fire("change");
  el["friendli-price"].value = "2.5";
  el["friendli-price"].fire("change");
  el["friendli-confirm-over"].value = "0";
  el["friendli-confirm-over"].fire("change");
  el["friendli-memory-budget"].value = "1024";
  el["friendli-memory-budget"].fire("change");
  await settle();
  assert.deepEqual(fetched.filter((f) => f.method === "POST").map((f) => f.body), [{ confirm_headless: "skip" },
    { price_per_gpu_hour: 2.5 }, { confirm_over: 0 }, { memory_budget_mib: 1024 }]);
});

test("the settings table declares the key first and the advanced rows last", () => {
  const order = [...registered.settings].sort((a, b) => b.sortOrder - a.sortOrder).map((s) => s.id);
  assert.deepEqual(order.slice(0, 3), ["Friendli.APIKey", "Friendli.Team", "Friendli.Status"]);
  assert.deepEqual(order.slice(-2), ["Friendli.TrustedHosts", "Friendli.MemoryBudget"]);
  // frontend 1.27 orders groups by their key: the same order
  const groups = [...new Set(order.map((id) => registered.settings.find((s) => s.id === id).category[1]))];
  assert.deepEqual(groups, [...groups].sort());
});

class FakeBadge { constructor(options) { Object.assign(this, options); } }

function friendliNode(type, names) {
  const node = {
    type, comfyClass: type, size: [300, 200], badges: [], color: undefined, bgcolor: undefined, showAdvanced: undefined,
    widgets: names.map((name) => ({ name, value: `${name}-value` })),
    addWidget(kind, name, value, callback, options) {
      const widget = { type: kind, name, value, callback, options };
      this.widgets.push(widget);
      return widget;
    },
    addDOMWidget(name, kind, element, options) {
      const widget = { name, type: kind, element, options };
      this.widgets.push(widget);
      return widget;
    },
    computeSize() {
      let h = 30;
      for (const w of this.widgets) h += w.computeSize ? w.computeSize(this.size[0])[1] + 4 : (w.options?.getMinHeight?.() ?? 20) + 4;
      return [280, h];
    },
    setSize(size) { this.size = [...size]; },
  };
  return node;
}

const EDIT_WIDGETS = ["prompt", "endpoint_id", "num_inference_steps", "guidance_scale", "seed", "control_after_generate",
  "response_format", "adapter_route", "output_size", "max_concurrency", "on_failure"];

test("a Friendli node is drawn as remote and billed: paid colours and a translated badge", () => {
  globalThis.window.LGraphBadge = FakeBadge;
  globalThis.window.LiteGraph = { NODE_WIDGET_HEIGHT: 20, BADGE_FG_COLOR: "#FFF" };
  for (const type of ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint"]) {
    const node = friendliNode(type, type === "FriendliEndpoint" ? ["service", "endpoint_id"] : EDIT_WIDGETS);
    registered.nodeCreated(node);
    assert.deepEqual([node.color, node.bgcolor], ["#432", "#653"], type);
    locale = "ko";
    const badge = node.badges[0]();
    assert.equal(badge.text, STRINGS.ko["badge.text"]);
    assert.equal(badge.bgColor, "#8D6932");
    locale = "en";
    assert.equal(node.badges[0]().text, "Friendli · GPU time");
    assert.ok(!("api_node" in node) && !node.constructor?.nodeData?.api_node);
  }
  const local = friendliNode("KSampler", ["seed"]);
  registered.nodeCreated(local);
  assert.equal(local.color, undefined);
  assert.equal(local.badges.length, 0);
  // a colour the user chose (or a saved one) stays
  const coloured = friendliNode("FriendliImageEdit", EDIT_WIDGETS);
  coloured.color = "#223";
  registered.nodeCreated(coloured);
  assert.equal(coloured.color, "#223");
});

test("the edit nodes: transport widgets behind the advanced toggle, values untouched, progress box from the start", () => {
  locale = "en";
  const node = friendliNode("FriendliImageEdit", EDIT_WIDGETS);
  registered.nodeCreated(node);
  const byName = Object.fromEntries(node.widgets.map((w) => [w.name, w]));
  for (const name of ["response_format", "adapter_route", "output_size", "max_concurrency", "on_failure"]) {
    assert.equal(byName[name].advanced, true, name);
    assert.deepEqual(byName[name].computeSize(300), [0, -4], name); // no row while closed
    assert.equal(byName[name].value, `${name}-value`);
    assert.notEqual(byName[name].serialize, false);
  }
  for (const name of ["prompt", "endpoint_id", "num_inference_steps", "guidance_scale", "seed"]) {
    assert.equal(byName[name].advanced, undefined, name);
  }
  // the toggle and the progress box come after every saved widget and are never saved nor sent; the endpoint
  // picker's button sits right under endpoint_id (never saved either: the saved values keep their order)
  const names = node.widgets.map((w) => w.name);
  assert.deepEqual(names.filter((n) => n !== "friendli_pick_endpoint").slice(0, EDIT_WIDGETS.length), EDIT_WIDGETS);
  assert.equal(names[names.indexOf("endpoint_id") + 1], "friendli_pick_endpoint");
  assert.deepEqual(names.slice(EDIT_WIDGETS.length + 1), ["friendli_advanced", "friendli_progress"]);
  const pick = byName.friendli_pick_endpoint;
  assert.deepEqual([pick.type, pick.serialize, pick.options.serialize, pick.label], ["button", false, false, "⌄ pick endpoint"]);
  const written = { widgets_values: [] }; // frontend 1.27's gap where the unsaved button sits
  written.widgets_values[1] = "endpoint";
  written.widgets_values[3] = 20;
  node.onSerialize(written);
  assert.deepEqual(written.widgets_values, ["endpoint", 20]);
  const toggle = byName.friendli_advanced;
  const box = byName.friendli_progress;
  for (const w of [toggle, box]) {
    assert.equal(w.serialize, false);
    assert.equal(w.options.serialize, false);
  }
  assert.equal(toggle.options.canvasOnly, true); // Vue nodes have the frontend's own "show advanced" button
  assert.equal(toggle.label, "▸ advanced (5)");
  assert.equal(box.element.dataset.state, "idle");
  assert.equal(box.element.children.length, 4); // the bar and three lines, from the start
  // the node is as tall as its rows, the progress box and room for the prompt
  const closed = node.size[1];
  assert.ok(closed >= node.computeSize()[1], `${closed}`);

  toggle.callback();
  assert.equal(node.showAdvanced, true);
  assert.equal(toggle.label, "▾ hide advanced");
  assert.deepEqual(byName.response_format.computeSize(300), [300, 20]);
  assert.equal(node.size[1], closed + 5 * 24);
  toggle.callback();
  assert.equal(node.showAdvanced, false);
  assert.equal(node.size[1], closed);

  // the first progress event uses the box that is already there
  const progressNode = friendliNode("FriendliImageEdit", EDIT_WIDGETS);
  registered.nodeCreated(progressNode);
  globalThis.__friendliFake.app.rootGraph = graph({ 40: progressNode });
  const [onProgress] = apiListeners["friendli.progress"];
  onProgress({ detail: { node: "40", state: "running", done: 0, total: 1, elapsed: 1, eta: null } });
  assert.equal(progressNode.widgets.filter((w) => w.name === "friendli_progress").length, 1);
  const el = progressNode.widgets.at(-1).element;
  assert.equal(el.dataset.state, "running");
  assert.equal(el.children[0].dataset.mode, "indeterminate");
  onProgress({ detail: { node: "40", state: "done", done: 1, total: 1, elapsed: 9, endpoint_s: 8.2, cost: 0.01, seeds: [3] } });
  assert.deepEqual(el.children.slice(1).map((l) => l.textContent), ["1/1 done · 9.0 s", "endpoint time 8.2 s · ≈ $0.01", "seed 3"]);
  assert.equal(el.children[0].dataset.mode, "determinate");
  assert.equal(el.children[0].children[0].style.width, "100.0%");
});

test("friendli.confirm: asks in the UI language through ComfyUI's dialog, then POSTs the answer", async () => {
  locale = "ja";
  const asked = [];
  let answer = true;
  globalThis.__friendliFake.app.extensionManager.dialog = { confirm: async (options) => { asked.push(options); return answer; } };
  const [onConfirm] = apiListeners["friendli.confirm"];
  fetched.length = 0;
  await onConfirm({ detail: { id: "c-1", node: "3", requests: 64, message: "This run sends 64 requests" } });
  assert.equal(asked[0].message, "この実行はエンドポイントに 64 件のリクエストを送信します（GPU 時間で課金）。送信しますか？");
  assert.deepEqual(fetched, [{ path: "/friendli/confirm", method: "POST", body: { id: "c-1", ok: true } }]);
  answer = null; // closed without an answer: no
  await onConfirm({ detail: { id: "c-2", node: "3", requests: 20 } });
  assert.deepEqual(fetched.at(-1).body, { id: "c-2", ok: false });
  fetched.length = 0;
  await onConfirm({ detail: { node: "3" } }); // no id: nothing to answer
  assert.equal(fetched.length, 0);
  // without ComfyUI's dialog: the browser's own confirm
  delete globalThis.__friendliFake.app.extensionManager.dialog;
  confirmAnswer = true;
  await onConfirm({ detail: { id: "c-3", requests: 17 } });
  assert.equal(confirmed.at(-1), STRINGS.ja["confirm.message"].replace("{n}", "17"));
  assert.deepEqual(fetched.at(-1).body, { id: "c-3", ok: true });
});

test("trusted hosts: 'http://bad host' is one bad entry, refused in the UI language with nothing sent", async () => {
  for (const [lang, words] of [["en", "Separate hosts with commas"], ["ko", "쉼표로 구분"], ["ja", "カンマで区切って"]]) {
    locale = lang;
    const el = renderAll();
    await settle();
    fetched.length = 0;
    el["friendli-trusted-hosts"].value = "proxy.example.com, http://bad host";
    el["friendli-trusted-hosts-save"].fire("click");
    await settle();
    assert.equal(fetched.filter((f) => f.method === "POST").length, 0, lang);
    const message = el["friendli-trusted-hosts-message"];
    assert.equal(message.dataset.tone, "error");
    assert.ok(message.textContent.includes("http://bad host") && message.textContent.includes(words), message.textContent);
  }
});

test("a Friendli node's error is titled with the node's title, not its class name (issue 24)", () => {
  root5.title = "Friendli 이미지 편집";
  inner5.title = "My edit";
  globalThis.__friendliFake.app.rootGraph = graph({ 5: root5, 12: { id: 12, subgraph: graph({ 5: inner5 }) } });
  const { api } = globalThis.__friendliFake;
  api.dispatchCustomEvent("execution_error", { node_id: "5", node_type: "FriendliImageEdit", exception_message: "x" });
  api.dispatchCustomEvent("execution_error", { node_id: "12:5", node_type: "FriendliImageGenerate" });
  api.dispatchCustomEvent("execution_error", { node_id: "5", node_type: "KSampler" }); // not ours: as it came
  api.dispatchCustomEvent("execution_error", { node_id: "99", node_type: "FriendliImageEdit" }); // not found: as it came
  api.dispatchCustomEvent("executed", { node: "5", node_type: "FriendliImageEdit" });
  assert.deepEqual(dispatched.slice(-5).map(([type, d]) => [type, d.node_type]), [
    ["execution_error", "Friendli 이미지 편집"], ["execution_error", "My edit"], ["execution_error", "KSampler"],
    ["execution_error", "FriendliImageEdit"], ["executed", "FriendliImageEdit"]]);
  assert.equal(dispatched.at(-5)[1].exception_message, "x");
});
