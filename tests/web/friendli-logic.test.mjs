// Unit tests of web/friendli-logic.js: `node --test tests/web/` (Node >= 20, no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import {
  applyProgress, elapsedAt, errorMessage, formatDuration, parseProgress, progressLines, progressTone,
  seedsText, statusLine, teamError, tokenError, settle, isTicking, progressFraction, findNodeByExecutionId,
  storeLine, endpointLine, barMode, formatSeconds, formatSpan, costText, causeText, confirmText,
  parseConfirm, badgeColors, advancedLabel, isNoKeyError,
} from "../../web/friendli-logic.js";
import { STRINGS, pickLanguage, translator } from "../../web/friendli-strings.js";

const ev = (over = {}) => ({ node: "7", state: "running", done: 3, total: 8, elapsed: 12.4, retries: 0, waking: false, ...over });

test("formatDuration", () => {
  assert.equal(formatDuration(12.44), "12.4 s");
  assert.equal(formatDuration(0), "0.0 s");
  assert.equal(formatDuration(-3), "0.0 s");
  assert.equal(formatDuration(NaN), "0.0 s");
  assert.equal(formatDuration(59.94), "59.9 s");
  assert.equal(formatDuration(125.7), "2 min 05 s");
});

test("parseProgress normalises and rejects bad events", () => {
  assert.equal(parseProgress(null), null);
  assert.equal(parseProgress({ node: "1", state: "weird" }), null);
  assert.equal(parseProgress({ state: "running" }), null);
  const p = parseProgress({ node: 12, state: "done", done: 2, total: 2, elapsed: "x", seeds: [1, "2", 3.5, 4] });
  assert.deepEqual(p, { node: "12", state: "done", done: 2, total: 2, elapsed: 0, retries: 0, waking: false,
    seeds: [1, 4], message: "" });
});

test("running line: done/total and elapsed, the clock ticks between events", () => {
  const s = applyProgress(null, ev(), 1000);
  assert.deepEqual(progressLines(s, 1000), ["3/8 done · 12.4 s"]);
  assert.deepEqual(progressLines(s, 3000), ["3/8 done · 14.4 s"]);
  assert.equal(elapsedAt(s, 500), 12.4); // a clock going backwards does not subtract
  assert.equal(progressTone(s), "busy");
});

test("retries and waking endpoint", () => {
  const s = applyProgress(null, ev({ retries: 2, waking: true }), 0);
  assert.deepEqual(progressLines(s, 0), ["3/8 done · 12.4 s · retry 2 · endpoint waking up", "waking time is billed"]);
});

test("done shows the seeds, with the clock stopped", () => {
  const s = applyProgress(null, ev({ state: "done", done: 8, elapsed: 20.06, seeds: [11, 12, 13, 14, 15, 16, 17, 18] }), 0);
  assert.deepEqual(progressLines(s, 99999), ["8/8 done · 20.1 s", "seeds 11, 12, 13, 14, 15, 16 … (+2)"]);
  assert.equal(progressTone(s), "ok");
  assert.equal(seedsText([5]), "seed 5");
  assert.equal(seedsText([]), "");
});

test("error and cancelled", () => {
  const e = applyProgress(null, ev({ state: "error", message: "image 2 of 8 failed:\n  401 " + "x".repeat(300) }), 0);
  const lines = progressLines(e, 0);
  assert.equal(lines[0], "3/8 done · 12.4 s");
  assert.ok(lines[1].startsWith("error: image 2 of 8 failed: 401 x"));
  assert.ok(lines[1].length <= 120 && lines[1].endsWith("…"));
  assert.equal(progressTone(e), "error");
  const c = applyProgress(null, ev({ state: "cancelled", waking: true }), 0);
  assert.deepEqual(progressLines(c, 0), ["3/8 done · 12.4 s · cancelled"]);
});

test("a bad event keeps the previous state", () => {
  const s = applyProgress(null, ev(), 0);
  assert.equal(applyProgress(s, { bogus: true }, 5), s);
  assert.equal(applyProgress(null, "nope", 5), null);
  assert.deepEqual(progressLines(null, 0), []);
});

