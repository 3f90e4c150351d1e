// Pure rules for how the Friendli nodes sit in ComfyUI's page: room for batch previews, the input slots of
// hidden advanced widgets, the order of the pack's templates, trusted-host entries. No DOM, no ComfyUI
// imports: ComfyUI loads every .js under web/ as an extension, and loading this one does nothing.
import { translator } from "./friendli-strings.js";

/** Widgets the frontend (1.27 to 1.58) adds to a node to show its preview images on the classic canvas. */
export const PREVIEW_WIDGETS = ["$$canvas-image-preview", "$$comfy_animation_preview"];

/**
 * The least height the prompt box keeps while a preview shows (0 = no hold). The frontend shares a node's free
 * height between its growable widgets, so a preview (220 px at least) took it from the prompt box; holding the
 * box at the height it had without a preview makes the canvas grow the node instead.
 * ``hold``: the current hold; ``free``: the prompt box's last height with no preview; ``preview``: one shows now.
 */
export function promptHold(hold, free, preview) {
  if (!preview) return 0;
  return hold > 0 ? hold : Math.max(0, Math.round(free || 0));
}

/** A growable widget's layout size ({minHeight, maxHeight, ...}) with the least height ``hold`` (px). */
export function heldSize(size, hold) {
  if (!(hold > 0) || !size) return size;
  return { ...size, minHeight: Math.max(size.minHeight ?? 0, hold) };
}

/**
 * Whether the input slot of a widget the canvas does not show is moved out of reach. The frontend lays a
 * hidden widget's row out with no height, so its slot sat on the next visible row and answered hovers (and its
 * tooltip) first. A slot with a link stays, so the link keeps ending on the node.
 */
export function parkSlot(input, widgetVisible) {
  return !!input?.widget?.name && input.link == null && widgetVisible === false;
}

/** ``templates`` ({pack folder: [names]}, GET /workflow_templates) with the list of ``pack`` in name order. */
export function orderTemplates(templates, pack) {
  if (!templates || typeof templates !== "object" || !Array.isArray(templates[pack])) return templates;
  const names = [...templates[pack]].sort((a, b) => String(a).localeCompare(String(b), "en"));
  return { ...templates, [pack]: names };
}

/** The pack's folder from the URL of one of its scripts (/extensions/<folder>/friendli.js). */
export function packFolder(scriptUrl) {
  const parts = new URL(scriptUrl).pathname.split("/").filter(Boolean);
  const at = parts.indexOf("extensions");
  return at >= 0 && parts[at + 1] ? decodeURIComponent(parts[at + 1]) : "";
}

// ---- trusted hosts ----------------------------------------------------------------------------------
export const MAX_TRUSTED_HOSTS = 32; // client/prefs.py MAX_TRUSTED_HOSTS
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST_RE = new RegExp(`^(?:${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::([0-9]{1,5}))?$`);

/** Trusted hosts typed in one field, one entry per comma, semicolon or line (spaces inside an entry are kept). */
export function hostEntries(text) {
  return String(text ?? "").split(/[,;\n\r]+/).map((h) => h.trim()).filter(Boolean);
}

/** The first problem with ``entries`` in ``lang`` (as client/prefs.py judges them), or null. */
export function hostsProblem(entries, lang = "en") {
  const t = translator(lang);
  if (entries.length > MAX_TRUSTED_HOSTS) return t("hosts.tooMany", { max: MAX_TRUSTED_HOSTS });
  for (const entry of entries) {
    const shown = entry.length > 80 ? `${entry.slice(0, 80)}…` : entry;
    if (/\s/.test(entry)) return t("hosts.space", { entry: shown });
    let text = entry.toLowerCase();
    const scheme = text.indexOf("://");
    if (scheme >= 0) {
      if (!["http", "https"].includes(text.slice(0, scheme))) return t("hosts.invalid", { entry: shown });
      text = text.slice(scheme + 3);
    }
    text = text.split("/")[0];
    const match = HOST_RE.exec(text);
    const port = match?.[1] === undefined ? 1 : Number(match[1]);
    if (!match || text.length > 260 || port < 1 || port > 65535) return t("hosts.invalid", { entry: shown });
  }
  return null;
}
