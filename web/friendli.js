// Friendli extension for the ComfyUI frontend: the "Friendli" settings panel (the API key goes only to
// POST /friendli/credentials, never into a setting, local storage, the workflow or the console; the
// other settings live on the server, in preferences.json) and live progress on Friendli nodes from the
// `friendli.progress` websocket events. Texts follow ComfyUI's language (Comfy.Locale), English otherwise.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  applyProgress, endpointLine, errorMessage, findNodeByExecutionId, isTicking, parseHosts, progressFraction,
  progressLines, progressTone, settle, statusLine, storeLine, teamError, tokenError,
} from "./friendli-logic.js";
import { translator } from "./friendli-strings.js";

const WIDGET = "friendli_progress";
const WIDGET_HEIGHT = 70; // includes the DOM widget margin (6 px above and below)

const css = document.createElement("link");
css.rel = "stylesheet";
css.href = new URL("./friendli.css", import.meta.url).href;
document.head.append(css);

/** ComfyUI's UI language ("en", "zh", "ja", "ko" …). */
function language() {
  try {
    return app.extensionManager?.setting?.get?.("Comfy.Locale") ?? app.ui?.settings?.getSettingValue?.("Comfy.Locale") ?? "en";
  } catch {
    return "en";
  }
}

const tr = (key, vars) => translator(language())(key, vars);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// ---- settings panel --------------------------------------------------------------------------
// Three rows of one group; the custom setting types never call their setter, so the settings store
// (and comfy.settings.json) only ever holds the empty default.
const panel = { token: null, team: null, status: null, message: null, busy: false };

async function call(path, method = "GET", body = undefined) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await api.fetchApi(path, init);
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) throw new Error(errorMessage(resp.status, data, language()));
  return data;
}

const request = (method, body) => call(method === "GET" ? "/friendli/status" : "/friendli/credentials", method, body);

function showStatus(status) {
  if (!panel.status) return;
  const { text, tone } = statusLine(status, language());
  panel.status.textContent = text;
  panel.status.dataset.tone = tone;
  if (status?.credentials_file) panel.status.title = `Stored in ${status.credentials_file}`;
  if (panel.team && !panel.team.value && status?.team) panel.team.value = status.team;
}

function say(text, tone = "ok") {
  if (!panel.message) return;
  panel.message.textContent = text;
  panel.message.dataset.tone = tone;
}

async function refreshStatus() {
  try {
    showStatus(await request("GET"));
  } catch (err) {
    showStatus({ error: tr("status.unreadable", { error: err.message }) });
  }
}

async function act(method) {
  if (panel.busy) return;
  const token = (panel.token?.value ?? "").trim();
  const team = (panel.team?.value ?? "").trim();
  if (method === "POST") {
    const problem = (token ? tokenError(token, language()) : null) ?? teamError(team, language());
    if (problem) return say(problem, "error");
  }
  panel.busy = true;
  try {
    const status = await request(method, method === "POST" ? { token, team } : undefined);
    if (panel.token) panel.token.value = "";
    if (method === "DELETE" && panel.team) panel.team.value = "";
    showStatus(status);
    say(tr(method === "POST" ? "key.saved" : "key.removed"));
  } catch (err) {
    say(err.message, "error");
  } finally {
    panel.busy = false;
  }
}

function onEnter(event) {
  event.stopPropagation(); // keep ComfyUI's shortcuts out of the field
  if (event.key === "Enter") act("POST");
}

function renderKey() {
  panel.token = el("input", {
    type: "password", className: "friendli-input", autocomplete: "off", spellcheck: false,
    placeholder: tr("key.placeholder"), ariaLabel: "Friendli API key",
  });
  panel.token.dataset.testid = "friendli-token";
  panel.token.addEventListener("keydown", onEnter);
  const save = button(tr("key.save"), "friendli-save", () => act("POST"));
  const clear = button(tr("key.clear"), "friendli-clear", () => act("DELETE"));
  return el("div", { className: "friendli-row" }, panel.token, save, clear);
}

function renderTeam() {
  panel.team = el("input", {
    type: "text", className: "friendli-input", autocomplete: "off", spellcheck: false,
    placeholder: tr("team.placeholder"), ariaLabel: "Friendli team id",
  });
  panel.team.dataset.testid = "friendli-team";
  panel.team.addEventListener("keydown", onEnter);
  return panel.team;
}

function renderStatus() {
  panel.status = el("span", { className: "friendli-status", textContent: "…" });
  panel.message = el("span", { className: "friendli-message" });
  panel.status.dataset.testid = "friendli-status";
  panel.message.dataset.testid = "friendli-message";
  refreshStatus();
  return el("div", { className: "friendli-status-box" }, panel.status, panel.message);
}