test("tokenError and teamError mirror the server's rules", () => {
  assert.match(tokenError(""), /Enter the API key/);
  assert.match(tokenError("short"), /8 to 512/);
  assert.match(tokenError("flp_with space"), /printable ASCII/);
  assert.match(tokenError("flp_é_xxxxxxx"), /printable ASCII/);
  assert.equal(tokenError("  flp_abcdefgh  "), null);
  assert.equal(teamError(""), null);
  assert.equal(teamError("team-1.a_b"), null);
  assert.match(teamError("bad team"), /team id/);
  assert.match(teamError("a".repeat(129)), /team id/);
});

test("statusLine never needs more than the hint", () => {
  const base = { base_url: "https://api.friendli.ai", team: null, env_overrides_file: false };
  assert.deepEqual(statusLine({ ...base, configured: false, source: "none", token_hint: null }),
    { text: "No API key yet → https://api.friendli.ai. Paste your Friendli API key above and press Save.", tone: "none" });
  assert.deepEqual(statusLine({ ...base, configured: true, source: "file", token_hint: "…abcd", team: "t1" }),
    { text: "Key saved (…abcd) → https://api.friendli.ai, team t1.", tone: "ok" });
  const env = statusLine({ ...base, configured: true, source: "environment", token_hint: "…wxyz", env_overrides_file: true });
  assert.match(env.text, /^Using FRIENDLI_TOKEN from the environment \(…wxyz\).*saved key is ignored/);
  assert.equal(statusLine({ ...base, source: "none", error: "bad base URL" }).tone, "warn");
  assert.equal(statusLine(null).tone, "warn");
});

test("errorMessage", () => {
  assert.equal(errorMessage(400, { error: "token: too short" }), "token: too short");
  assert.equal(errorMessage(500, null), "The server answered HTTP 500.");
  // Test connection with an unknown endpoint: what to check, in the user's language, no "HTTP 404:" (issue 24)
  const missing = { error: "no endpoint ep9 for this API key and team. …", kind: "not_found", endpoint_id: "ep9" };
  assert.equal(errorMessage(404, missing),
    "No endpoint ep9 for this API key and team. Check the id in Friendli Suite > Endpoints, and the team setting.");
  assert.ok(errorMessage(404, missing, "ja").startsWith("この API キーとチームにはエンドポイント ep9 がありません"));
  assert.doesNotMatch(errorMessage(404, missing, "ko"), /HTTP/);
});

test("settle stops the clock of a run that ended without a final event", () => {
  const s = applyProgress(null, ev({ waking: true }), 1000);
  assert.ok(isTicking(s));
  const t = settle(s, 4000);
  assert.ok(!isTicking(t));
  assert.deepEqual(progressLines(t, 99999), ["3/8 done · 15.4 s"]);
  const done = applyProgress(null, ev({ state: "done" }), 0);
  assert.equal(settle(done, 5), done);
  assert.equal(settle(null, 5), null);
});

test("progressFraction and nodeIdCandidates", () => {
  assert.equal(progressFraction(applyProgress(null, ev(), 0)), 3 / 8);
  assert.equal(progressFraction(applyProgress(null, ev({ total: 0, done: 0 }), 0)), 0);
  assert.equal(progressFraction(applyProgress(null, ev({ state: "done", total: 0, done: 0 }), 0)), 1);
  assert.equal(progressFraction(applyProgress(null, ev({ done: 9 }), 0)), 1);
  assert.equal(progressFraction(null), 0);
});

test("a node inside a subgraph is found through its subgraph, never a root node of the same number", () => {
  const graph = (nodes) => ({ getNodeById: (id) => nodes[String(id)] ?? null });
  const inner5 = { id: 5, title: "inner" };
  const root5 = { id: 5, title: "root" };
  const root = graph({ 5: root5, 12: { id: 12, subgraph: graph({ 5: inner5 }) } });
  assert.equal(findNodeByExecutionId(root, "5"), root5);
  assert.equal(findNodeByExecutionId(root, 7), null);
  assert.equal(findNodeByExecutionId(root, "12:5"), inner5);
  assert.equal(findNodeByExecutionId(root, "12:9"), null); // not root node 9, not root node 5
  assert.equal(findNodeByExecutionId(root, "5:1"), null); // node 5 is no subgraph
  assert.equal(findNodeByExecutionId(root, ""), null);
});

