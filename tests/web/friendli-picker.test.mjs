// The endpoint picker's pure logic (web/friendli-logic.js): what a node asks GET /friendli/endpoints, the answer
// checked again, rows, the filter, the line under the list in each language, and where the button goes
// without moving any saved value. `node --test tests/web/` (Node >= 20, no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import {
  PICKER_NODES, PICKER_WIDGET, compactValues, endpointRow, filterEndpoints, parseEndpointList, pickerIndex,
  pickerNote, pickerRequest, stateTone, validEndpointId,
} from "../../web/friendli-logic.js";
import { STRINGS } from "../../web/friendli-strings.js";

test("every node with an endpoint_id field gets the picker", () => {
  assert.deepEqual(PICKER_NODES, ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint"]);
  assert.equal(PICKER_WIDGET, "friendli_pick_endpoint");
});

test("the request: a container has no list; a Friendli Endpoint node's base URL and team go along", () => {
  assert.deepEqual(pickerRequest(), { query: "" });
  assert.deepEqual(pickerRequest({ service: "dedicated", base_url: "  ", team: "" }), { query: "" });
  assert.deepEqual(pickerRequest({ service: "container", base_url: "http://localhost:8000" }), { blocked: "container" });
  assert.deepEqual(pickerRequest({ service: "dedicated", base_url: "https://proxy.example/x?y=1&z", team: "my team" }),
    { query: "?base_url=https%3A%2F%2Fproxy.example%2Fx%3Fy%3D1%26z&team=my%20team" });
});

test("ids the picker may put in the field", () => {
  for (const good of ["abc123", "a".repeat(128), "ep_1-x.y:z"]) assert.ok(validEndpointId(good), good);
  for (const bad of ["", "a".repeat(129), "has space", "tab\tx", "nl\n", "\x1b[2J", "\u0085x", 5, null, ["x"]]) {
    assert.ok(!validEndpointId(bad), JSON.stringify(bad));
  }
});

test("the answer is checked again: rows bounded, bad ids left out, texts one short line, unknown states null", () => {
  const rows = [
    { id: "ep-1", name: "Flux\nKontext\u0007", status: "RUNNING", phase: null, gpu: "NVIDIA A100 × 2" },
    { id: "ep-1", name: "a duplicate" },
    { id: "has space", name: "x" },
    { id: 7 },
    null,
    "text",
    { id: "ep-2", name: "n".repeat(500), status: "EXPLODING", phase: "DOWNLOADING_MODEL", gpu: 12 },
    ...Array.from({ length: 300 }, (_, i) => ({ id: `bulk-${i}`, status: "SLEEPING" })),
  ];
  const list = parseEndpointList({ available: true, endpoints: rows, truncated: false });
  assert.equal(list.available, true);
  assert.equal(list.endpoints.length, 200);
  assert.equal(list.truncated, true); // more came than are shown
  assert.deepEqual(list.endpoints[0], { id: "ep-1", name: "Flux Kontext", status: "RUNNING", phase: null, gpu: "NVIDIA A100 × 2" });
  const second = list.endpoints[1];
  assert.equal(second.id, "ep-2");
  assert.ok(second.name.length <= 80 && second.name.endsWith("…"));
  assert.deepEqual([second.status, second.phase, second.gpu], [null, "DOWNLOADING_MODEL", null]);

  assert.deepEqual(parseEndpointList({ available: true, endpoints: "nope", truncated: true }),
    { available: true, code: null, reason: "", endpoints: [], truncated: true });
  for (const junk of [null, "x", 5, []]) assert.equal(parseEndpointList(junk).available, false);
  const none = parseEndpointList({ available: false, code: "no_key", reason: "No Friendli API key is configured." });
  assert.deepEqual([none.available, none.code, none.endpoints], [false, "no_key", []]);
  assert.equal(parseEndpointList({ available: false }).code, "unavailable");
});

test("rows: the name with the id under it (the id alone without a name), state words and tone, GPU", () => {
  const named = endpointRow({ id: "ep-1", name: "Flux", status: "AWAKING", phase: "DOWNLOADING_MODEL", gpu: "H100 × 1" }, "en");
  assert.deepEqual(named, { id: "ep-1", title: "Flux", detail: "ep-1", state: "waking · downloading model", tone: "busy",
    gpu: "H100 × 1" });
  const bare = endpointRow({ id: "ep-2", name: null, status: null, phase: null, gpu: null }, "en");
  assert.deepEqual(bare, { id: "ep-2", title: "ep-2", detail: "", state: "unknown", tone: "none", gpu: "" });
  assert.equal(endpointRow({ id: "e", status: "SLEEPING" }, "ko").state, STRINGS.ko["state.SLEEPING"]);
  assert.deepEqual(["RUNNING", "READY", "SLEEPING", "INITIALIZING", "FAILED", "TERMINATED", null].map(stateTone),
    ["ok", "ok", "idle", "busy", "error", "error", "none"]);
});

test("the filter: every word in the name, id or GPU, any case", () => {
  const endpoints = [
    { id: "flux-a1", name: "Flux Kontext", gpu: "NVIDIA A100 80GB × 2" },
    { id: "qwen-b7", name: "Qwen Image Edit", gpu: "NVIDIA H100 × 1" },
    { id: "plain", name: null, gpu: null },
  ];
  assert.equal(filterEndpoints(endpoints, ""), endpoints);
  assert.equal(filterEndpoints(endpoints, "   "), endpoints);
  assert.deepEqual(filterEndpoints(endpoints, "KONTEXT").map((e) => e.id), ["flux-a1"]);
  assert.deepEqual(filterEndpoints(endpoints, "nvidia h100").map((e) => e.id), ["qwen-b7"]);
  assert.deepEqual(filterEndpoints(endpoints, "b7").map((e) => e.id), ["qwen-b7"]);
  assert.deepEqual(filterEndpoints(endpoints, "pla").map((e) => e.id), ["plain"]);
  assert.deepEqual(filterEndpoints(endpoints, "flux h100"), []);
});

test("the line under the list says why there is none, in each language", () => {
  const list = (extra) => ({ available: true, code: null, endpoints: [{ id: "a" }, { id: "b" }], truncated: false, ...extra });
  for (const lang of Object.keys(STRINGS)) {
    const t = STRINGS[lang];
    assert.equal(pickerNote(null, lang), t["picker.loading"]);
    assert.equal(pickerNote({ blocked: "container" }, lang), t["picker.container"]);
    assert.equal(pickerNote({ available: false, code: "no_key" }, lang), t["picker.noKey"]);
    assert.equal(pickerNote({ available: false, code: "unavailable" }, lang), t["picker.unavailable"]);
    assert.equal(pickerNote({ available: false, code: "something-new" }, lang), t["picker.unavailable"]);
    assert.equal(pickerNote({ available: false, code: "malformed" }, lang), t["picker.malformed"]);
    assert.equal(pickerNote({ available: false, error: "HTTP 502" }, lang), t["picker.error"].replace("{error}", "HTTP 502"));
    assert.equal(pickerNote(list({ endpoints: [] }), lang), t["picker.empty"]);
    assert.equal(pickerNote(list(), lang, 0), t["picker.noMatch"]);
    assert.equal(pickerNote(list(), lang, 2), t["picker.count"].replace("{n}", "2"));
    assert.equal(pickerNote(list({ truncated: true }), lang, 2), t["picker.truncated"].replace("{n}", "2"));
  }
});

test("the button goes right under endpoint_id; the saved values keep their order in every frontend", () => {
  const names = ["prompt", "endpoint_id", "num_inference_steps", "seed", "control_after_generate"];
  assert.equal(pickerIndex(names.map((name) => ({ name }))), 2);
  assert.equal(pickerIndex([{ name: "service" }, { name: "endpoint_id" }, { name: "adapter_route" }]), 2);
  assert.equal(pickerIndex([{ name: "seed" }]), -1);
  assert.equal(pickerIndex(undefined), -1);
  // frontend 1.27 writes each value at its widget's index, leaving a gap at the unsaved button ...
  const written = [];
  const widgets = ["prompt", "endpoint_id", PICKER_WIDGET, "steps", "guidance", "seed", "control"];
  widgets.forEach((name, i) => { if (name !== PICKER_WIDGET) written[i] = name === "guidance" ? null : `${name}-v`; });
  assert.equal(written.length, 7);
  assert.ok(!(2 in written));
  // ... and reads them back skipping unsaved widgets: without the gap each value returns to its own widget
  assert.deepEqual(compactValues(written), ["prompt-v", "endpoint_id-v", "steps-v", null, "seed-v", "control-v"]);
  const saved = ["a", undefined, null, 3]; // really empty values stay where they are
  assert.deepEqual(compactValues(saved), saved);
  assert.equal(compactValues(undefined), undefined);
  assert.deepEqual(compactValues({ named: 1 }), { named: 1 });
});
