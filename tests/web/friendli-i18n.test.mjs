// The extension's text in every language: string tables, the settings table against locales/, the progress
// line and the panel lines rendered in each language. `node --test tests/web/` (Node >= 20, no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  SETTINGS, SETTING_GROUPS, applyProgress, endpointLine, endpointTone, progressLines, settingDeclarations, statusLine,
  storeLine, teamError, tokenError,
} from "../../web/friendli-logic.js";
import { STRINGS, pickLanguage, translator } from "../../web/friendli-strings.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LANGS = Object.keys(STRINGS);
const LOCALES = readdirSync(`${ROOT}locales`).sort();
const json = (lang, name) => JSON.parse(readFileSync(`${ROOT}locales/${lang}/${name}.json`, "utf8"));
const placeholders = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(",");

test("the extension speaks exactly the languages locales/ ships", () => {
  assert.deepEqual([...LANGS].sort(), LOCALES);
  for (const lang of ["en", "zh", "ja", "ko"]) assert.ok(LANGS.includes(lang), lang);
});

test("string tables: same keys and placeholders in every language, nothing left untranslated by accident", () => {
  const keys = Object.keys(STRINGS.en).sort();
  for (const lang of LANGS) {
    assert.deepEqual(Object.keys(STRINGS[lang]).sort(), keys, lang);
    for (const key of keys) {
      const text = STRINGS[lang][key];
      assert.equal(typeof text, "string");
      assert.ok(text.trim(), `${lang} ${key} is empty`);
      assert.equal(placeholders(text), placeholders(STRINGS.en[key]), `${lang} ${key}`);
    }
  }
  // words (not ids, units or examples) differ from English in the other languages
  const same = ["key.placeholder", "hosts.placeholder", "endpoint.state"];
  for (const lang of LANGS.filter((l) => l !== "en")) {
    for (const key of keys.filter((k) => !same.includes(k))) {
      assert.notEqual(STRINGS[lang][key], STRINGS.en[key], `${lang} ${key} is the English text`);
    }
  }
});

test("every key the extension's code asks for exists, and every string is used", () => {
  const code = ["friendli.js", "friendli-logic.js", "friendli-layout.js"].map((f) => readFileSync(`${ROOT}web/${f}`, "utf8")).join("\n");
  const asked = new Set([...code.matchAll(/(?:\btr?|\))\("([\w.]+)"/g)].map((m) => m[1]));
  assert.ok(asked.size > 30);
  for (const key of asked) assert.ok(key in STRINGS.en, `missing string ${key}`);
  const dynamic = ["state.", "phase.", "headless."]; // t(`state.${...}`), t(`phase.${...}`), tr(`headless.${...}`)
  for (const key of Object.keys(STRINGS.en)) {
    if (dynamic.some((prefix) => key.startsWith(prefix))) continue;
    const viaKeyVariable = key.startsWith("progress.failed") || key === "progress.seed" || key === "progress.seeds"
      || key.startsWith("aria.") || key.startsWith("cause.") || key === "key.saved" || key === "key.removed";
    assert.ok(asked.has(key) || (viaKeyVariable && code.includes(`"${key}"`)), `unused string ${key}`);
  }
});

test("language choice follows Comfy.Locale, English otherwise", () => {
  for (const lang of LANGS) assert.equal(pickLanguage(lang), lang);
  assert.equal(pickLanguage("ja-JP"), "ja");
  assert.equal(pickLanguage("ko_KR"), "ko");
  assert.equal(pickLanguage("zh-TW"), LANGS.includes("zh-TW") ? "zh-TW" : "zh");
  assert.equal(pickLanguage("fr"), "en");
  assert.equal(pickLanguage(""), "en");
  assert.equal(pickLanguage(null), "en");
  assert.equal(translator("xx")("key.save"), "Save");
});