test("new event fields: reused, throttled, the endpoint's state and phase, failed images", () => {
  const s = applyProgress(null, ev({ reused: 3, throttled: 2, endpoint_state: "AWAKING", endpoint_phase: "DOWNLOADING_MODEL",
    endpoint_wait: 72.3 }), 0);
  assert.deepEqual(progressLines(s, 0),
    ["3/8 done · 12.4 s · endpoint waking · downloading model · 1 min 12 s · throttled to 2 in flight · 3 reused",
      "waking time is billed"]);
  const bad = applyProgress(null, ev({ reused: -1, throttled: "x", endpoint_state: "<b>", failed: [0, "2", 3] }), 0);
  assert.deepEqual(progressLines(bad, 0), ["3/8 done · 12.4 s"]);
  const done = applyProgress(null, ev({ state: "done", done: 8, failed: [3, 7], seeds: [1, 2] }), 0);
  assert.deepEqual(progressLines(done, 0), ["8/8 done · 12.4 s", "images 3, 7 failed and were kept unchanged"]);
  assert.equal(progressTone(done), "warn"); // a success that kept failed images is not plain "ok"
  const one = applyProgress(null, ev({ state: "done", done: 8, failed: [5], warning: "image 5 of 8 failed and was kept unchanged" }), 0);
  assert.deepEqual(progressLines(one, 0, "en"), ["8/8 done · 12.4 s", "image 5 failed and was kept unchanged"]);
  assert.deepEqual(progressLines(one, 0, "ko")[1], "이미지 5은(는) 실패하여 원본을 유지했습니다");
  // a warning without a list of images: the server's words, clipped to one line
  const warned = applyProgress(null, ev({ state: "done", done: 8, warning: "something\nodd " + "y".repeat(200) }), 0);
  const lines = progressLines(warned, 0);
  assert.ok(lines[1].startsWith("something odd y") && lines[1].length <= 120, lines[1]);
  assert.equal(progressTone(warned), "warn");
  // blank or non-string warnings are nothing to show
  const plain = applyProgress(null, ev({ state: "done", done: 8, warning: "  ", seeds: [9] }), 0);
  assert.deepEqual(progressLines(plain, 0), ["8/8 done · 12.4 s", "seed 9"]);
  assert.equal(progressTone(plain), "ok");
  assert.equal(progressTone(applyProgress(null, ev({ state: "done", warning: 5 }), 0)), "ok");
});

test("every language has every string with the same placeholders", () => {
  const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(",");
  const keys = Object.keys(STRINGS.en).sort();
  for (const lang of ["zh", "ja", "ko"]) {
    assert.deepEqual(Object.keys(STRINGS[lang]).sort(), keys, lang);
    for (const key of keys) {
      assert.ok(STRINGS[lang][key].trim(), `${lang} ${key} is empty`);
      assert.equal(placeholders(STRINGS[lang][key]), placeholders(STRINGS.en[key]), `${lang} ${key}`);
    }
  }
  assert.equal(pickLanguage("ko"), "ko");
  assert.equal(pickLanguage("ja-JP"), "ja");
  assert.equal(pickLanguage("zh-TW"), "zh-TW");
  assert.equal(pickLanguage("zh-HK"), "zh");
  assert.equal(pickLanguage("fr"), "en");
  assert.equal(pickLanguage(undefined), "en");
  assert.equal(translator("ko")("no.such.key"), "no.such.key");
});

test("the progress line renders in each language", () => {
  const s = applyProgress(null, ev({ retries: 1, endpoint_state: "AWAKING", endpoint_phase: "DOWNLOADING_MODEL",
    endpoint_wait: 75, reused: 2 }), 0);
  const expected = {
    en: "3/8 done · 12.4 s · retry 1 · endpoint waking · downloading model · 1 min 15 s · 2 reused",
    zh: "已完成 3/8 · 12.4 秒 · 重试 1 · 端点唤醒中 · 正在下载模型 · 1 分 15 秒 · 复用 2 个",
    ja: "3/8 完了 · 12.4 秒 · リトライ 1 · エンドポイント起動中 · モデルをダウンロード中 · 1 分 15 秒 · 2 件を再利用",
    ko: "3/8 완료 · 12.4초 · 재시도 1 · 엔드포인트 깨우는 중 · 모델 다운로드 중 · 1분 15초 · 2개 재사용",
  };
  for (const [lang, line] of Object.entries(expected)) {
    assert.deepEqual(progressLines(s, 0, lang), [line, translator(lang)("progress.wakingBilled")]);
  }
  const done = applyProgress(null, ev({ state: "done", done: 8, seeds: [4, 5] }), 0);
  assert.deepEqual(progressLines(done, 0, "ko"), ["8/8 완료 · 12.4초", "시드 4, 5"]);
  assert.equal(tokenError("", "ja"), "先に API キー（flp_…）を入力してください。");
});

