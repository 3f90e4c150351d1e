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
 * is one namespace shared with ComfyUI and every other pack, and a digit because frontend 1.27 orders groups
 * by key; 1.58 orders them by their highest sortOrder, so sortOrder falls from the first row to the last.
 */
export const SETTING_GROUPS = {
  Friendli1Key: "API key", Friendli2Endpoint: "Endpoint", Friendli3Cost: "Cost and confirmation",
  Friendli4Requests: "Requests", Friendli5Results: "Results", Friendli6Advanced: "Advanced",
};
export const SETTINGS = [
  { id: "Friendli.APIKey", name: "API key", group: "Friendli1Key", sortOrder: 63,
    tooltip: "Saved in the credentials file of ComfyUI's user directory (mode 0600). FRIENDLI_TOKEN in the environment wins." },
  { id: "Friendli.Team", name: "Team (optional)", group: "Friendli1Key", sortOrder: 62,
    tooltip: "Sent as X-Friendli-Team; saved with the key (Save above)." },
  { id: "Friendli.Status", name: "Status", group: "Friendli1Key", sortOrder: 61 },
  { id: "Friendli.EndpointTest", name: "Test connection", group: "Friendli2Endpoint", sortOrder: 53,
    tooltip: "Shows the endpoint's state, GPUs and replicas (or why the key or team was refused) without sending an edit; Sleep now puts it to sleep." },
  { id: "Friendli.WakeOnQueue", name: "Wake endpoints when a prompt is queued", group: "Friendli2Endpoint", sortOrder: 52,
    tooltip: "Starts waking the prompt's sleeping endpoints as soon as it is queued, so the cold start overlaps the local nodes." },
  { id: "Friendli.PricePerGpuHour", name: "Price per GPU-hour (USD)", group: "Friendli3Cost", sortOrder: 43,
    tooltip: "Your endpoint's price per GPU-hour. Turns endpoint times into a cost estimate on the node and in Test connection. 0 = no estimate." },
  { id: "Friendli.ConfirmOver", name: "Ask before a run sends more than N requests", group: "Friendli3Cost", sortOrder: 42,
    tooltip: "A run that would send more requests than this asks first and waits for your answer (default 16). 0 = never ask." },
  { id: "Friendli.ConfirmHeadless", name: "With no browser attached (API use)", group: "Friendli3Cost", sortOrder: 41,
    tooltip: "What such a run does when no browser is open to ask: send anyway, or skip it (the node fails before sending anything)." },
  { id: "Friendli.MaxInFlight", name: "Requests in flight per endpoint", group: "Friendli4Requests", sortOrder: 31,
    tooltip: "Shared by every node and prompt (default 8). A 429 from the endpoint halves it; each success adds one back." },
  { id: "Friendli.ResultStore", name: "Keep results (result store)", group: "Friendli5Results", sortOrder: 23,
    tooltip: "Answers a repeated request with a fixed seed from disk, without a new generation." },
  { id: "Friendli.ResultStoreSize", name: "Result store size (GiB)", group: "Friendli5Results", sortOrder: 22,
    tooltip: "The least recently used results go first when it is full." },
  { id: "Friendli.ResultStoreClear", name: "Stored results", group: "Friendli5Results", sortOrder: 21 },
  { id: "Friendli.TrustedHosts", name: "Trusted hosts", group: "Friendli6Advanced", sortOrder: 12,
    tooltip: "Extra hosts that may receive your API key when a workflow names them as base URL (besides api.friendli.ai and FRIENDLI_BASE_URL). host trusts every port, host:port one; plain http only on this machine. Separate several hosts with commas." },
  { id: "Friendli.MemoryBudget", name: "Memory for answers in flight (MiB)", group: "Friendli6Advanced", sortOrder: 11,
    tooltip: "How much memory answers and url downloads may hold at once in this ComfyUI process (64 to 65536, default 512)." },
];