test("the progress line renders every field in each language", () => {
  const base = { node: "7", state: "running", done: 3, total: 8, elapsed: 74, retries: 1 };
  const events = [
    { ...base, endpoint_state: "AWAKING", endpoint_phase: "DOWNLOADING_MODEL", endpoint_wait: 72 },
    { ...base, endpoint_state: "INITIALIZING", endpoint_phase: "REQUESTING_VIRTUAL_MACHINE" },
    { ...base, endpoint_state: "UPDATING", endpoint_phase: "ENGINE_INITIALIZING" },
    { ...base, endpoint_state: "SLEEPING" },
    { ...base, waking: true, throttled: 2, reused: 3 },
    { ...base, state: "done", done: 8, reused: 8, seeds: [1, 2, 3] },
    { ...base, state: "done", done: 8, seeds: [4] },
    { ...base, state: "done", done: 8, failed: [3, 7] },
    { ...base, state: "done", done: 8, failed: [5] },
    { ...base, state: "error", message: "" },
    { ...base, state: "error", message: "image 2 of 8 failed: 401" },
    { ...base, state: "cancelled" },
  ];
  const rendered = {};
  for (const lang of LANGS) {
    rendered[lang] = events.map((data) => progressLines(applyProgress(null, data, 0), 0, lang));
    for (const lines of rendered[lang]) {
      assert.ok(lines.length >= 1 && lines.length <= 3, lang);
      for (const text of lines) {
        assert.ok(text.trim(), lang);
        assert.doesNotMatch(text, /\{\w+\}|\b(progress|state|phase|time)\.\w+/, `${lang}: ${text}`);
      }
    }
    // each field's text (from the table) appears where the event carries it
    const t = translator(lang);
    const [waking, , , , throttled, reused, , failed, failedOne, error, , cancelled] = rendered[lang];
    assert.ok(waking[0].includes(t("phase.DOWNLOADING_MODEL")) && waking[0].includes(t("time.minutes", { m: 1, s: "12" })));
    assert.ok(waking[0].includes(t("progress.endpoint", { state: t("state.AWAKING") })));
    assert.ok(throttled[0].includes(t("progress.throttled", { n: 2 })) && throttled[0].includes(t("progress.reused", { n: 3 })));
    assert.ok(throttled[0].includes(t("progress.waking")));
    assert.ok(reused[0].includes(t("progress.reused", { n: 8 })));
    assert.deepEqual(failed[1], t("progress.failed", { list: "3, 7" }));
    assert.deepEqual(failedOne[1], t("progress.failedOne", { list: "5" }));
    assert.deepEqual(error[1], t("progress.error", { message: t("progress.failedPlain") }));
    assert.ok(cancelled[0].endsWith(t("progress.cancelled")));
  }
  // not English under another name
  for (const lang of LANGS.filter((l) => l !== "en")) assert.notDeepEqual(rendered[lang], rendered.en, lang);
  assert.deepEqual(rendered.en[0], ["3/8 done · 1 min 14 s · retry 1 · endpoint waking · downloading model · 1 min 12 s",
    "waking time is billed"]);
});

test("the new progress fields render in each language (ETA, retries with causes, endpoint time, store, limit)", () => {
  const base = { node: "7", state: "running", done: 0, total: 1, elapsed: 4 };
  const events = [
    { ...base, eta: 20, endpoint_s: 3.5, cost: 0.02, limit: 8 },
    { ...base, retry: { attempt: 2, max: 5, cause: "connection refused", wait: 4 }, endpoint_state: "AWAKING" },
    ...["connection dropped", "timeout", "DNS", "TLS", "proxy"].map((cause) => ({ ...base, retry: { attempt: 1, max: 5, cause } })),
    { ...base, eta: 1, eta_p90: 1.2, at_endpoint: 2, advisory: "status unknown · sending anyway" },
    { ...base, eta: 20, at_endpoint: 19.5 },
    { ...base, state: "cancelled", unanswered: 2, endpoint_s: 3, cost: 0.5 },
    { ...base, state: "done", done: 1, stored: true, seeds: [1] },
    { ...base, state: "error", kept: 3, message: "x" },
    { ...base, state: "error", kept: 1, message: "x" },
  ];
  const rendered = {};
  for (const lang of LANGS) {
    rendered[lang] = events.map((data) => progressLines(applyProgress(null, data, 0), 0, lang));
    for (const lines of rendered[lang]) {
      assert.ok(lines.length >= 1 && lines.length <= 3, lang);
      for (const text of lines) assert.doesNotMatch(text, /\{\w+\}|\b(progress|state|phase|time|cause|status)\.\w+/, `${lang}: ${text}`);
    }
    const t = translator(lang);
    const [eta, retry, dropped, , , , , late, soon, cancelled, stored, kept, keptOne] = rendered[lang];
    assert.ok(soon[0].endsWith(t("progress.etaSoon")), soon[0]);
    assert.ok(cancelled[0].endsWith(`${t("progress.cancelled")} · ${t("progress.unanswered", { n: 2 })}`), cancelled[0]);
    assert.ok(eta[0].includes(t("progress.limit", { n: 8 })), eta[0]);
    assert.ok(eta[1].startsWith(t("progress.endpointTime", { time: "" }).trim().split(" ")[0]), eta[1]);
    assert.ok(retry[0].includes(t("cause.refused")) && retry[1].includes(t("progress.wakingBilled")), retry.join("|"));
    assert.ok(dropped[0].includes(t("cause.dropped")));
    assert.ok(late[0].includes(t("progress.etaLate")) && late[1] === t("status.silent"), late.join("|"));
    assert.equal(stored[1], t("progress.stored"));
    assert.equal(kept[1], t("progress.kept", { n: 3 }));
    assert.equal(keptOne[1], t("progress.keptOne"));
  }
  for (const lang of LANGS.filter((l) => l !== "en")) {
    rendered[lang].forEach((lines, i) => assert.notDeepEqual(lines, rendered.en[i], `${lang} ${i}`));
  }
});