test("panel lines: store, endpoint test, trusted hosts", () => {
  assert.equal(storeLine({ enabled: true, size_bytes: 3 * 2 ** 30, entries: 12 }), "3.0 GiB in 12 results");
  assert.equal(storeLine({ enabled: false, size_bytes: 2048, entries: 1 }, "ko"), "결과 1개, 2 KiB (꺼짐)");
  assert.equal(endpointLine({ available: true, endpoint_id: "ep1", status: "SLEEPING", phase: null }), "ep1: sleeping");
  assert.equal(endpointLine({ available: true, endpoint_id: "ep1", status: "FAILED", explanation: "out of memory" }),
    "ep1: failed — out of memory");
  assert.match(endpointLine({ available: false }), /does not offer/);
});

// ---- issue 17: ETA, endpoint time and cost, limits, retries with causes, the result store, confirmation ----

test("one image: an ETA moves the bar (at most 95 %) and counts down; none known: an animated bar", () => {
  // 3 s into the run, 2 s of it at the endpoint; its kind answers in 12 s (median), 15 s (90th percentile)
  const s = applyProgress(null, ev({ done: 0, total: 1, elapsed: 3, eta: 12, eta_p90: 15, at_endpoint: 2 }), 1000);
  assert.equal(barMode(s), "determinate");
  assert.equal(progressFraction(s, 1000), 2 / 12);
  assert.equal(progressFraction(s, 5000), 6 / 12); // the clock ticks between events
  assert.equal(progressFraction(s, 60000), 0.95); // past the ETA: never full before it is done
  assert.deepEqual(progressLines(s, 1000), ["0/1 done · 3.0 s · ~10 s left"]);
  assert.deepEqual(progressLines(s, 8600), ["0/1 done · 10.6 s · ~3 s left"]);
  assert.deepEqual(progressLines(s, 10000), ["0/1 done · 12.0 s · ~1 s left"]);
  assert.deepEqual(progressLines(s, 14000), ["0/1 done · 16.0 s · almost done"]); // past the median, not the p90
  assert.deepEqual(progressLines(s, 14400), ["0/1 done · 16.4 s · almost done"]); // within half a second of it
  assert.deepEqual(progressLines(s, 14600), ["0/1 done · 16.6 s · taking longer than usual"]);
  assert.equal(progressLines(s, 14600, "ko")[0], "0/1 완료 · 16.6초 · 평소보다 오래 걸리는 중");
  assert.equal(progressLines(s, 14000, "ja")[0].split(" · ").at(-1), "まもなく完了");
  // the case: a 2-3 s request is not "late" at 1.6-2.3 s
  const usual = applyProgress(null, ev({ done: 0, total: 1, elapsed: 1.6, eta: 2.4, eta_p90: 3, at_endpoint: 1.5 }), 0);
  assert.deepEqual(progressLines(usual, 0), ["0/1 done · 1.6 s · almost done"]); // 0.9 s left
  assert.doesNotMatch(progressLines(usual, 800)[0], /longer/);
  // not yet at the endpoint (encoding, waking, waiting for a slot, between retries): no countdown, an empty bar
  const waiting = applyProgress(null, ev({ done: 0, total: 1, elapsed: 2, eta: 12, eta_p90: 15 }), 0);
  assert.deepEqual(progressLines(waiting, 0), ["0/1 done · 2.0 s"]);
  assert.equal(progressFraction(waiting, 5000), 0);
  const unknown = applyProgress(null, ev({ done: 0, total: 1, elapsed: 2, eta: null }), 0);
  assert.equal(barMode(unknown), "indeterminate");
  assert.equal(progressFraction(unknown, 0), 0);
  assert.deepEqual(progressLines(unknown, 0), ["0/1 done · 2.0 s"]);
  // a batch, a finished image or a finished run: the plain share of images
  assert.equal(barMode(applyProgress(null, ev({ eta: null }), 0)), "determinate");
  assert.equal(barMode(applyProgress(null, ev({ done: 1, total: 1, eta: null }), 0)), "determinate");
  const done = applyProgress(null, ev({ state: "done", done: 1, total: 1, eta: 12 }), 0);
  assert.equal(progressFraction(done, 0), 1);
  assert.equal(barMode(done), "determinate");
  assert.deepEqual(progressLines(done, 0), ["1/1 done · 12.4 s"]);
  // bad values are no ETA
  for (const eta of [-1, 0, "12", NaN]) assert.equal(applyProgress(null, ev({ total: 1, done: 0, eta }), 0).eta, null);
});

