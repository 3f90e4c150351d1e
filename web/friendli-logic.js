// Pure logic of the Friendli extension: no DOM, no ComfyUI imports, only exports.
// ComfyUI loads every .js under web/ as an extension; loading this one does nothing.
// Unit-tested by tests/web/*.test.mjs under `node --test tests/web/`. Texts come from friendli-strings.js.
import { translator } from "./friendli-strings.js";

export const TOKEN_MIN = 8;
export const TOKEN_MAX = 512;
export const TEAM_MAX = 128;
const STATES = ["running", "done", "error", "cancelled"];

/**
 * The settings of Settings > Friendli (all custom-typed rows drawn by web/friendli.js), in English: the
 * frontend shows locales/<lang>/settings.json's name and tooltip for each id (dots as "_"), and the group
 * labels from main.json's settingsCategories. Group keys carry the Friendli prefix because settingsCategories
 * is one namespace shared with ComfyUI and every other pack.
 */
export const SETTING_GROUPS = {
  FriendliKey: "API key", FriendliEndpoint: "Endpoint", FriendliRequests: "Requests", FriendliResults: "Results",
};
export const SETTINGS = [
  { id: "Friendli.APIKey", name: "API key", group: "FriendliKey", sortOrder: 3,
    tooltip: "Saved in the credentials file of ComfyUI's user directory (mode 0600). FRIENDLI_TOKEN in the environment wins." },
  { id: "Friendli.Team", name: "Team (optional)", group: "FriendliKey", sortOrder: 2,
    tooltip: "Sent as X-Friendli-Team; saved with the key (Save above)." },
  { id: "Friendli.Status", name: "Status", group: "FriendliKey", sortOrder: 1 },
  { id: "Friendli.TrustedHosts", name: "Trusted hosts", group: "FriendliEndpoint", sortOrder: 3,
    tooltip: "Extra hosts that may receive your API key when a workflow names them as base URL (besides api.friendli.ai and FRIENDLI_BASE_URL). host trusts every port, host:port one; plain http only on this machine." },
  { id: "Friendli.EndpointTest", name: "Test connection", group: "FriendliEndpoint", sortOrder: 2,
    tooltip: "Shows the endpoint's state (or why the key or team was refused) without sending an edit; Sleep now puts it to sleep." },
  { id: "Friendli.WakeOnQueue", name: "Wake endpoints when a prompt is queued", group: "FriendliEndpoint", sortOrder: 1,
    tooltip: "Starts waking the prompt's sleeping endpoints as soon as it is queued, so the cold start overlaps the local nodes." },
  { id: "Friendli.MaxInFlight", name: "Requests in flight per endpoint", group: "FriendliRequests", sortOrder: 1,
    tooltip: "Shared by every node and prompt (default 8). A 429 from the endpoint halves it; each success adds one back." },
  { id: "Friendli.ResultStore", name: "Keep results (result store)", group: "FriendliResults", sortOrder: 3,
    tooltip: "Answers a repeated request with a fixed seed from disk, without a new generation." },
  { id: "Friendli.ResultStoreSize", name: "Result store size (GiB)", group: "FriendliResults", sortOrder: 2,
    tooltip: "The least recently used results go first when it is full." },
  { id: "Friendli.ResultStoreClear", name: "Stored results", group: "FriendliResults", sortOrder: 1 },
];

/** The frontend's setting declarations: SETTINGS with their renderers (``renderers[id]``, every one needed). */
export function settingDeclarations(renderers) {
  return SETTINGS.map(({ id, name, group, sortOrder, tooltip }) => {
    if (typeof renderers?.[id] !== "function") throw new Error(`no renderer for the setting ${id}`);
    return { id, name, type: renderers[id], sortOrder, tooltip, category: ["Friendli", group, name], defaultValue: "" };
  });
}
const MAX_SEEDS_SHOWN = 6;
const MAX_MESSAGE = 120;

