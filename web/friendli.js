// Friendli extension for the ComfyUI frontend: the "Friendli" settings panel (the API key goes only to
// POST /friendli/credentials, never into a setting, local storage, the workflow or the console) and
// live progress on Friendli nodes from the `friendli.progress` websocket events.
import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";
import {
  applyProgress, errorMessage, isTicking, nodeIdCandidates, progressFraction, progressLines, progressTone,
  settle, statusLine, teamError, tokenError,
} from "./friendli-logic.js";

const WIDGET = "friendli_progress";
const WIDGET_HEIGHT = 70; // includes the DOM widget margin (6 px above and below)

const css = document.createElement("link");
css.rel = "stylesheet";
css.href = new URL("./friendli.css", import.meta.url).href;
document.head.append(css);

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

// ---- settings panel --------------------------------------------------------------------------
// Three rows of one group; the custom setting types never call their setter, so the settings store
// (and comfy.settings.json) only ever holds the empty default.
const panel = { token: null, team: null, status: null, message: null, busy: false };

async function request(method, body) {
  const init = { method, headers: { "Content-Type": "application/json" } };
  if (body !== undefined) init.body = JSON.stringify(body);
  const resp = await api.fetchApi(method === "GET" ? "/friendli/status" : "/friendli/credentials", init);
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) throw new Error(errorMessage(resp.status, data));
  return data;
}

function showStatus(status) {
  if (!panel.status) return;
  const { text, tone } = statusLine(status);
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
    showStatus({ error: `Could not read the status: ${err.message}` });
  }
}

async function act(method) {
  if (panel.busy) return;
  const token = (panel.token?.value ?? "").trim();
  const team = (panel.team?.value ?? "").trim();
  if (method === "POST") {
    const problem = (token ? tokenError(token) : null) ?? teamError(team);
    if (problem) return say(problem, "error");
  }
  panel.busy = true;
  try {
    const status = await request(method, method === "POST" ? { token, team } : undefined);
    if (panel.token) panel.token.value = "";
    if (method === "DELETE" && panel.team) panel.team.value = "";
    showStatus(status);
    say(method === "POST" ? "Saved on the server." : "Removed from the server.");
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
    placeholder: "flp_…", ariaLabel: "Friendli API key",
  });
  panel.token.dataset.testid = "friendli-token";
  panel.token.addEventListener("keydown", onEnter);
  const save = el("button", { type: "button", className: "friendli-button", textContent: "Save" });
  const clear = el("button", { type: "button", className: "friendli-button", textContent: "Clear" });
  save.dataset.testid = "friendli-save";
  clear.dataset.testid = "friendli-clear";
  save.addEventListener("click", () => act("POST"));
  clear.addEventListener("click", () => act("DELETE"));
  return el("div", { className: "friendli-row" }, panel.token, save, clear);
}

function renderTeam() {
  panel.team = el("input", {
    type: "text", className: "friendli-input", autocomplete: "off", spellcheck: false,
    placeholder: "default team", ariaLabel: "Friendli team id",
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

const group = ["Friendli", "API key"];
const settings = [
  { id: "Friendli.APIKey", name: "API key", type: renderKey, sortOrder: 3,
    tooltip: "Saved in the credentials file of ComfyUI's user directory (mode 0600). FRIENDLI_TOKEN in the environment wins." },
  { id: "Friendli.Team", name: "Team (optional)", type: renderTeam, sortOrder: 2,
    tooltip: "Sent as X-Friendli-Team; saved with the key (Save above)." },
  { id: "Friendli.Status", name: "Status", type: renderStatus, sortOrder: 1 },
].map((s) => ({ ...s, category: [...group, s.name], defaultValue: "" }));

// ---- live progress on the node ---------------------------------------------------------------
const states = new Map(); // event node id -> display state
let ticker = null;

function findNode(id) {
  for (const graph of [app.graph, app.canvas?.graph]) {
    for (const candidate of nodeIdCandidates(id)) {
      const node = graph?.getNodeById?.(candidate);
      if (node) return node;
    }
  }
  return null;
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
  const text = progressLines(state, now);
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
