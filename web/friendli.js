// Friendli extension for the ComfyUI frontend: the "Friendli" settings panel (the API key goes only to
// POST /friendli/credentials, never into a setting, local storage, the workflow or the console; the
// other settings live on the server, in preferences.json) and live progress on Friendli nodes from the
// `friendli.progress` websocket events. Texts follow ComfyUI's language (Comfy.Locale), English otherwise.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  ADVANCED_WIDGETS, FRIENDLI_NODES, PAID_COLORS, PICKER_NODES, PICKER_WIDGET, RUN_NODES, advancedLabel, applyProgress,
  badgeColors, barMode, compactValues, confirmText, endpointLine, endpointRow, endpointTone, errorMessage, errorTitle,
  filterEndpoints, findNodeByExecutionId, isTicking, parseConfirm, parseEndpointList, pickerIndex,
  pickerNote, pickerRequest, progressFraction, progressLines, progressTone, settingDeclarations, settle, statusLine,
  storeLine, teamError, tokenError,
} from "./friendli-logic.js";
import {
  PREVIEW_WIDGETS, heldSize, hostEntries, hostsProblem, orderTemplates, packFolder, parkSlot, promptHold,
} from "./friendli-layout.js";
import { translator } from "./friendli-strings.js";
import { wrapQueuePrompt } from "./friendli-errors.js";

const WIDGET = "friendli_progress";
const WIDGET_HEIGHT = 86; // bar and three lines, with the DOM widget margin (6 px above and below)
const TOGGLE = "friendli_advanced";
const PROMPT_ROOM = 60; // extra height at creation so the prompt box shows about six lines