/** "12.4 s" below a minute, "2 min 05 s" above (in ``lang``). */
export function formatDuration(seconds, lang = "en") {
  const t = translator(lang);
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  if (s < 60) return t("time.seconds", { s: s.toFixed(1) });
  const whole = Math.floor(s);
  return t("time.minutes", { m: Math.floor(whole / 60), s: String(whole % 60).padStart(2, "0") });
}

const int = (v) => (Number.isInteger(v) && v >= 0 ? v : 0);

/** A `friendli.progress` event's data checked and normalised, or null when unusable. */
export function parseProgress(data) {
  if (!data || typeof data !== "object") return null;
  const node = typeof data.node === "number" ? String(data.node) : data.node;
  if (typeof node !== "string" || !node || !STATES.includes(data.state)) return null;
  return {
    node,
    state: data.state,
    done: int(data.done),
    total: int(data.total),
    elapsed: Number.isFinite(data.elapsed) && data.elapsed > 0 ? data.elapsed : 0,
    retries: int(data.retries),
    waking: data.waking === true,
    seeds: Array.isArray(data.seeds) ? data.seeds.filter((x) => Number.isInteger(x)) : [],
    message: typeof data.message === "string" ? data.message : "",
    ...optional(data),
  };
}

const ENDPOINT_STATES = ["INITIALIZING", "AWAKING", "UPDATING", "SLEEPING"];
const STATE_NAMES = [...ENDPOINT_STATES, "RUNNING", "READY", "FAILED", "STOPPING", "TERMINATING", "TERMINATED", "UNKNOWN"];
const PHASES = ["REQUESTING_VIRTUAL_MACHINE", "DOWNLOADING_MODEL", "ENGINE_INITIALIZING"];

/** The optional fields of an event (reused results, throttling, the endpoint's state, failed images). */
function optional(data) {
  const out = {};
  if (int(data.reused)) out.reused = int(data.reused);
  if (Number.isInteger(data.throttled) && data.throttled > 0) out.throttled = data.throttled;
  if (ENDPOINT_STATES.includes(data.endpoint_state)) {
    out.endpointState = data.endpoint_state;
    out.endpointPhase = PHASES.includes(data.endpoint_phase) ? data.endpoint_phase : null;
    out.endpointWait = Number.isFinite(data.endpoint_wait) && data.endpoint_wait > 0 ? data.endpoint_wait : 0;
  }
  const failed = Array.isArray(data.failed) ? data.failed.filter((x) => Number.isInteger(x) && x > 0) : [];
  if (failed.length) out.failed = failed;
  if (typeof data.warning === "string" && data.warning.trim()) out.warning = data.warning;
  return out;
}

/** The node's display state after an event; `now` (ms) lets the running clock tick between events. */
export function applyProgress(prev, data, now) {
  const ev = parseProgress(data);
  if (!ev) return prev ?? null;
  return { ...ev, receivedAt: now };
}

/** Seconds to show: while running, the last reported time plus what passed since it arrived. */
export function elapsedAt(state, now) {
  if (!state) return 0;
  if (!isTicking(state) || !Number.isFinite(now)) return state.elapsed;
  return state.elapsed + Math.max(0, now - state.receivedAt) / 1000;
}

/** Whether the clock of this state still runs (a running node whose run was not settled). */
export function isTicking(state) {
  return !!state && state.state === "running" && Number.isFinite(state.receivedAt);
}

/** Stop the clock when the prompt ended without a final event (server gone, prompt failed elsewhere). */
export function settle(state, now) {
  if (!isTicking(state)) return state;
  return { ...state, elapsed: elapsedAt(state, now), waking: false, endpointState: null, receivedAt: null };
}

/** Share of the images finished, 0..1. */
export function progressFraction(state) {
  if (!state || !state.total) return state && state.state === "done" ? 1 : 0;
  return Math.min(1, state.done / state.total);
}