function button(text, testid, onClick) {
  const b = el("button", { type: "button", className: "friendli-button", textContent: text });
  b.dataset.testid = testid;
  b.addEventListener("click", onClick);
  return b;
}

function line(testid) {
  const span = el("span", { className: "friendli-message" });
  span.dataset.testid = testid;
  return span;
}

function show(span, text, tone = "ok") {
  span.textContent = text;
  span.dataset.tone = tone;
}

function stopKeys(input) {
  input.addEventListener("keydown", (event) => event.stopPropagation()); // keep ComfyUI's shortcuts out
  return input;
}

// Server-side preferences (GET/POST /friendli/preferences), read once per panel opening.
let prefsPromise = null;
const loadPrefs = () => (prefsPromise ??= call("/friendli/preferences").catch(() => null));

async function savePrefs(update, out) {
  try {
    prefsPromise = Promise.resolve(await call("/friendli/preferences", "POST", update));
    show(out, tr("prefs.saved"));
  } catch (err) {
    show(out, err.message, "error");
  }
}

function renderTrustedHosts() {
  prefsPromise = null;
  const input = stopKeys(el("input", { type: "text", className: "friendli-input friendli-wide", spellcheck: false,
    placeholder: tr("hosts.placeholder"), ariaLabel: "Friendli trusted hosts" }));
  input.dataset.testid = "friendli-trusted-hosts";
  const out = line("friendli-trusted-hosts-message");
  const save = button(tr("key.save"), "friendli-trusted-hosts-save",
    () => savePrefs({ trusted_hosts: parseHosts(input.value) }, out));
  loadPrefs().then((p) => { if (p) input.value = p.trusted_hosts.join(", "); });
  return el("div", { className: "friendli-status-box" }, el("div", { className: "friendli-row" }, input, save), out);
}

function renderNumber(field, testid, { min, max, step }) {
  return () => {
    const input = stopKeys(el("input", { type: "number", className: "friendli-input friendli-narrow", min, max, step }));
    input.dataset.testid = testid;
    const out = line(`${testid}-message`);
    loadPrefs().then((p) => { if (p) input.value = p[field]; });
    input.addEventListener("change", () => savePrefs({ [field]: Number(input.value) }, out));
    return el("div", { className: "friendli-row" }, input, out);
  };
}

function renderToggle(field, testid) {
  return () => {
    const box = el("input", { type: "checkbox", className: "friendli-check" });
    box.dataset.testid = testid;
    const out = line(`${testid}-message`);
    loadPrefs().then((p) => { if (p) box.checked = !!p[field]; });
    box.addEventListener("change", () => savePrefs({ [field]: box.checked }, out));
    return el("div", { className: "friendli-row" }, box, out);
  };
}

function renderStore() {
  const out = line("friendli-store-size");
  const refresh = (promise) => promise.then((info) => show(out, storeLine(info, language())))
    .catch((err) => show(out, err.message, "error"));
  const clear = button(tr("store.clear"), "friendli-store-clear", () => refresh(call("/friendli/store", "DELETE")));
  refresh(call("/friendli/store"));
  return el("div", { className: "friendli-row" }, out, clear);
}

function renderEndpointTest() {
  const input = stopKeys(el("input", { type: "text", className: "friendli-input", spellcheck: false,
    placeholder: tr("endpoint.placeholder"), ariaLabel: "Friendli endpoint id" }));
  input.dataset.testid = "friendli-endpoint-id";
  const out = line("friendli-endpoint-message");
  async function run(action) {
    const endpointId = input.value.trim();
    if (!endpointId) return show(out, tr("endpoint.empty"), "error");
    if (action === "sleep" && !window.confirm(tr("endpoint.confirmSleep", { id: endpointId }))) return;
    show(out, "…");
    try {
      const answer = await call(`/friendli/endpoint/${action}`, "POST", { endpoint_id: endpointId });
      show(out, endpointLine(answer, language()), answer.status === "FAILED" ? "error" : "ok");
    } catch (err) {
      show(out, err.message, "error");
    }
  }
  const test = button(tr("endpoint.test"), "friendli-test-connection", () => run("status"));
  const sleep = button(tr("endpoint.sleep"), "friendli-sleep-now", () => run("sleep"));
  return el("div", { className: "friendli-status-box" }, el("div", { className: "friendli-row" }, input, test, sleep), out);
}