test("endpoint time and its cost estimate, on the running and the final line", () => {
  const s = applyProgress(null, ev({ endpoint_s: 12.44, cost: 0.0312 }), 0);
  assert.deepEqual(progressLines(s, 0), ["3/8 done · 12.4 s", "endpoint time 12.4 s · ≈ $0.03"]);
  const done = applyProgress(null, ev({ state: "done", done: 8, endpoint_s: 130, cost: null, seeds: [1] }), 0);
  assert.deepEqual(progressLines(done, 0), ["8/8 done · 12.4 s", "endpoint time 2 min 10 s", "seed 1"]);
  assert.deepEqual(progressLines(applyProgress(null, ev({ endpoint_s: 0, cost: 0 }), 0), 0), ["3/8 done · 12.4 s"]);
  assert.deepEqual(progressLines(applyProgress(null, ev({ endpoint_s: 0.04, cost: 0 }), 0), 0), ["3/8 done · 12.4 s"]);
  // tiny sums while the endpoint works: "< $0.01", never "≈ $0.00"
  assert.deepEqual(progressLines(applyProgress(null, ev({ endpoint_s: 0.4, cost: 0.0004 }), 0), 0),
    ["3/8 done · 12.4 s", "endpoint time 0.4 s · < $0.01"]);
  assert.deepEqual(progressLines(applyProgress(null, ev({ endpoint_s: -3, cost: -1 }), 0), 0), ["3/8 done · 12.4 s"]);
  assert.equal(costText(0.0312), "≈ $0.03");
  assert.equal(costText(0.004), "< $0.01");
  assert.equal(costText(0), "");
  assert.equal(costText(12.5), "≈ $12.50");
  assert.equal(costText(NaN), "");
  const ko = progressLines(s, 0, "ko");
  assert.equal(ko[1], "엔드포인트 시간 12.4초 · ≈ $0.03");
});

test("the result store: no endpoint time; waking is billed; the endpoint limit; advisories", () => {
  const stored = applyProgress(null, ev({ state: "done", done: 8, stored: true, endpoint_s: 0, reused: 8, seeds: [3] }), 0);
  assert.deepEqual(progressLines(stored, 0),
    ["8/8 done · 12.4 s · 8 reused", "from the result store · no endpoint time", "seed 3"]);
  const waking = applyProgress(null, ev({ endpoint_state: "AWAKING", endpoint_s: 0, cost: 0 }), 0);
  assert.deepEqual(progressLines(waking, 0)[1], "waking time is billed");
  const limited = applyProgress(null, ev({ limit: 8 }), 0);
  assert.deepEqual(progressLines(limited, 0), ["3/8 done · 12.4 s · 8 in flight (endpoint limit)"]);
  assert.deepEqual(progressLines(applyProgress(null, ev({ state: "done", limit: 8 }), 0), 0), ["3/8 done · 12.4 s"]);
  const silent = applyProgress(null, ev({ advisory: "status unknown · sending anyway" }), 0);
  assert.deepEqual(progressLines(silent, 0)[1], "status unknown · sending anyway");
  assert.deepEqual(progressLines(silent, 0, "ja")[1], "状態不明 · そのまま送信");
  const other = applyProgress(null, ev({ advisory: "something new" }), 0);
  assert.deepEqual(progressLines(other, 0, "ko")[1], "something new"); // the server's words when unknown
});

