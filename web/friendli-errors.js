// The host's answer to a queued prompt, each Friendli setup problem on its own field. ComfyUI titles a failing
// VALIDATE_INPUTS with the one input the check names (endpoint_id, see nodes/validate.py), so all the lines of a
// Friendli node's check arrive as one entry; each line starts with its field's label and becomes its own entry,
// on that field (`prompt`, `endpoint_id`; the API key's line stays on the input the host named). Pure, no DOM.

export const FIELD_LABELS = { endpoint_id: "endpoint_id", prompt: "prompt", "API key (Settings > Friendli)": null };
const MAX_LINES = 8; // the check says at most three; anything longer is not ours and is left alone
const MAX_DETAILS = 20000;

/** The field a line is about (null: the host's input), or undefined when it has no label of ours. */
function lineField(line) {
  const colon = line.indexOf(": ");
  const label = colon > 0 ? line.slice(0, colon) : "";
  return Object.hasOwn(FIELD_LABELS, label) ? FIELD_LABELS[label] : undefined;
}

/** One entry per labelled line of a custom_validation_failed entry; [entry] when it is anything else. */
export function splitEntry(entry) {
  const named = entry?.extra_info?.input_name;
  if (entry?.type !== "custom_validation_failed" || typeof entry.details !== "string" || typeof named !== "string"
      || entry.details.length > MAX_DETAILS) return [entry];
  const prefix = `${named} - `; // the host's own "input - message"
  const text = entry.details.startsWith(prefix) ? entry.details.slice(prefix.length) : entry.details;
  const lines = text.split("\n").filter((line) => line.trim());
  if (lines.length < 2 || lines.length > MAX_LINES) return [entry];
  const fields = lines.map(lineField);
  if (fields.includes(undefined)) return [entry];
  return lines.map((line, i) => ({
    ...entry, details: line, extra_info: { ...entry.extra_info, input_name: fields[i] ?? named },
  }));
}

/** Split the entries of Friendli nodes in a /prompt answer's node_errors, in place; how many entries were split. */
export function splitNodeErrors(nodeErrors) {
  let split = 0;
  if (!nodeErrors || typeof nodeErrors !== "object") return split;
  for (const nodeError of Object.values(nodeErrors)) {
    if (typeof nodeError?.class_type !== "string" || !nodeError.class_type.startsWith("Friendli")
        || !Array.isArray(nodeError.errors)) continue;
    const entries = nodeError.errors.flatMap((entry) => {
      const parts = splitEntry(entry);
      if (parts.length > 1) split += 1;
      return parts;
    });
    if (entries.length !== nodeError.errors.length) nodeError.errors = entries;
  }
  return split;
}

/** Wrap api.queuePrompt (frontends 1.27-1.58: it throws a PromptExecutionError whose `response` holds
 * node_errors, read afterwards by the dialog and the canvas) so both its answer and its error are split.
 * The same result or error comes out; the wrapper itself never throws. False when there is nothing to wrap. */
export function wrapQueuePrompt(api) {
  const original = api?.queuePrompt;
  if (typeof original !== "function" || original.friendliSplit) return false;
  const quietly = (answer) => {
    try {
      splitNodeErrors(answer()?.node_errors);
    } catch {
      // the host's answer is shown as it came
    }
  };
  const wrapped = async function queuePrompt(...args) {
    let answer;
    try {
      answer = await original.apply(this, args);
    } catch (error) {
      quietly(() => error?.response);
      throw error;
    }
    quietly(() => answer);
    return answer;
  };
  wrapped.friendliSplit = true;
  api.queuePrompt = wrapped;
  return true;
}