/**
 * The node an execution id names: "5" in the root graph, "12:5" = node 5 inside subgraph node 12 (and so
 * on down). Never falls back to another graph's node of the same number. ``graph`` needs getNodeById;
 * a subgraph node carries its graph as ``.subgraph``.
 */
export function findNodeByExecutionId(graph, id) {
  const parts = String(id ?? "").split(":").filter(Boolean);
  let node = null;
  let current = graph;
  for (const part of parts) {
    node = current?.getNodeById?.(part) ?? current?.getNodeById?.(Number(part)) ?? null;
    if (!node) return null;
    current = node.subgraph;
  }
  return node;
}

/** "seeds 1, 2, 3 … (+5)" — the first few seeds of a finished run. */
export function seedsText(seeds, lang = "en") {
  if (!seeds || !seeds.length) return "";
  const shown = seeds.slice(0, MAX_SEEDS_SHOWN).join(", ");
  const more = seeds.length > MAX_SEEDS_SHOWN ? ` … (+${seeds.length - MAX_SEEDS_SHOWN})` : "";
  return translator(lang)(seeds.length === 1 ? "progress.seed" : "progress.seeds", { list: shown + more });
}

function clip(text, max) {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? one.slice(0, max - 1) + "…" : one;
}

/** Lines to draw on the node: [progress line, optional second line (seeds, failed images or error)]. */
export function progressLines(state, now, lang = "en") {
  if (!state) return [];
  const t = translator(lang);
  const parts = [t("progress.done", { done: state.done, total: state.total }),
    formatDuration(elapsedAt(state, now), lang)];
  const running = state.state === "running";
  if (state.retries > 0) parts.push(t("progress.retry", { n: state.retries }));
  if (running && state.endpointState) {
    parts.push(t("progress.endpoint", { state: t(`state.${state.endpointState}`) }));
    if (state.endpointPhase) parts.push(t(`phase.${state.endpointPhase}`));
    if (state.endpointWait) parts.push(formatDuration(state.endpointWait, lang));
  } else if (running && state.waking) {
    parts.push(t("progress.waking"));
  }
  if (running && state.throttled) parts.push(t("progress.throttled", { n: state.throttled }));
  if (state.reused) parts.push(t("progress.reused", { n: state.reused }));
  if (state.state === "cancelled") parts.push(t("progress.cancelled"));
  const lines = [parts.join(" · ")];
  if (state.state === "done" && state.failed?.length) {
    const key = state.failed.length === 1 ? "progress.failedOne" : "progress.failed";
    lines.push(clip(t(key, { list: state.failed.join(", ") }), MAX_MESSAGE));
  } else if (state.state === "done" && state.warning) {
    lines.push(clip(state.warning, MAX_MESSAGE)); // the server's own words when it named no image
  } else if (state.state === "done" && state.seeds.length) {
    lines.push(seedsText(state.seeds, lang));
  }
  if (state.state === "error") {
    lines.push(clip(t("progress.error", { message: state.message || t("progress.failedPlain") }), MAX_MESSAGE));
  }
  return lines;
}

/** Tone of the node text: "error" for failures, "busy" while running, "warn" after a success that kept
 * failed images unchanged, "ok" after success. */
export function progressTone(state) {
  if (!state) return "ok";
  if (state.state === "error" || state.state === "cancelled") return "error";
  if (state.state === "running") return "busy";
  return state.failed?.length || state.warning ? "warn" : "ok";
}

/** Client-side check of a key before sending it (mirrors the server); an error message or null. */
export function tokenError(token, lang = "en") {
  const t = translator(lang);
  const key = (token ?? "").trim();
  if (!key) return t("key.empty");
  if (key.length < TOKEN_MIN || key.length > TOKEN_MAX) return t("key.length", { min: TOKEN_MIN, max: TOKEN_MAX });
  if (!/^[\x21-\x7e]+$/.test(key)) return t("key.chars");
  return null;
}

