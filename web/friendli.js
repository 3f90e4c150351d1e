// Friendli extension for the ComfyUI frontend: the "Friendli" settings panel (the API key goes only to
// POST /friendli/credentials, never into a setting, local storage, the workflow or the console; the
// other settings live on the server, in preferences.json) and live progress on Friendli nodes from the
// `friendli.progress` websocket events. Texts follow ComfyUI's language (Comfy.Locale), English otherwise.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  applyProgress, endpointLine, endpointTone, errorMessage, findNodeByExecutionId, isTicking, parseHosts, progressFraction,
  progressLines, progressTone, settingDeclarations, settle, statusLine, storeLine, teamError, tokenError,
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
  if (status?.credentials_file) panel.status.title = tr("status.storedIn", { path: status.credentials_file });
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
    placeholder: tr("key.placeholder"), ariaLabel: tr("aria.key"),
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
    placeholder: tr("team.placeholder"), ariaLabel: tr("aria.team"),
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

// Server-side preferences (GET/POST /friendli/preferences): the rows rendered together when the panel opens
// share one GET; a later opening reads them again (the command line or another tab may have changed them).
const PREFS_SHARED_MS = 2000;
let prefsPromise = null;
let prefsAt = 0;
function loadPrefs() {
  const now = Date.now();
  if (!prefsPromise || now - prefsAt > PREFS_SHARED_MS) {
    prefsPromise = call("/friendli/preferences").catch(() => null);
    prefsAt = now;
  }
  return prefsPromise;
}

const storeRefreshers = new Set(); // the "Stored results" line follows the store switch and its size

/** POST one change; on success the answer is the new preferences, on failure the field shows the server's value. */
async function savePrefs(update, out, restore) {
  try {
    const saved = await call("/friendli/preferences", "POST", update);
    prefsPromise = Promise.resolve(saved);
    prefsAt = Date.now();
    show(out, tr("prefs.saved"));
    if ("result_store" in update || "result_store_gib" in update) storeRefreshers.forEach((refresh) => refresh());
  } catch (err) {
    show(out, err.message, "error");
    prefsAt = 0;
    const current = await loadPrefs();
    if (current && restore) restore(current);
  }
}

function renderTrustedHosts() {
  const input = stopKeys(el("input", { type: "text", className: "friendli-input friendli-wide", spellcheck: false,
    placeholder: tr("hosts.placeholder"), ariaLabel: tr("aria.hosts") }));
  input.dataset.testid = "friendli-trusted-hosts";
  const out = line("friendli-trusted-hosts-message");
  const save = button(tr("key.save"), "friendli-trusted-hosts-save",
    () => savePrefs({ trusted_hosts: parseHosts(input.value) }, out));
  loadPrefs().then((p) => { if (p) input.value = p.trusted_hosts.join(", "); });
  return el("div", { className: "friendli-status-box" }, el("div", { className: "friendli-row" }, input, save), out);
}

function renderNumber(field, testid, aria, { min, max, step }) {
  return () => {
    const input = stopKeys(el("input", { type: "number", className: "friendli-input friendli-narrow", min, max, step,
      ariaLabel: tr(aria) }));
    input.dataset.testid = testid;
    const out = line(`${testid}-message`);
    const restore = (p) => { input.value = p[field]; };
    loadPrefs().then((p) => { if (p) restore(p); });
    input.addEventListener("change", () => savePrefs({ [field]: Number(input.value) }, out, restore));
    return el("div", { className: "friendli-row" }, input, out);
  };
}

function renderToggle(field, testid, aria) {
  return () => {
    const box = el("input", { type: "checkbox", className: "friendli-check", ariaLabel: tr(aria) });
    box.dataset.testid = testid;
    const out = line(`${testid}-message`);
    const restore = (p) => { box.checked = !!p[field]; };
    loadPrefs().then((p) => { if (p) restore(p); });
    box.addEventListener("change", () => savePrefs({ [field]: box.checked }, out, restore));
    return el("div", { className: "friendli-row" }, box, out);
  };
}

function renderStore() {
  const out = line("friendli-store-info");
  const display = (promise, done = "") => promise.then((info) => show(out, done + storeLine(info, language())))
    .catch((err) => show(out, err.message, "error"));
  const clear = button(tr("store.clear"), "friendli-store-clear", async () => {
    clear.disabled = true;
    await display(call("/friendli/store", "DELETE"), `${tr("store.cleared")} `);
    clear.disabled = false;
  });
  storeRefreshers.clear(); // one panel at a time: the rows of an earlier opening are gone
  storeRefreshers.add(() => display(call("/friendli/store")));
  display(call("/friendli/store"));
  return el("div", { className: "friendli-row" }, out, clear);
}

function renderEndpointTest() {
  const input = stopKeys(el("input", { type: "text", className: "friendli-input", spellcheck: false,
    placeholder: tr("endpoint.placeholder"), ariaLabel: tr("aria.endpoint") }));
  input.dataset.testid = "friendli-endpoint-id";
  const out = line("friendli-endpoint-message");
  async function run(action) {
    const endpointId = input.value.trim();
    if (!endpointId) return show(out, tr("endpoint.empty"), "error");
    if (action === "sleep" && !window.confirm(tr("endpoint.confirmSleep", { id: endpointId }))) return;
    show(out, tr("endpoint.asking"));
    test.disabled = sleep.disabled = true;
    try {
      const answer = await call(`/friendli/endpoint/${action}`, "POST", { endpoint_id: endpointId });
      show(out, endpointLine(answer, language()), endpointTone(answer));
    } catch (err) {
      show(out, err.message, "error");
    } finally {
      test.disabled = sleep.disabled = false;
    }
  }
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") run("status"); });
  const test = button(tr("endpoint.test"), "friendli-test-connection", () => run("status"));
  const sleep = button(tr("endpoint.sleep"), "friendli-sleep-now", () => run("sleep"));
  return el("div", { className: "friendli-status-box" }, el("div", { className: "friendli-row" }, input, test, sleep), out);
}

// Frontend settings of custom types (SETTINGS in friendli-logic.js): they never call their setter, so
// comfy.settings.json only holds the empty default; the frontend translates names, tooltips and group labels
// from locales/<lang>/settings.json and main.json.
const settings = settingDeclarations({
  "Friendli.APIKey": renderKey,
  "Friendli.Team": renderTeam,
  "Friendli.Status": renderStatus,
  "Friendli.TrustedHosts": renderTrustedHosts,
  "Friendli.EndpointTest": renderEndpointTest,
  "Friendli.WakeOnQueue": renderToggle("wake_on_queue", "friendli-wake-on-queue", "aria.wake"),
  "Friendli.MaxInFlight": renderNumber("max_in_flight", "friendli-max-in-flight", "aria.maxInFlight",
    { min: 1, max: 64, step: 1 }),
  "Friendli.ResultStore": renderToggle("result_store", "friendli-result-store", "aria.store"),
  "Friendli.ResultStoreSize": renderNumber("result_store_gib", "friendli-result-store-size", "aria.storeSize",
    { min: 0.1, max: 1024, step: 0.1 }),
  "Friendli.ResultStoreClear": renderStore,
});

// ---- live progress on the node ---------------------------------------------------------------
const states = new Map(); // event node id -> display state
let ticker = null;

function findNode(id) {
  // execution ids start at the root graph ("12:5" = node 5 inside subgraph node 12), whatever the canvas shows
  return findNodeByExecutionId(app.rootGraph ?? app.graph, id);
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