/** The frontend's setting declarations: SETTINGS with their renderers (``renderers[id]``, every one needed). */
export function settingDeclarations(renderers) {
  return SETTINGS.map(({ id, name, group, sortOrder, tooltip }) => {
    if (typeof renderers?.[id] !== "function") throw new Error(`no renderer for the setting ${id}`);
    return { id, name, type: renderers[id], sortOrder, tooltip, category: ["Friendli", group, name], defaultValue: "" };
  });
}

// ---- the Friendli nodes on the canvas ----------------------------------------------------------
/** Node types drawn as remote and billed (badge and the paid-node colours). */
export const FRIENDLI_NODES = ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint"];
/** Node types that run on the endpoint: the progress box and the advanced toggle. */
export const RUN_NODES = ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate"];
/** Transport widgets behind the node's advanced toggle (their values are saved and sent as always). */
export const ADVANCED_WIDGETS = ["response_format", "output_size", "max_concurrency", "on_failure", "adapter_route",
  "crop_context", "crop_megapixels", "max_send_megapixels"];
/** LGraphCanvas.node_colors.yellow, the colour ComfyUI gives its API (paid) nodes. */
export const PAID_COLORS = { color: "#432", bgcolor: "#653" };

/** Badge colours beside ComfyUI's price badges: their brown, lighter under a light palette (dark text). */
export function badgeColors(badgeFg) {
  const light = /^#0{3}(0{3})?$/.test(String(badgeFg ?? "").trim());
  return light ? { fgColor: "#000", bgColor: "#D2B98F" } : { fgColor: "#FFF", bgColor: "#8D6932" };
}