test("panel lines in each language: key checks, status, store, endpoint test", () => {
  for (const lang of LANGS) {
    const t = translator(lang);
    assert.equal(tokenError("", lang), t("key.empty"));
    assert.equal(tokenError("short", lang), t("key.length", { min: 8, max: 512 }));
    assert.equal(teamError("bad team", lang), t("team.invalid", { max: 128 }));
    const status = statusLine({ source: "file", base_url: "https://api.friendli.ai", team: "t1" }, lang);
    assert.ok(status.text.includes(t("status.hintSet")) && status.text.includes("t1"));
    const store = storeLine({ enabled: false, size_bytes: 2 ** 30, max_bytes: 4 * 2 **30, entries: 3 }, lang);
    assert.ok(store.includes("1.0 GiB") && store.includes("4.0 GiB") && store.includes(t("store.off")), store);
    const sleeping = endpointLine({ available: true, endpoint_id: "ep1", status: "SLEEPING", phase: null }, lang);
    assert.equal(sleeping, t("endpoint.state", { id: "ep1", state: t("state.SLEEPING") }));
    const failed = endpointLine({ available: true, endpoint_id: "ep1", status: "FAILED", error_code: "X",
      explanation: "the engine ran out of memory" }, lang);
    assert.ok(failed.includes(t("state.FAILED")) && failed.endsWith("the engine ran out of memory"));
    assert.equal(endpointLine({ available: false, reason: "no route" }, lang), t("endpoint.unavailable"));
  }
  // a state this version does not know is shown as the server named it
  assert.equal(endpointLine({ available: true, endpoint_id: "e", status: "HIBERNATING", explanation: "" }), "e: HIBERNATING");
  assert.equal(endpointTone({ status: "FAILED" }), "error");
  assert.equal(endpointTone({ status: "TERMINATED" }), "error");
  assert.equal(endpointTone({ status: "SLEEPING" }), "ok");
  assert.equal(storeLine({ enabled: true, size_bytes: 0, entries: 0 }), "0 KiB in 0 results");
  assert.equal(storeLine({ enabled: true, size_bytes: 3 * 2 ** 20, max_bytes: 2 ** 40, entries: 2 }), "3 MiB of 1.0 TiB · 2 results");
});

test("settings: one table, every id in every locales/<lang>/settings.json, group labels in main.json", () => {
  const ids = SETTINGS.map((s) => s.id);
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ["Friendli.APIKey", "Friendli.Team", "Friendli.Status", "Friendli.TrustedHosts", "Friendli.MaxInFlight",
    "Friendli.WakeOnQueue", "Friendli.ResultStore", "Friendli.ResultStoreSize", "Friendli.ResultStoreClear",
    "Friendli.EndpointTest"]) assert.ok(ids.includes(id), id);
  for (const lang of LOCALES) {
    const settings = json(lang, "settings");
    assert.deepEqual(Object.keys(settings).sort(), ids.map((id) => id.replaceAll(".", "_")).sort(), lang);
    for (const s of SETTINGS) {
      const entry = settings[s.id.replaceAll(".", "_")];
      assert.ok(entry.name.trim(), `${lang} ${s.id}`);
      assert.equal("tooltip" in entry, "tooltip" in s, `${lang} ${s.id} tooltip`);
      if (lang === "en") assert.deepEqual(entry, s.tooltip ? { name: s.name, tooltip: s.tooltip } : { name: s.name });
    }
    const groups = json(lang, "main").settingsCategories;
    assert.deepEqual(Object.keys(groups).sort(), ["Friendli", ...Object.keys(SETTING_GROUPS)].sort(), lang);
    if (lang === "en") assert.deepEqual(groups, { Friendli: "Friendli", ...SETTING_GROUPS });
  }
  for (const s of SETTINGS) assert.ok(s.group in SETTING_GROUPS, s.id);
});

test("settingDeclarations: every setting needs its renderer; category = Friendli › group › name", () => {
  const renderers = Object.fromEntries(SETTINGS.map((s) => [s.id, () => null]));
  const declared = settingDeclarations(renderers);
  assert.equal(declared.length, SETTINGS.length);
  const hosts = declared.find((d) => d.id === "Friendli.TrustedHosts");
  assert.deepEqual(hosts.category, ["Friendli", "Friendli6Advanced", "Trusted hosts"]);
  assert.equal(hosts.defaultValue, "");
  assert.equal(hosts.type, renderers["Friendli.TrustedHosts"]);
  const { ["Friendli.ResultStoreClear"]: _, ...missing } = renderers;
  assert.throws(() => settingDeclarations(missing), /Friendli\.ResultStoreClear/);
});

test("the modules ComfyUI loads beside the entry point do nothing when loaded", () => {
  const files = readdirSync(`${ROOT}web`).filter((f) => f.endsWith(".js")).sort();
  assert.deepEqual(files, ["friendli-errors.js", "friendli-layout.js", "friendli-logic.js", "friendli-strings.js", "friendli.js"]);
  for (const file of ["friendli-errors.js", "friendli-layout.js", "friendli-logic.js", "friendli-strings.js"]) {
    const code = readFileSync(`${ROOT}web/${file}`, "utf8");
    assert.doesNotMatch(code, /\b(document|window|registerExtension|addEventListener|fetch)\b|scripts\/app/, file);
  }
});