wrapQueuePrompt(api); // each setup problem of a Friendli node on its own field (friendli-errors.js)

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
const panel = { token: null, team: null, status: null, message: null, busy: false, configured: null, stale: new Set() };

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
  if (typeof status?.configured === "boolean") panel.configured = status.configured;
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
  if (method === "DELETE" && !window.confirm(tr("key.confirmClear"))) return;
  panel.busy = true;
  try {
    const status = await request(method, method === "POST" ? { token, team } : undefined);
    if (panel.token) panel.token.value = "";
    if (method === "DELETE" && panel.team) panel.team.value = "";
    showStatus(status);
    say(tr(method === "POST" ? "key.saved" : "key.removed"));
    for (const line of panel.stale) show(line, ""); // errors from before the change no longer hold
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
  const save = button(tr("key.save"), "friendli-trusted-hosts-save", () => {
    const hosts = hostEntries(input.value); // one host per comma or line: "http://bad host" is one bad entry
    const problem = hostsProblem(hosts, language());
    if (problem) return show(out, problem, "error");
    return savePrefs({ trusted_hosts: hosts }, out);
  });
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

function renderChoice(field, testid, aria, values) {
  return () => {
    const select = stopKeys(el("select", { className: "friendli-input friendli-choice", ariaLabel: tr(aria) }));
    select.append(...values.map((value) => el("option", { value, textContent: tr(`headless.${value}`) })));
    select.dataset.testid = testid;
    const out = line(`${testid}-message`);
    const restore = (p) => { select.value = p[field]; };
    loadPrefs().then((p) => { if (p) restore(p); });
    select.addEventListener("change", () => savePrefs({ [field]: select.value }, out, restore));
    return el("div", { className: "friendli-row" }, select, out);
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
  panel.stale.clear(); // one panel at a time: the rows of an earlier opening are gone
  panel.stale.add(out);
  async function run(action) {
    const endpointId = input.value.trim();
    if (panel.configured === false) return show(out, tr("endpoint.noKey"), "error");
    if (!endpointId) return show(out, tr("endpoint.empty"), "error");
    if (action === "sleep" && !window.confirm(tr("endpoint.confirmSleep", { id: endpointId }))) return;
    show(out, tr("endpoint.asking"));
    test.disabled = sleep.disabled = true;
    try {
      const answer = await call(`/friendli/endpoint/${action}`, "POST", { endpoint_id: endpointId });
      const prefs = await loadPrefs();
      show(out, endpointLine(answer, language(), prefs?.price_per_gpu_hour), endpointTone(answer));
    } catch (err) {
      show(out, err.message, "error");
    } finally {
      test.disabled = sleep.disabled = false;
    }
  }
  input.addEventListener("keydown", (event) => { if (event.key === "Enter") run("status"); });
  const pick = button(tr("picker.button"), "friendli-endpoint-pick", () => openPicker({
    anchor: input, request: pickerRequest(), current: input.value.trim(),
    onPick: (id) => { input.value = id; show(out, ""); },
  }));
  pick.title = tr("aria.picker");
  const test = button(tr("endpoint.test"), "friendli-test-connection", () => run("status"));
  const sleep = button(tr("endpoint.sleep"), "friendli-sleep-now", () => run("sleep"));
  return el("div", { className: "friendli-status-box" },
    el("div", { className: "friendli-row" }, input, pick, test, sleep), out);
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
  "Friendli.PricePerGpuHour": renderNumber("price_per_gpu_hour", "friendli-price", "aria.price",
    { min: 0, max: 10000, step: 0.01 }),
  "Friendli.ConfirmOver": renderNumber("confirm_over", "friendli-confirm-over", "aria.confirmOver",
    { min: 0, max: 4096, step: 1 }),
  "Friendli.ConfirmHeadless": renderChoice("confirm_headless", "friendli-confirm-headless", "aria.headless",
    ["send", "skip"]),
  "Friendli.MemoryBudget": renderNumber("memory_budget_mib", "friendli-memory-budget", "aria.memory",
    { min: 64, max: 65536, step: 64 }),
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
  const track = el("div", { className: "friendli-bar" }, bar);
  const lines = [0, 1, 2].map((i) => el("div", { className: i ? "friendli-line friendli-sub" : "friendli-line" }));
  lines[0].textContent = tr("progress.idle");
  const box = el("div", { className: "friendli-progress" }, track, ...lines);
  box.dataset.testid = "friendli-progress";
  box.dataset.state = "idle";
  widget = node.addDOMWidget(WIDGET, "friendli-progress", box, {
    serialize: false, margin: 6, getValue: () => "", setValue: () => {},
    getMinHeight: () => WIDGET_HEIGHT, getMaxHeight: () => WIDGET_HEIGHT,
  });
  widget.serialize = false; // not in widgets_values nor in the prompt
  widget.friendli = { box, track, bar, lines };
  return widget;
}

function draw(id, now) {
  const state = states.get(id);
  const node = state && findNode(id);
  if (!node) return;
  const widget = node.widgets?.find((w) => w.name === WIDGET) ?? progressWidget(node);
  const { box, track, bar, lines } = widget.friendli;
  const text = progressLines(state, now, language());
  box.dataset.tone = progressTone(state);
  box.dataset.state = state.state;
  track.dataset.mode = barMode(state);
  bar.style.width = `${(progressFraction(state, now) * 100).toFixed(1)}%`;
  lines.forEach((line, i) => { line.textContent = text[i] ?? ""; });
  node.setDirtyCanvas?.(true, false);
}

// ---- the Friendli nodes: remote and billed, creative controls first, a fixed place for progress ------
const NODE_WIDGET_HEIGHT = () => window.LiteGraph?.NODE_WIDGET_HEIGHT ?? 20;

/** The badge beside ComfyUI's price badges, in the UI language and the palette's colours. */
function addBadge(node) {
  const Badge = window.LGraphBadge;
  if (typeof Badge !== "function" || !Array.isArray(node.badges)) return;
  let cached = null;
  let key = "";
  node.badges.push(() => {
    const text = tr("badge.text");
    const colors = badgeColors(window.LiteGraph?.BADGE_FG_COLOR);
    if (!cached || key !== text + colors.bgColor) {
      cached = new Badge({ text, ...colors });
      key = text + colors.bgColor;
    }
    return cached;
  });
}

/** Keeps the node's size fitting its rows: grows or shrinks by what the advanced rows add or take. */
function resizeBy(node, change) {
  const before = node.computeSize()[1];
  change();
  const after = node.computeSize()[1];
  node.setSize?.([node.size[0], Math.max(after, node.size[1] + after - before)]);
  node.setDirtyCanvas?.(true, true);
}

/**
 * The transport widgets go behind the frontend's own advanced flag (``widget.advanced``, shown with
 * ``node.showAdvanced``, which the workflow keeps at node level): values, widgets_values and the prompt
 * are untouched. On the classic canvas a hidden row also takes no height, and a button (never saved,
 * not drawn in Vue nodes, which have their own "show advanced" footer) opens and closes them.
 */
function setupAdvanced(node) {
  const hidden = (node.widgets ?? []).filter((w) => ADVANCED_WIDGETS.includes(w.name));
  if (!hidden.length) return;
  for (const widget of hidden) {
    widget.advanced = true;
    // 1.49's Vue nodes read widget.options.advanced first, which the frontend sets (undefined) from the input spec
    if (widget.options) widget.options.advanced = true;
    const own = widget.computeSize;
    widget.computeSize = function (width) {
      if (!node.showAdvanced) return [0, -4]; // no row (frontend 1.27 lays out hidden widgets too)
      return own ? own.call(this, width) : [width ?? node.size[0], NODE_WIDGET_HEIGHT()];
    };
  }
  const label = () => advancedLabel(!!node.showAdvanced, hidden.length, language());
  const toggle = node.addWidget("button", TOGGLE, null, () => {
    resizeBy(node, () => { node.showAdvanced = !node.showAdvanced; });
    toggle.label = label();
  }, { serialize: false, canvasOnly: true });
  toggle.serialize = false;
  toggle.label = label();
  const drawn = node.onDrawForeground;
  node.onDrawForeground = function (...args) {
    const text = label(); // follows the node menu's "Show Advanced" and the language too
    if (toggle.label !== text) toggle.label = text;
    return drawn?.apply(this, args);
  };
}

// ---- the classic canvas: batch previews get room of their own; hidden rows answer no hover --------------
const vueNodes = () => !!window.LiteGraph?.vueNodesMode; // Vue nodes lay out (and grow) a node themselves
const PARKED = 1e6; // how far above the node the slots of hidden widgets go (graph units)

/**
 * While the frontend shows preview images on the node (a batch running, and after it), the prompt box keeps the
 * height it had without them and the canvas grows the node for the preview (see promptHold in friendli-layout.js).
 */
function keepPromptRoom(node) {
  const prompt = node.widgets?.find((w) => w.name === "prompt");
  if (typeof prompt?.computeLayoutSize !== "function") return;
  let hold = 0;
  let free = 0;
  const own = prompt.computeLayoutSize;
  prompt.computeLayoutSize = function (...args) {
    return heldSize(own.apply(this, args), hold);
  };
  const drawn = node.onDrawForeground;
  node.onDrawForeground = function (...args) { // each frame, before the canvas arranges the widgets
    const preview = !vueNodes() && !!this.widgets?.some((w) => PREVIEW_WIDGETS.includes(w.name));
    if (!preview && prompt.computedHeight > 0) free = prompt.computedHeight;
    hold = promptHold(hold, free, preview);
    return drawn?.apply(this, args);
  };
}

/**
 * A hidden advanced widget keeps its input slot; laid out with no height, the slot sat on the next visible row,
 * so hovering mask_mode showed response_format's tooltip (frontend 1.27 to 1.58). Such slots move out of reach
 * (see parkSlot); where they are drawn is unchanged.
 */
function parkHiddenSlots(node) {
  const own = node.getInputPos;
  if (typeof own !== "function") return;
  node.getInputPos = function (index) {
    const pos = own.call(this, index);
    const input = this.inputs?.[index];
    const name = input?.widget?.name;
    if (!name || vueNodes()) return pos;
    const widget = this.widgets?.find((w) => w.name === name);
    if (!widget || !parkSlot(input, this.isWidgetVisible?.(widget) ?? true)) return pos;
    return [pos[0], this.pos[1] - PARKED];
  };
}

function nodeCreated(node) {
  const type = node.comfyClass ?? node.type;
  if (!FRIENDLI_NODES.includes(type)) return;
  if (!node.color && !node.bgcolor) {
    const paid = window.LGraphCanvas?.node_colors?.yellow ?? PAID_COLORS;
    node.color = paid.color;
    node.bgcolor = paid.bgcolor;
  }
  addBadge(node);
  if (PICKER_NODES.includes(type)) addPicker(node);
  if (!RUN_NODES.includes(type)) return;
  setupAdvanced(node);
  progressWidget(node);
  keepPromptRoom(node);
  parkHiddenSlots(node);
  // a loaded workflow sets its own size after this; a new node gets room for every row and the prompt
  const size = node.computeSize();
  node.setSize?.([Math.max(node.size?.[0] ?? 0, size[0]), size[1] + PROMPT_ROOM]);
}

// ---- the endpoint picker: a button under every endpoint_id field, a list from GET /friendli/endpoints ----
// The button is a plain button widget (drawn by the classic canvas and by Vue nodes alike), never saved: the
// workflow keeps only the endpoint id. The list opens as a small popup of its own beside the pointer.
const LIST_FRESH_MS = 30_000; // a list is asked again after this, or on Refresh
const lists = new Map(); // query -> {at, promise}
const picker = { box: null, cleanup: null };
let lastPointer = null;
window.addEventListener?.("pointerdown", (event) => { lastPointer = { x: event.clientX, y: event.clientY }; }, true);

function loadList(query, fresh) {
  const now = Date.now();
  const cached = lists.get(query);
  if (!fresh && cached && now - cached.at < LIST_FRESH_MS) return cached.promise;
  const promise = call(`/friendli/endpoints${query}`).then(parseEndpointList, (err) => ({ available: false, error: err.message }));
  lists.set(query, { at: now, promise });
  promise.then((list) => { if (!list.available) lists.delete(query); }); // only a list is worth keeping
  return promise;
}

function closePicker() {
  picker.cleanup?.();
  picker.box?.remove();
  picker.box = picker.cleanup = null;
}

/** Keep the popup inside the window: below ``anchor`` (an element or a point), else near the top middle. */
function place(box, anchor) {
  const width = box.offsetWidth || 420;
  const height = box.offsetHeight || 300;
  let x = (window.innerWidth - width) / 2;
  let y = window.innerHeight * 0.2;
  if (typeof anchor?.getBoundingClientRect === "function") {
    const rect = anchor.getBoundingClientRect();
    [x, y] = [rect.left, rect.bottom + 4];
  } else if (anchor) {
    [x, y] = [anchor.x - 24, anchor.y + 14];
  }
  // inside a dialog whose transform makes it the containing block, "fixed" counts from the dialog: measure it
  box.style.left = box.style.top = "0px";
  const origin = box.getBoundingClientRect();
  box.style.left = `${Math.max(8, Math.min(x, window.innerWidth - width - 8)) - origin.left}px`;
  box.style.top = `${Math.max(8, Math.min(y, window.innerHeight - height - 8)) - origin.top}px`;
}

/**
 * The list popup. ``request``: pickerRequest(...) ({query} or {blocked}); ``current``: the id in the field
 * (its row is marked); ``onPick(id)`` fills the field. Escape, a click outside or × close it.
 */
function openPicker({ anchor, request, current, onPick }) {
  closePicker();
  const lang = language();
  const filter = stopKeys(el("input", { type: "search", className: "friendli-input friendli-picker-filter",
    placeholder: tr("picker.filter"), ariaLabel: tr("picker.filter"), spellcheck: false, autocomplete: "off" }));
  filter.dataset.testid = "friendli-picker-filter";
  const listBox = el("div", { className: "friendli-picker-list", role: "listbox" });
  listBox.dataset.testid = "friendli-picker-list";
  const note = el("div", { className: "friendli-picker-note" });
  note.dataset.testid = "friendli-picker-message";
  const refresh = button(tr("picker.refresh"), "friendli-picker-refresh", () => load(true));
  const close = button("×", "friendli-picker-close", closePicker);
  close.title = close.ariaLabel = tr("picker.close");
  const head = el("div", { className: "friendli-picker-head" },
    el("span", { className: "friendli-picker-title", textContent: tr("picker.title") }), refresh, close);
  const box = el("div", { className: "friendli-picker", role: "dialog", ariaLabel: tr("aria.picker") },
    head, filter, listBox, note);
  box.dataset.testid = "friendli-picker";
  let list = null;

  function choose(id) {
    closePicker();
    onPick(id);
  }

  function render() {
    const usable = !!list?.available && list.endpoints.length > 0;
    const shown = usable ? filterEndpoints(list.endpoints, filter.value) : [];
    listBox.replaceChildren(...shown.map((endpoint) => {
      const row = endpointRow(endpoint, lang);
      const item = el("button", { type: "button", className: "friendli-picker-row", role: "option", title: row.id },
        el("span", { className: "friendli-picker-name", textContent: row.title }),
        el("span", { className: "friendli-picker-state", textContent: row.state }),
        el("span", { className: "friendli-picker-id", textContent: row.detail }),
        el("span", { className: "friendli-picker-gpu", textContent: row.gpu }));
      Object.assign(item.dataset, { testid: "friendli-picker-row", id: row.id, tone: row.tone });
      if (row.id === current) item.dataset.current = "true";
      item.addEventListener("click", () => choose(row.id));
      return item;
    }));
    filter.hidden = !usable;
    listBox.hidden = !usable;
    refresh.hidden = !!list?.blocked;
    note.textContent = pickerNote(list, lang, usable ? shown.length : null);
    note.dataset.tone = list && (list.blocked || list.error || !list.available) ? "warn" : "ok";
    box.dataset.state = !list ? "loading" : usable ? "list" : "message";
    place(box, anchor);
  }

  async function load(fresh) {
    if (request.blocked) {
      list = request;
      return render();
    }
    list = null;
    render();
    const answer = await loadList(request.query, fresh);
    if (picker.box !== box) return; // closed (or another one opened) meanwhile
    list = answer;
    render();
    if (document.activeElement === box && !filter.hidden) filter.focus({ preventScroll: true });
  }

  filter.addEventListener("input", render);
  box.addEventListener("keydown", (event) => {
    event.stopPropagation(); // keep ComfyUI's shortcuts out
    const rows = [...listBox.querySelectorAll("button")];
    const at = rows.indexOf(document.activeElement);
    if (event.key === "Escape") closePicker();
    else if (event.key === "ArrowDown" && rows.length) rows[Math.min(at + 1, rows.length - 1)].focus();
    else if (event.key === "ArrowUp" && rows.length) (at <= 0 ? filter : rows[at - 1]).focus();
    else if (event.key === "Enter" && event.target === filter && rows.length === 1) choose(rows[0].dataset.id);
    else return;
    event.preventDefault();
  });
  const outside = (event) => { if (!box.contains(event.target)) closePicker(); };
  const escape = (event) => { // also when the focus is elsewhere (no list to filter)
    if (event.key !== "Escape") return;
    event.stopPropagation();
    closePicker();
  };
  const timer = setTimeout(() => document.addEventListener("pointerdown", outside, true), 0);
  document.addEventListener("keydown", escape, true);
  picker.cleanup = () => {
    clearTimeout(timer);
    document.removeEventListener("pointerdown", outside, true);
    document.removeEventListener("keydown", escape, true);
  };
  picker.box = box;
  box.tabIndex = -1;
  // opened from a modal dialog (Settings): inside it, or its focus trap and outside-click guard would fight the list
  const host = anchor?.closest?.('[role="dialog"]') ?? document.body;
  host.append(box);
  load(false);
  (filter.hidden ? box : filter).focus({ preventScroll: true });
}

function setWidgetValue(node, widget, value) {
  const old = widget.value;
  widget.value = value;
  widget.callback?.(value, app.canvas, node);
  node.onWidgetChanged?.(widget.name, value, old, widget);
  node.setDirtyCanvas?.(true, true);
  app.graph?.change?.(); // the workflow counts as modified
}

/** The "⌄ pick endpoint" button right under the node's endpoint_id widget (never saved, see compactValues). */
function addPicker(node) {
  const at = pickerIndex(node.widgets);
  if (at < 0 || node.widgets.some((w) => w.name === PICKER_WIDGET)) return;
  const field = node.widgets[at - 1];
  const values = () => Object.fromEntries((node.widgets ?? [])
    .filter((w) => ["service", "base_url", "team"].includes(w.name)).map((w) => [w.name, w.value]));
  const pick = node.addWidget("button", PICKER_WIDGET, null, () => openPicker({
    anchor: lastPointer, request: pickerRequest(values()), current: String(field.value ?? "").trim(),
    onPick: (id) => setWidgetValue(node, field, id),
  }), { serialize: false });
  pick.serialize = false; // not in widgets_values nor in the prompt
  pick.label = tr("picker.button");
  const widgets = node.widgets;
  const from = widgets.indexOf(pick);
  if (from > at) {
    widgets.splice(from, 1);
    widgets.splice(at, 0, pick);
  }
  const serialized = node.onSerialize;
  node.onSerialize = function (data) {
    serialized?.call(this, data);
    if (data) data.widgets_values = compactValues(data.widgets_values);
  };
  const drawn = node.onDrawForeground;
  node.onDrawForeground = function (...args) {
    const text = tr("picker.button"); // follows the language
    if (pick.label !== text) pick.label = text;
    return drawn?.apply(this, args);
  };
}

// ---- the template browser: the pack's templates in name order, "Friendli - Edit an image" first ------------
// ComfyUI's server lists example_workflows/ in directory order (glob: by file-name hash on ext4), and the
// frontend keeps that order. Only this pack's list is sorted.
const PACK = packFolder(import.meta.url);
if (typeof api.getWorkflowTemplates === "function") {
  const listed = api.getWorkflowTemplates;
  api.getWorkflowTemplates = async function (...args) {
    return orderTemplates(await listed.apply(this, args), PACK);
  };
}

// ---- confirmation before a large run ---------------------------------------------------------
async function ask(title, message) {
  const dialog = app.extensionManager?.dialog;
  if (typeof dialog?.confirm === "function") return (await dialog.confirm({ title, message, type: "default" })) === true;
  return window.confirm(message);
}

/** `friendli.confirm` {id, node, requests, message}: ask, then POST /friendli/confirm {id, ok}; the node waits. */
async function onConfirm(event) {
  const data = parseConfirm(event.detail);
  if (!data) return;
  const { title, message } = confirmText(data, language());
  let ok = false;
  try {
    ok = await ask(title, message);
  } catch {
    ok = false;
  }
  try {
    await call("/friendli/confirm", "POST", { id: data.id, ok });
  } catch (err) {
    console.warn("[friendli] could not send the answer:", err.message);
  }
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

// The server puts the first line of its errors in this language (preferences.json `locale`; nothing secret).
let toldLocale = null;
function tellLocale() {
  const lang = language();
  if (lang === toldLocale) return;
  toldLocale = lang;
  call("/friendli/preferences", "POST", { locale: lang }).catch(() => { toldLocale = null; });
}

// ComfyUI titles a node's error with its class name ("FriendliImageEdit", execution_error's node_type): a Friendli
// node's error carries its title on the canvas instead, set before any listener (the dialog, the Issues tab) reads it.
if (typeof api.dispatchCustomEvent === "function") {
  const dispatchCustomEvent = api.dispatchCustomEvent.bind(api);
  api.dispatchCustomEvent = (type, detail) => {
    if (type === "execution_error") {
      const title = errorTitle(detail, app.rootGraph ?? app.graph);
      if (title) detail.node_type = title;
    }
    return dispatchCustomEvent(type, detail);
  };
}

app.registerExtension({
  name: "friendli.settings",
  settings,
  nodeCreated,
  setup() {
    tellLocale();
    api.addEventListener("status", tellLocale); // on connect and every queue change: a new Comfy.Locale follows
    api.addEventListener("friendli.progress", onProgress);
    api.addEventListener("friendli.confirm", onConfirm);
    for (const type of ["execution_error", "execution_interrupted", "execution_success"]) {
      api.addEventListener(type, onPromptEnd);
    }
  },
});