/** The advanced toggle's label: closed "▸ advanced (5)", open "▾ advanced". */
export function advancedLabel(open, count, lang = "en") {
  const t = translator(lang);
  return open ? t("advanced.hide") : t("advanced.show", { n: count });
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

const num = (v) => (Number.isFinite(v) && v >= 0 ? v : null);

/** The optional fields of an event (reused results, throttling, the endpoint's state, failed images, times). */
function optional(data) {
  const out = {};
  if (int(data.reused)) out.reused = int(data.reused);
  if (Number.isInteger(data.throttled) && data.throttled > 0) out.throttled = data.throttled;
  if (Number.isInteger(data.limit) && data.limit > 0) out.limit = data.limit;
  if (ENDPOINT_STATES.includes(data.endpoint_state)) {
    out.endpointState = data.endpoint_state;
    out.endpointPhase = PHASES.includes(data.endpoint_phase) ? data.endpoint_phase : null;
    out.endpointWait = Number.isFinite(data.endpoint_wait) && data.endpoint_wait > 0 ? data.endpoint_wait : 0;
  }
  const failed = Array.isArray(data.failed) ? data.failed.filter((x) => Number.isInteger(x) && x > 0) : [];
  if (failed.length) out.failed = failed;
  if (typeof data.warning === "string" && data.warning.trim()) out.warning = data.warning;
  if ("eta" in data) out.eta = num(data.eta) || null; // null (or 0): no estimate yet
  if (out.eta) out.etaLate = Math.max(num(data.eta_p90) ?? 0, out.eta); // past this (the 90th percentile): late
  if (num(data.at_endpoint) !== null) out.atEndpoint = data.at_endpoint; // the lone request's time at the endpoint
  if (num(data.left) !== null) out.left = data.left; // a batch's seconds left, at the time of the event
  if (int(data.unanswered)) out.unanswered = int(data.unanswered);
  if (num(data.endpoint_s) !== null) out.endpointS = data.endpoint_s;
  if (num(data.cost) !== null) out.cost = data.cost;
  const retry = data.retry;
  if (retry && typeof retry === "object" && Number.isInteger(retry.attempt) && retry.attempt > 0) {
    out.retry = { attempt: retry.attempt, max: Number.isInteger(retry.max) && retry.max > 0 ? retry.max : null,
      cause: typeof retry.cause === "string" ? clip(retry.cause, 40) : "", wait: num(retry.wait) };
  }
  if (data.stored === true) out.stored = true;
  if (int(data.kept)) out.kept = int(data.kept);
  if (typeof data.advisory === "string" && data.advisory.trim()) out.advisory = clip(data.advisory, 80);
  if (typeof data.sent === "string" && /^\d{1,6}×\d{1,6}$/.test(data.sent)) out.sent = data.sent;
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

const ETA_CAP = 0.95;
const LATE_MARGIN = 0.5; // seconds past the 90th percentile before "taking longer than usual" (as the server)

/** Seconds the lone request has been at the endpoint, ticking between events; null when it is not there. */
function atEndpointAt(state, now) {
  if (!Number.isFinite(state?.atEndpoint)) return null;
  if (!isTicking(state) || !Number.isFinite(now)) return state.atEndpoint;
  return state.atEndpoint + Math.max(0, now - state.receivedAt) / 1000;
}

/** Whether the bar shows a single running request: by its ETA when one is known, animated otherwise. */
function singleRunning(state) {
  return !!state && state.state === "running" && state.total === 1 && state.done === 0;
}

/** Share of the work finished, 0..1: images done, or for one image its time at the endpoint / the median
 * answer time of its kind (at most 95 %; 0 until it is sent). */
export function progressFraction(state, now) {
  if (!state || !state.total) return state && state.state === "done" ? 1 : 0;
  if (singleRunning(state) && state.eta) return Math.min(ETA_CAP, (atEndpointAt(state, now) ?? 0) / state.eta);
  return Math.min(1, state.done / state.total);
}

/** "indeterminate" while one image runs with no ETA known (an animated bar), else "determinate". */
export function barMode(state) {
  return singleRunning(state) && !state.eta ? "indeterminate" : "determinate";
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

/** The title ComfyUI's error dialog (and Issues tab) should give a failed Friendli node: its title on the canvas (the
 * translated display name, or the artist's own) instead of the class name the host sends as `node_type`; null for
 * other nodes or a node not found. */
export function errorTitle(detail, graph) {
  if (!detail || !FRIENDLI_NODES.includes(detail.node_type)) return null;
  const title = findNodeByExecutionId(graph, detail.node_id)?.title;
  return typeof title === "string" && title.trim() ? clip(title, 80) : null;
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

/** "12 s" / "2 min 05 s": whole seconds (rounded up), for countdowns and ETAs. */
export function formatSeconds(seconds, lang = "en") {
  const t = translator(lang);
  const whole = Math.ceil(Number.isFinite(seconds) && seconds > 0 ? seconds : 0);
  if (whole < 60) return t("time.seconds", { s: whole });
  return t("time.minutes", { m: Math.floor(whole / 60), s: String(whole % 60).padStart(2, "0") });
}

/** "45 s", "12 min", "1 h 12 min", "3 d 4 h": a long span (how long an endpoint has been running). */
export function formatSpan(seconds, lang = "en") {
  const t = translator(lang);
  const s = Math.floor(Number.isFinite(seconds) && seconds > 0 ? seconds : 0);
  if (s < 60) return t("time.seconds", { s });
  if (s < 3600) return t("time.m", { m: Math.floor(s / 60) });
  if (s < 86400) return t("time.hm", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
  return t("time.dh", { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) });
}

/** "≈ $0.03" for an estimate in USD ("< $0.01" below a cent, nothing for none). */
export function costText(usd) {
  if (!Number.isFinite(usd) || usd <= 0) return "";
  if (usd > 0 && usd < 0.01) return "< $0.01";
  return `≈ $${usd >= 1000 ? usd.toFixed(0) : usd.toFixed(2)}`;
}

const CAUSES = { "connection refused": "cause.refused", "connection dropped": "cause.dropped", timeout: "cause.timeout",
  dns: "cause.dns", tls: "cause.tls", proxy: "cause.proxy" };

/** A retry's cause from the server (short English) in ``lang``: the known ones translated, "HTTP 503" as is. */
export function causeText(cause, lang = "en") {
  const key = CAUSES[String(cause ?? "").trim().toLowerCase()];
  return key ? translator(lang)(key) : String(cause ?? "").trim();
}

/** "retry 2/5 · connection refused · next in 4 s" (the countdown only while running). */
function retryText(state, now, lang) {
  const t = translator(lang);
  const { retry } = state;
  if (!retry) return state.retries > 0 ? t("progress.retry", { n: state.retries }) : "";
  const parts = [retry.max ? t("progress.retryOf", { attempt: retry.attempt, max: retry.max })
    : t("progress.retry", { n: retry.attempt })];
  if (retry.cause) parts.push(causeText(retry.cause, lang));
  if (isTicking(state) && retry.wait) {
    const left = retry.wait - Math.max(0, (now ?? state.receivedAt) - state.receivedAt) / 1000;
    if (left >= 0.5) parts.push(t("progress.nextIn", { time: formatSeconds(left, lang) }));
  }
  return parts.join(" · ");
}

/** For one image at the endpoint whose kind of request has answered before: "~12 s left" counting down from
 * the median answer time, "almost done" past it, "taking longer than usual" only past the 90th percentile.
 * For a running batch with the server's estimate (`left`, see nodes/progress.py): "~12 s left" counting down
 * from it, "almost done" below a second; none while the endpoint wakes, nor once the run settled. */
function etaText(state, now, lang) {
  const t = translator(lang);
  const words = (left) => (left >= 1 ? t("progress.eta", { time: formatSeconds(left, lang) }) : t("progress.etaSoon"));
  if (state.total > 1) {
    if (!isTicking(state) || !Number.isFinite(state.left) || state.waking || state.endpointState) return "";
    return words(state.left - (Number.isFinite(now) ? Math.max(0, now - state.receivedAt) / 1000 : 0));
  }
  const at = atEndpointAt(state, now);
  if (!singleRunning(state) || !state.eta || at === null) return "";
  if (at > state.etaLate + LATE_MARGIN) return t("progress.etaLate");
  return words(state.eta - at);
}

/** The advisory from the server: the known English phrase translated, anything else as it came. */
function advisoryText(advisory, lang) {
  return advisory === STRINGS_EN_SILENT ? translator(lang)("status.silent") : advisory;
}
const STRINGS_EN_SILENT = "status unknown · sending anyway";

/**
 * Lines to draw on the node, empty ones left out:
 * 1. count, time, ETA, retries, the endpoint's state, throttling and reuse;
 * 2. what it costs: endpoint time and estimate (or "from the result store"), billed waking, advisories,
 *    results kept after an error;
 * 3. the outcome: seeds, failed images or the error.
 */
export function progressLines(state, now, lang = "en") {
  if (!state) return [];
  const t = translator(lang);
  const running = state.state === "running";
  const parts = [t("progress.done", { done: state.done, total: state.total }),
    formatDuration(elapsedAt(state, now), lang)];
  const eta = etaText(state, now, lang);
  if (eta) parts.push(eta);
  const retry = retryText(state, now, lang);
  if (retry) parts.push(retry);
  if (running && state.endpointState) {
    parts.push(t("progress.endpoint", { state: t(`state.${state.endpointState}`) }));
    if (state.endpointPhase) parts.push(t(`phase.${state.endpointPhase}`));
    if (state.endpointWait) parts.push(formatDuration(state.endpointWait, lang));
  } else if (running && state.waking) {
    parts.push(t("progress.waking"));
  }
  if (running && state.limit) parts.push(t("progress.limit", { n: state.limit }));
  if (state.sent) parts.push(t("progress.sent", { size: state.sent }));
  if (running && state.throttled) parts.push(t("progress.throttled", { n: state.throttled }));
  if (state.reused) parts.push(t("progress.reused", { n: state.reused }));
  if (state.state === "cancelled") parts.push(t("progress.cancelled"));
  if (state.state === "cancelled" && state.unanswered) parts.push(t("progress.unanswered", { n: state.unanswered }));

  const cost = [];
  if (state.stored) cost.push(t("progress.stored"));
  else if (state.endpointS >= 0.05) { // nothing before the endpoint got work: no "0.0 s · ≈ $0.00"
    cost.push(t("progress.endpointTime", { time: formatDuration(state.endpointS, lang) }));
    if (costText(state.cost)) cost.push(costText(state.cost));
  }
  if (running && (state.endpointState || state.waking)) cost.push(t("progress.wakingBilled"));
  if (state.advisory) cost.push(advisoryText(state.advisory, lang));
  if (state.state === "error" && state.kept) {
    cost.push(state.kept === 1 ? t("progress.keptOne") : t("progress.kept", { n: state.kept }));
  }

  const lines = [parts.join(" · ")];
  if (cost.length) lines.push(cost.join(" · "));
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

/** The confirmation asked before a large run (`friendli.confirm` {id, node, requests, estimate, message}); with
 * an estimate (recent answers of the endpoint), the endpoint time it will likely take and its cost. */
export function confirmText(data, lang = "en") {
  const t = translator(lang);
  const n = Number.isInteger(data?.requests) && data.requests > 0 ? data.requests : null;
  if (n === null) return { title: t("confirm.title"), message: String(data?.message ?? t("confirm.title")) };
  const seconds = num(data?.estimate?.seconds);
  if (seconds === null) return { title: t("confirm.title"), message: t("confirm.message", { n }) };
  const time = formatSeconds(Math.max(1, seconds), lang);
  const cost = costText(num(data.estimate.cost) ?? 0);
  return { title: t("confirm.title"),
    message: cost ? t("confirm.estimateCost", { n, time, cost }) : t("confirm.estimate", { n, time }) };
}

/** A `friendli.confirm` event's data checked, or null (the id is what the answer names). */
export function parseConfirm(data) {
  if (!data || typeof data !== "object") return null;
  const { id } = data;
  if (!((typeof id === "string" && id && id.length <= 200) || Number.isInteger(id))) return null;
  const guess = data.estimate && typeof data.estimate === "object" ? data.estimate : null;
  const estimate = guess && num(guess.seconds) !== null ? { seconds: guess.seconds, cost: num(guess.cost) } : null;
  return { id, node: data.node == null ? "" : String(data.node), requests: data.requests, estimate,
    message: data.message };
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
  if (body && typeof body.error === "string" && isNoKeyError(body.error)) return translator(lang)("endpoint.noKey");
  if (body?.kind === "not_found" && typeof body.endpoint_id === "string" && body.endpoint_id) {
    return translator(lang)("endpoint.notFound", { id: clip(body.endpoint_id, 80) });
  }
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

/** The endpoint test line from POST /friendli/endpoint/status or /sleep; with ``info`` (the endpoint's spec):
 * "my-endpoint · running · A100 × 2 · replicas 1 (min 0, max 2) · cooldown 300 s · running 1 h 12 min · ≈ $4.00/h"
 * (the estimate when a price per GPU-hour is set: price × GPUs × current replicas). */
export function endpointLine(answer, lang = "en", pricePerGpuHour = 0) {
  const t = translator(lang);
  if (!answer || typeof answer !== "object") return t("status.unavailable");
  if (answer.available === false) return t("endpoint.unavailable");
  const state = STATE_NAMES.includes(answer.status) ? t(`state.${answer.status}`) : String(answer.status ?? "?");
  const phase = PHASES.includes(answer.phase) ? ` · ${t(`phase.${answer.phase}`)}` : "";
  const info = answer.info && typeof answer.info === "object" ? answer.info : null;
  const line = info ? infoLine(answer, info, state + phase, lang, pricePerGpuHour)
    : t("endpoint.state", { id: answer.endpoint_id, state: state + phase });
  const words = typeof answer.explanation === "string" ? answer.explanation.trim() : "";
  const healthy = ["RUNNING", "READY", "SLEEPING", "AWAKING", "INITIALIZING", "UPDATING"].includes(answer.status);
  return healthy || !words ? line : `${line} — ${words}`;
}

const count = (v) => (Number.isInteger(v) && v >= 0 ? v : null);

function infoLine(answer, info, state, lang, price) {
  const t = translator(lang);
  const name = typeof info.name === "string" && info.name.trim() ? clip(info.name, 60) : String(answer.endpoint_id ?? "?");
  const parts = [name, state];
  const gpus = count(info.num_gpu);
  if (typeof info.gpu_type === "string" && info.gpu_type.trim()) {
    parts.push(gpus ? `${clip(info.gpu_type, 30)} × ${gpus}` : clip(info.gpu_type, 30));
  }
  const [now, min, max] = [count(info.replicas_current), count(info.replicas_min), count(info.replicas_max)];
  if (now !== null) {
    parts.push(min !== null && max !== null ? t("endpoint.replicas", { n: now, min, max }) : t("endpoint.replicasNow", { n: now }));
  }
  if (num(info.cooldown_s) !== null) parts.push(t("endpoint.cooldown", { time: formatSpan(info.cooldown_s, lang) }));
  if (num(info.running_s) !== null && info.running_s > 0) {
    parts.push(t("endpoint.running", { time: formatSpan(info.running_s, lang) }));
  }
  if (Number.isFinite(price) && price > 0 && gpus !== null && now !== null) parts.push(`${costText(price * gpus * now)}/h`);
  return parts.join(" · ");
}

/** Whether a server error is the "no key configured" one (answered in the browser in UI words instead). */
export function isNoKeyError(text) {
  return /^No Friendli API key is configured/i.test(String(text ?? ""));
}

/** Tone of the endpoint test line: "error" for a failed or ending endpoint, "ok" otherwise. */
export function endpointTone(answer) {
  return ["FAILED", "STOPPING", "TERMINATING", "TERMINATED"].includes(answer?.status) ? "error" : "ok";
}

// ---- the endpoint picker -------------------------------------------------------------------------
/** Node types whose ``endpoint_id`` widget gets the picker button. */
export const PICKER_NODES = ["FriendliImageEdit", "FriendliMultiImageEdit", "FriendliImageGenerate", "FriendliEndpoint"];
export const PICKER_FIELD = "endpoint_id";
export const PICKER_WIDGET = "friendli_pick_endpoint";
const PICKER_MAX = 200;
const PICKER_ID_MAX = 128;

/**
 * What the picker of one node asks GET /friendli/endpoints, from the node's widget values ({service,
 * base_url, team} of a Friendli Endpoint node; nothing for the others): {query} (with the "?" when not
 * empty), or {blocked: "container"} when the node names a Friendli Container, which has no list.
 */
export function pickerRequest(values = {}) {
  if (String(values.service ?? "").trim() === "container") return { blocked: "container" };
  const params = [];
  for (const name of ["base_url", "team"]) {
    const value = String(values[name] ?? "").trim();
    if (value) params.push(`${name}=${encodeURIComponent(value)}`);
  }
  return { query: params.length ? `?${params.join("&")}` : "" };
}

const pickText = (v, max) => (typeof v === "string" && v.trim() ? clip(v.replace(/[\u0000-\u001f\u007f-\u009f]/g, " "), max) : null);

/** An id the picker may put in the field: printable, no spaces, 1..128 characters (as the server checks). */
export function validEndpointId(id) {
  return typeof id === "string" && id.length > 0 && id.length <= PICKER_ID_MAX && !/[\s\u0000-\u001f\u007f-\u009f]/.test(id);
}

/**
 * GET /friendli/endpoints's answer checked again (it came over the network): {available, code, reason,
 * endpoints: [{id, name, status, phase, gpu}], truncated}; at most 200 rows, unusable ids left out, texts
 * one line and short, unknown states null.
 */
export function parseEndpointList(data) {
  if (!data || typeof data !== "object") return { available: false, code: "malformed", reason: "", endpoints: [], truncated: false };
  if (data.available !== true) {
    return { available: false, code: typeof data.code === "string" ? data.code : "unavailable",
      reason: pickText(data.reason, 300) ?? "", endpoints: [], truncated: false };
  }
  const rows = Array.isArray(data.endpoints) ? data.endpoints : [];
  const seen = new Set();
  const endpoints = [];
  for (const row of rows) {
    if (endpoints.length >= PICKER_MAX) break;
    if (!row || typeof row !== "object" || !validEndpointId(row.id) || seen.has(row.id)) continue;
    seen.add(row.id);
    endpoints.push({ id: row.id, name: pickText(row.name, 80), status: STATE_NAMES.includes(row.status) ? row.status : null,
      phase: PHASES.includes(row.phase) ? row.phase : null, gpu: pickText(row.gpu, 48) });
  }
  return { available: true, code: null, reason: "", endpoints, truncated: data.truncated === true || rows.length > PICKER_MAX };
}

/** The colour of a state in the list: ok (serving), idle (asleep), busy (starting), error (failed or ending), none. */
export function stateTone(status) {
  if (["RUNNING", "READY"].includes(status)) return "ok";
  if (status === "SLEEPING") return "idle";
  if (["INITIALIZING", "AWAKING", "UPDATING"].includes(status)) return "busy";
  if (["FAILED", "STOPPING", "TERMINATING", "TERMINATED"].includes(status)) return "error";
  return "none";
}

/** One row of the list: {id, title (the name, else the id), detail (the id under a name), state, tone, gpu}. */
export function endpointRow(endpoint, lang = "en") {
  const t = translator(lang);
  const state = endpoint.status ? t(`state.${endpoint.status}`) + (endpoint.phase ? ` · ${t(`phase.${endpoint.phase}`)}` : "")
    : t("state.UNKNOWN");
  return { id: endpoint.id, title: endpoint.name ?? endpoint.id, detail: endpoint.name ? endpoint.id : "",
    state, tone: stateTone(endpoint.status), gpu: endpoint.gpu ?? "" };
}

/** The endpoints whose name, id or GPU holds every word of ``text`` (any case); all of them for no text. */
export function filterEndpoints(endpoints, text) {
  const words = String(text ?? "").toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return endpoints;
  return endpoints.filter((e) => {
    const hay = [e.id, e.name ?? "", e.gpu ?? ""].join(" ").toLowerCase();
    return words.every((w) => hay.includes(w));
  });
}

/** The line under the list: why there is no list (container, no key, no route, an error), or what it shows. */
export function pickerNote(list, lang = "en", shown = null) {
  const t = translator(lang);
  if (!list) return t("picker.loading");
  if (list.blocked === "container") return t("picker.container");
  if (list.error) return t("picker.error", { error: clip(String(list.error), 200) });
  if (!list.available) {
    if (list.code === "no_key") return t("picker.noKey");
    if (list.code === "malformed") return t("picker.malformed");
    return t("picker.unavailable");
  }
  if (!list.endpoints.length) return t("picker.empty");
  if (shown === 0) return t("picker.noMatch");
  if (list.truncated) return t("picker.truncated", { n: list.endpoints.length });
  return t("picker.count", { n: list.endpoints.length });
}

/**
 * Where the picker button goes among a node's widgets: right after ``endpoint_id`` (its index + 1), or -1
 * when the node has no such widget. The button is never saved (serialize false), so the saved values keep
 * their order in every frontend (see ``compactValues`` for the one that leaves a gap).
 */
export function pickerIndex(widgets) {
  const i = (widgets ?? []).findIndex((w) => w?.name === PICKER_FIELD);
  return i < 0 ? -1 : i + 1;
}

/**
 * ``widgets_values`` without the gaps frontend 1.27 leaves where an unsaved widget sits between saved ones
 * (it writes each value at the widget's own index but reads them back skipping unsaved widgets); values that
 * are really null or undefined stay. Frontend 1.58 already writes them without gaps: unchanged there.
 */
export function compactValues(values) {
  return Array.isArray(values) ? values.filter(() => true) : values;
}