/** Client-side check of a team id; an error message or null (empty = default team). */
export function teamError(team, lang = "en") {
  const value = (team ?? "").trim();
  if (!value) return null;
  if (value.length > TEAM_MAX || !/^[A-Za-z0-9_.-]+$/.test(value)) return translator(lang)("team.invalid", { max: TEAM_MAX });
  return null;
}

/** The status line of the settings panel from GET /friendli/status: {text, tone: ok|warn|none}. */
export function statusLine(status, lang = "en") {
  const t = translator(lang);
  if (!status || typeof status !== "object") return { text: t("status.unavailable"), tone: "warn" };
  const team = status.team ? t("status.team", { team: status.team }) : "";
  const where = status.base_url ? ` → ${status.base_url}${team}` : "";
  const hint = status.token_hint ?? t("status.hintSet");
  let text;
  let tone = "ok";
  if (status.source === "environment") {
    text = t("status.env", { hint, where });
    if (status.env_overrides_file) text += ` ${t("status.envOverrides")}`;
  } else if (status.source === "file") {
    text = t("status.file", { hint, where });
  } else {
    text = t("status.none", { where });
    tone = "none";
  }
  if (status.error) {
    text += ` ${status.error}`;
    tone = "warn";
  }
  return { text, tone };
}

/** The message of an error answer ({"error": ...}) or a generic one with the HTTP status. */
export function errorMessage(httpStatus, body, lang = "en") {
  if (body && typeof body.error === "string" && body.error) return body.error;
  return translator(lang)("server.http", { status: httpStatus });
}

/** "1.2 GiB" / "340 MiB" / "12 KiB" for a byte count. */
export function formatBytes(bytes) {
  const n = Number.isFinite(bytes) && bytes > 0 ? bytes : 0;
  if (n >= 2 ** 40) return `${(n / 2 ** 40).toFixed(1)} TiB`;
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(1)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(0)} MiB`;
  return `${Math.ceil(n / 1024)} KiB`;
}

/** The result store line from GET /friendli/store. */
export function storeLine(info, lang = "en") {
  const t = translator(lang);
  if (!info || typeof info !== "object") return t("status.unavailable");
  const size = int(info.max_bytes)
    ? t("store.sizeOf", { size: formatBytes(info.size_bytes), max: formatBytes(info.max_bytes), entries: int(info.entries) })
    : t("store.size", { size: formatBytes(info.size_bytes), entries: int(info.entries) });
  return info.enabled === false ? `${size} (${t("store.off")})` : size;
}

/** The endpoint test line from POST /friendli/endpoint/status or /sleep. */
export function endpointLine(answer, lang = "en") {
  const t = translator(lang);
  if (!answer || typeof answer !== "object") return t("status.unavailable");
  if (answer.available === false) return t("endpoint.unavailable");
  const state = STATE_NAMES.includes(answer.status) ? t(`state.${answer.status}`) : String(answer.status ?? "?");
  const phase = PHASES.includes(answer.phase) ? ` · ${t(`phase.${answer.phase}`)}` : "";
  const line = t("endpoint.state", { id: answer.endpoint_id, state: state + phase });
  const words = typeof answer.explanation === "string" ? answer.explanation.trim() : "";
  const healthy = ["RUNNING", "READY", "SLEEPING", "AWAKING", "INITIALIZING", "UPDATING"].includes(answer.status);
  return healthy || !words ? line : `${line} — ${words}`;
}

/** Tone of the endpoint test line: "error" for a failed or ending endpoint, "ok" otherwise. */
export function endpointTone(answer) {
  return ["FAILED", "STOPPING", "TERMINATING", "TERMINATED"].includes(answer?.status) ? "error" : "ok";
}

/** Trusted hosts typed in one field (commas, spaces or new lines) as a list for the server. */
export function parseHosts(text) {
  return String(text ?? "").split(/[\s,]+/).map((h) => h.trim()).filter(Boolean);
}