test("retries name the attempt, the cause and the next try (counting down while running)", () => {
  const s = applyProgress(null, ev({ retries: 2, retry: { attempt: 2, max: 5, cause: "connection refused", wait: 4 } }), 1000);
  assert.deepEqual(progressLines(s, 1000), ["3/8 done · 12.4 s · retry 2/5 · connection refused · next in 4 s"]);
  assert.deepEqual(progressLines(s, 2500), ["3/8 done · 13.9 s · retry 2/5 · connection refused · next in 3 s"]);
  assert.deepEqual(progressLines(s, 5000), ["3/8 done · 16.4 s · retry 2/5 · connection refused"]);
  assert.equal(progressLines(s, 1000, "ko")[0], "3/8 완료 · 12.4초 · 재시도 2/5 · 연결 거부됨 · 4초 후 다시 시도");
  const http = applyProgress(null, ev({ retry: { attempt: 1, max: 5, cause: "HTTP 503", wait: null } }), 0);
  assert.deepEqual(progressLines(http, 0, "zh"), ["已完成 3/8 · 12.4 秒 · 重试 1/5 · HTTP 503"]);
  const done = applyProgress(null, ev({ state: "done", done: 8, retry: { attempt: 1, max: 5, cause: "timeout", wait: 2 } }), 0);
  assert.deepEqual(progressLines(done, 0), ["8/8 done · 12.4 s · retry 1/5 · timeout"]);
  // a broken retry object falls back to the bare counter
  const bad = applyProgress(null, ev({ retries: 1, retry: { attempt: "2" } }), 0);
  assert.deepEqual(progressLines(bad, 0), ["3/8 done · 12.4 s · retry 1"]);
  for (const [cause, ko] of [["connection refused", "연결 거부됨"], ["connection dropped", "연결 끊김"],
    ["timeout", "시간 초과"], ["DNS", "DNS 조회 실패"], ["TLS", "TLS 오류"], ["proxy", "프록시 오류"], ["HTTP 429", "HTTP 429"],
    ["something else", "something else"]]) assert.equal(causeText(cause, "ko"), ko);
});

test("an error keeps finished results: the line says re-queue sends only the rest", () => {
  const e = applyProgress(null, ev({ state: "error", kept: 3, message: "image 4 of 8 failed: 500" }), 0);
  assert.deepEqual(progressLines(e, 0), ["3/8 done · 12.4 s", "3 finished results kept; re-queue sends only the rest",
    "error: image 4 of 8 failed: 500"]);
  const one = applyProgress(null, ev({ state: "error", kept: 1, message: "x" }), 0);
  assert.equal(progressLines(one, 0)[1], "1 finished result kept; re-queue sends only the rest");
  assert.equal(progressLines(applyProgress(null, ev({ state: "error", kept: 0, message: "x" }), 0), 0).length, 2);
});

test("old events (none of the new fields) render as before, waking now said to be billed", () => {
  const old = applyProgress(null, { node: "7", state: "running", done: 1, total: 1, elapsed: 3, retries: 1, waking: true }, 0);
  assert.deepEqual(progressLines(old, 0), ["1/1 done · 3.0 s · retry 1 · endpoint waking up", "waking time is billed"]);
  assert.equal(barMode(old), "determinate");
  assert.equal(progressFraction(old, 0), 1);
});

test("time formats: whole seconds for countdowns, spans for running endpoints", () => {
  assert.equal(formatSeconds(3.2), "4 s");
  assert.equal(formatSeconds(0), "0 s");
  assert.equal(formatSeconds(61), "1 min 01 s");
  assert.equal(formatSpan(45), "45 s");
  assert.equal(formatSpan(300), "5 min");
  assert.equal(formatSpan(4320), "1 h 12 min");
  assert.equal(formatSpan(3 * 86400 + 4 * 3600 + 5), "3 d 4 h");
  assert.equal(formatSpan(-1), "0 s");
  assert.equal(formatSpan(4320, "ko"), "1시간 12분");
});