// Frontend settings of custom types: they never call their setter, so comfy.settings.json only holds the
// empty default; names and tooltips are translated by the frontend from locales/<lang>/settings.json.
const settings = [
  ["APIKey", "API key", renderKey, 3, "Key",
    "Saved in the credentials file of ComfyUI's user directory (mode 0600). FRIENDLI_TOKEN in the environment wins."],
  ["Team", "Team (optional)", renderTeam, 2, "Key", "Sent as X-Friendli-Team; saved with the key (Save above)."],
  ["Status", "Status", renderStatus, 1, "Key", undefined],
  ["TrustedHosts", "Trusted hosts", renderTrustedHosts, 3, "Endpoint",
    "Extra hosts that may receive your API key when a workflow names them as base URL (besides api.friendli.ai and FRIENDLI_BASE_URL). host trusts every port, host:port one; plain http only on this machine."],
  ["EndpointTest", "Test connection", renderEndpointTest, 2, "Endpoint",
    "Shows the endpoint's state (or why the key or team was refused) without sending an edit; Sleep now puts it to sleep."],
  ["WakeOnQueue", "Wake endpoints when a prompt is queued", renderToggle("wake_on_queue", "friendli-wake-on-queue"), 1,
    "Endpoint", "Starts waking the prompt's sleeping endpoints as soon as it is queued, so the cold start overlaps the local nodes."],
  ["MaxInFlight", "Requests in flight per endpoint", renderNumber("max_in_flight", "friendli-max-in-flight",
    { min: 1, max: 64, step: 1 }), 1, "Requests",
    "Shared by every node and prompt (default 8). A 429 from the endpoint halves it; each success adds one back."],
  ["ResultStore", "Keep results (result store)", renderToggle("result_store", "friendli-result-store"), 3, "Results",
    "Answers a repeated request with a fixed seed from disk, without a new generation."],
  ["ResultStoreSize", "Result store size (GiB)", renderNumber("result_store_gib", "friendli-result-store-size",
    { min: 0.1, max: 1024, step: 0.5 }), 2, "Results", "The least recently used results go first when it is full."],
  ["ResultStoreClear", "Stored results", renderStore, 1, "Results", undefined],
].map(([id, name, type, sortOrder, section, tooltip]) => ({
  id: `Friendli.${id}`, name, type, sortOrder, tooltip, category: ["Friendli", section, name], defaultValue: "",
}));

// ---- live progress on the node ---------------------------------------------------------------
const states = new Map(); // event node id -> display state
let ticker = null;

function findNode(id) {
  return findNodeByExecutionId(app.graph ?? app.canvas?.graph, id); // execution ids start at the root graph
}

function progressWidget(node) {
  let widget = node.widgets?.find((w) => w.name === WIDGET);
  if (widget) return widget;
  const bar = el("div", { className: "friendli-bar-fill" });
  const lines = [el("div", { className: "friendli-line" }), el("div", { className: "friendli-line friendli-sub" })];
  const box = el("div", { className: "friendli-progress" }, el("div", { className: "friendli-bar" }, bar), ...lines);
  box.dataset.testid = "friendli-progress";
  widget = node.addDOMWidget(WIDGET, "friendli-progress", box, {
    serialize: false, margin: 6, getValue: () => "", setValue: () => {},
    getMinHeight: () => WIDGET_HEIGHT, getMaxHeight: () => WIDGET_HEIGHT,
  });
  widget.serialize = false; // not in widgets_values nor in the prompt
  widget.friendli = { box, bar, lines };
  node.expandToFitContent?.();
  return widget;
}

function draw(id, now) {
  const state = states.get(id);
  const node = state && findNode(id);
  if (!node) return;
  const { box, bar, lines } = progressWidget(node).friendli;
  const text = progressLines(state, now, language());
  box.dataset.tone = progressTone(state);
  box.dataset.state = state.state;
  bar.style.width = `${(progressFraction(state) * 100).toFixed(1)}%`;
  lines.forEach((line, i) => { line.textContent = text[i] ?? ""; });
  node.setDirtyCanvas?.(true, false);
}

function tick() {
  const now = performance.now();
  let running = false;
  for (const [id, state] of states) {
    if (!isTicking(state)) continue;
    running = true;
    draw(id, now);
  }
  if (!running) {
    clearInterval(ticker);
    ticker = null;
  }
}

function onProgress(event) {
  const now = performance.now();
  const id = String(event.detail?.node ?? "");
  const state = applyProgress(states.get(id), event.detail, now);
  if (!state) return;
  states.set(id, state);
  draw(id, now);
  if (isTicking(state) && !ticker) ticker = setInterval(tick, 250);
}

function onPromptEnd() {
  const now = performance.now();
  for (const [id, state] of states) {
    if (!isTicking(state)) continue;
    states.set(id, settle(state, now));
    draw(id, now);
  }
}

app.registerExtension({
  name: "friendli.settings",
  settings,
  setup() {
    api.addEventListener("friendli.progress", onProgress);
    for (const type of ["execution_error", "execution_interrupted", "execution_success"]) {
      api.addEventListener(type, onPromptEnd);
    }
  },
});
