// Pure logic of the Friendli extension: no DOM, no ComfyUI imports, only exports.
// ComfyUI loads every .js under web/ as an extension; loading this one does nothing.
// Unit-tested by web/tests/*.test.mjs under `node --test web/tests/`.

export const TOKEN_MIN = 8;
export const TOKEN_MAX = 512;
export const TEAM_MAX = 128;
const STATES = ["running", "done", "error", "cancelled"];
const MAX_SEEDS_SHOWN = 6;
const MAX_MESSAGE = 120;

/** "12.4 s" below a minute, "2 min 05 s" above. */
export function formatDuration(seconds) {
  const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
  if (s < 60) return `${s.toFixed(1)} s`;
  const whole = Math.floor(s);
  return `${Math.floor(whole / 60)} min ${String(whole % 60).padStart(2, "0")} s`;
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
  };
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
  return { ...state, elapsed: elapsedAt(state, now), waking: false, receivedAt: null };
}

/** Share of the images finished, 0..1. */
export function progressFraction(state) {
  if (!state || !state.total) return state && state.state === "done" ? 1 : 0;
  return Math.min(1, state.done / state.total);
}

/** Node ids to try for an event's id: itself, then (inside a subgraph, "12:5") its last part. */
export function nodeIdCandidates(id) {
  const text = String(id ?? "");
  if (!text) return [];
  const last = text.split(":").pop();
  return last && last !== text ? [text, last] : [text];
}

/** "seeds 1, 2, 3 … (+5)" — the first few seeds of a finished run. */
export function seedsText(seeds) {
  if (!seeds || !seeds.length) return "";
  const shown = seeds.slice(0, MAX_SEEDS_SHOWN).join(", ");
  const more = seeds.length > MAX_SEEDS_SHOWN ? ` … (+${seeds.length - MAX_SEEDS_SHOWN})` : "";
  return `${seeds.length === 1 ? "seed" : "seeds"} ${shown}${more}`;
}

function clip(text, max) {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length > max ? one.slice(0, max - 1) + "…" : one;
}

/** Lines to draw on the node: [progress line, optional second line (seeds or error)]. */
export function progressLines(state, now) {
  if (!state) return [];
  const head = `${state.done}/${state.total} done · ${formatDuration(elapsedAt(state, now))}`;
  const parts = [head];
  if (state.retries > 0) parts.push(`retry ${state.retries}`);
  if (state.state === "running" && state.waking) parts.push("endpoint waking up");
  if (state.state === "cancelled") parts.push("cancelled");
  const lines = [parts.join(" · ")];
  if (state.state === "done" && state.seeds.length) lines.push(seedsText(state.seeds));
  if (state.state === "error") lines.push(clip(`error: ${state.message || "failed"}`, MAX_MESSAGE));
  return lines;
}

/** Tone of the node text: "error" for failures, "busy" while running, "ok" after success. */
export function progressTone(state) {
  if (!state) return "ok";
  if (state.state === "error" || state.state === "cancelled") return "error";
  return state.state === "running" ? "busy" : "ok";
}

/** Client-side check of a key before sending it (mirrors the server); an error message or null. */
export function tokenError(token) {
  const t = (token ?? "").trim();
  if (!t) return "Enter the API key (flp_…) first.";
  if (t.length < TOKEN_MIN || t.length > TOKEN_MAX) return `The key must be ${TOKEN_MIN} to ${TOKEN_MAX} characters long.`;
  if (!/^[\x21-\x7e]+$/.test(t)) return "The key may contain only printable ASCII characters without spaces.";
  return null;
}

/** Client-side check of a team id; an error message or null (empty = default team). */
export function teamError(team) {
  const t = (team ?? "").trim();
  if (!t) return null;
  if (t.length > TEAM_MAX || !/^[A-Za-z0-9_.-]+$/.test(t)) {
    return `The team id may hold at most ${TEAM_MAX} letters, digits, '_', '-' or '.'.`;
  }
  return null;
}

/** The status line of the settings panel from GET /friendli/status: {text, tone: ok|warn|none}. */
export function statusLine(status) {
  if (!status || typeof status !== "object") return { text: "Status unavailable.", tone: "warn" };
  const team = status.team ? `, team ${status.team}` : "";
  const where = status.base_url ? ` → ${status.base_url}${team}` : "";
  let text;
  let tone = "ok";
  if (status.source === "environment") {
    text = `Using FRIENDLI_TOKEN from the environment (${status.token_hint ?? "set"})${where}.`;
    if (status.env_overrides_file) text += " The saved key is ignored while it is set.";
  } else if (status.source === "file") {
    text = `Key saved (${status.token_hint ?? "set"})${where}.`;
  } else {
    text = `No key configured${where}.`;
    tone = "none";
  }
  if (status.error) {
    text += ` ${status.error}`;
    tone = "warn";
  }
  return { text, tone };
}

/** The message of an error answer ({"error": ...}) or a generic one with the HTTP status. */
export function errorMessage(httpStatus, body) {
  if (body && typeof body.error === "string" && body.error) return body.error;
  return `The server answered HTTP ${httpStatus}.`;
}