test("Test connection with the endpoint's info: name, GPUs, replicas, cooldown, running time, price per hour", () => {
  const info = { name: "my-endpoint", gpu_type: "A100", num_gpu: 2, replicas_current: 1, replicas_min: 0,
    replicas_max: 2, cooldown_s: 300, running_s: 4320 };
  const answer = { available: true, endpoint_id: "ep1", status: "RUNNING", phase: null, info };
  assert.equal(endpointLine(answer),
    "my-endpoint · running · A100 × 2 · replicas 1 (min 0, max 2) · cooldown 5 min · running 1 h 12 min");
  assert.equal(endpointLine(answer, "en", 2), endpointLine(answer) + " · ≈ $4.00/h");
  // every field may be null: what is known is shown
  const sparse = { ...answer, status: "SLEEPING", info: { name: null, gpu_type: "H100", num_gpu: null,
    replicas_current: 0, replicas_min: null, replicas_max: null, cooldown_s: null, running_s: null } };
  assert.equal(endpointLine(sparse, "en", 2), "ep1 · sleeping · H100 · replicas 0");
  assert.equal(endpointLine({ ...answer, info: {} }), "ep1 · running");
  assert.equal(endpointLine({ ...answer, info: null }), "ep1: running"); // an older server: as before
  assert.equal(endpointLine(answer, "ko"),
    "my-endpoint · 실행 중 · A100 × 2 · 레플리카 1개 (최소 0, 최대 2) · 쿨다운 5분 · 실행 1시간 12분");
  const failed = { ...answer, status: "FAILED", explanation: "out of memory" };
  assert.ok(endpointLine(failed).endsWith(" — out of memory"));
});

test("the no-key error from the server becomes the UI's words", () => {
  const server = "No Friendli API key is configured. Set the FRIENDLI_TOKEN environment variable before starting ComfyUI";
  assert.ok(isNoKeyError(server));
  assert.equal(errorMessage(400, { error: server }), "No API key yet. Paste your Friendli API key above and press Save.");
  assert.equal(errorMessage(400, { error: server }, "ko"), STRINGS.ko["endpoint.noKey"]);
  assert.ok(!isNoKeyError("the key was refused"));
});

test("the confirmation asked before a large run", () => {
  assert.deepEqual(parseConfirm({ id: "c1", node: 12, requests: 64, message: "This run sends 64 requests" }),
    { id: "c1", node: "12", requests: 64, estimate: null, message: "This run sends 64 requests" });
  assert.deepEqual(parseConfirm({ id: "c1", requests: 64, estimate: { seconds: 80, cost: 0.4 } }).estimate,
    { seconds: 80, cost: 0.4 });
  for (const estimate of [null, 5, { seconds: -1 }, { seconds: "80" }, { cost: 1 }]) {
    assert.equal(parseConfirm({ id: "c1", requests: 64, estimate }).estimate, null);
  }
  assert.equal(parseConfirm({ id: 7 }).id, 7);
  for (const bad of [null, "x", {}, { id: "" }, { id: 1.5 }, { id: "x".repeat(201) }]) assert.equal(parseConfirm(bad), null);
  const en = confirmText({ id: "c1", requests: 64 });
  assert.equal(en.message, "This run sends 64 requests to the endpoint (billed GPU time). Send them?");
  assert.equal(confirmText({ id: "c1", requests: 64 }, "ko").message,
    "이번 실행은 엔드포인트에 요청 64개를 보냅니다(GPU 시간 과금). 보낼까요?");
  // no count: the server's English text
  assert.equal(confirmText({ id: "c1", message: "Send them?" }).message, "Send them?");
  // with the endpoint's recent answers: the likely endpoint time, and its cost when a price is set
  assert.equal(confirmText({ id: "c1", requests: 64, estimate: { seconds: 80.4, cost: 0.42 } }).message,
    "This run sends 64 requests to the endpoint (billed GPU time): about 1 min 21 s of endpoint time, ≈ $0.42, " +
    "judging by its recent answers. Send them?");
  assert.equal(confirmText({ id: "c1", requests: 64, estimate: { seconds: 12, cost: null } }, "ko").message,
    "이번 실행은 엔드포인트에 요청 64개를 보냅니다(GPU 시간 과금). 최근 응답으로 보아 엔드포인트 시간은 약 12초입니다. 보낼까요?");
  assert.match(confirmText({ id: "c1", requests: 9, estimate: { seconds: 0.2, cost: 0.00001 } }, "ja").message,
    /約 1 秒（< \$0\.01）/);
});

test("badge colours follow the palette; the advanced toggle's label", () => {
  assert.deepEqual(badgeColors("#FFF"), { fgColor: "#FFF", bgColor: "#8D6932" });
  assert.deepEqual(badgeColors(undefined), { fgColor: "#FFF", bgColor: "#8D6932" });
  assert.equal(badgeColors("#000").fgColor, "#000");
  assert.equal(advancedLabel(false, 5), "▸ advanced (5)");
  assert.equal(advancedLabel(true, 5), "▾ hide advanced");
  assert.equal(advancedLabel(false, 5, "ko"), "▸ 고급 (5)");
});

test("progress: the size an image was sent at (issue 19), only a W×H text", () => {
  const state = applyProgress(undefined, { node: "1", state: "running", done: 0, total: 1, sent: "1024×768" }, 0);
  assert.match(progressLines(state, 0)[0], /sent at 1024×768/);
  assert.match(progressLines(state, 0, "ko")[0], /1024×768로 전송/);
  const bad = applyProgress(undefined, { node: "1", state: "running", done: 0, total: 1, sent: "<b>x</b>" }, 0);
  assert.doesNotMatch(progressLines(bad, 0).join(" "), /sent at|<b>/);
});

test("a batch counts down the server's estimate (`left`) between events; none without one or while waking", () => {
  // 3 of 8 done, 12.4 s in; the server estimated 7.5 s left when it sent the event (received at 1 s)
  const s = applyProgress(null, ev({ eta: 2.5, eta_p90: 3, left: 7.5 }), 1000);
  assert.equal(s.left, 7.5);
  assert.deepEqual(progressLines(s, 1000), ["3/8 done · 12.4 s · ~8 s left"]);
  assert.deepEqual(progressLines(s, 4000), ["3/8 done · 15.4 s · ~5 s left"]); // the clock ticks between events
  assert.deepEqual(progressLines(s, 7400), ["3/8 done · 18.8 s · ~2 s left"]);
  assert.deepEqual(progressLines(s, 7600), ["3/8 done · 19.0 s · almost done"]); // below 1 s: never "0 s"
  assert.deepEqual(progressLines(s, 30000), ["3/8 done · 41.4 s · almost done"]); // never negative
  assert.equal(progressLines(s, 1000, "ko")[0], "3/8 완료 · 12.4초 · 약 8초 남음");
  assert.equal(progressLines(s, 1000, "ja")[0].split(" · ").at(-1), "残り約 8 秒");
  assert.equal(progressLines(applyProgress(null, ev({ left: 130 }), 0), 0)[0], "3/8 done · 12.4 s · ~2 min 10 s left");
  // the next event replaces the estimate (it may rise: an image took longer than usual)
  const next = applyProgress(s, ev({ done: 4, elapsed: 14, left: 9 }), 2600);
  assert.deepEqual(progressLines(next, 2600), ["4/8 done · 14.0 s · ~9 s left"]);
  // the bar stays the share of images done, with or without an estimate
  assert.equal(progressFraction(s, 5000), 3 / 8);
  assert.equal(barMode(s), "determinate");
  // no estimate (no history yet, a retry wait, waking: the server sends none), a bad value, waking, the end
  assert.deepEqual(progressLines(applyProgress(null, ev({ eta: null }), 0), 0), ["3/8 done · 12.4 s"]);
  for (const left of [-1, "7", NaN, null]) assert.equal(applyProgress(null, ev({ left }), 0).left, undefined);
  assert.doesNotMatch(progressLines(applyProgress(null, ev({ left: 7.5, waking: true }), 0), 0)[0], /left/);
  assert.doesNotMatch(progressLines(applyProgress(null, ev({ left: 7.5, endpoint_state: "AWAKING" }), 0), 0)[0], /left/);
  const done = applyProgress(null, ev({ state: "done", done: 8, left: 2 }), 0);
  assert.deepEqual(progressLines(done, 0), ["8/8 done · 12.4 s"]);
  assert.doesNotMatch(progressLines(settle(s, 3000), 3000)[0], /left/);
  // a lone request ignores `left`: its own countdown (time at the endpoint against the median) as before
  const lone = applyProgress(null, ev({ done: 0, total: 1, elapsed: 3, eta: 12, eta_p90: 15, at_endpoint: 2, left: 1 }), 0);
  assert.deepEqual(progressLines(lone, 0), ["0/1 done · 3.0 s · ~10 s left"]);
});
