// Unit tests of web/friendli-layout.js: `node --test tests/web/` (Node >= 20, no dependencies).
import test from "node:test";
import assert from "node:assert/strict";
import {
  MAX_TRUSTED_HOSTS, heldSize, hostEntries, hostsProblem, orderTemplates, packFolder, parkSlot, promptHold,
} from "../../web/friendli-layout.js";
import { STRINGS } from "../../web/friendli-strings.js";

test("the prompt box is held at its height from before the first preview, until the preview goes", () => {
  assert.equal(promptHold(0, 106, false), 0); // no preview: no hold
  assert.equal(promptHold(0, 106.4, true), 106); // the first preview frame takes the free height
  assert.equal(promptHold(106, 30, true), 106); // later frames keep it, whatever the box shows meanwhile
  assert.equal(promptHold(106, 106, false), 0); // the preview is gone: released
  assert.equal(promptHold(0, 0, true), 0); // never laid out: nothing to hold
});

test("a held size raises the least height only", () => {
  const own = { minHeight: 30, maxHeight: undefined, minWidth: 0 };
  assert.deepEqual(heldSize(own, 106), { minHeight: 106, maxHeight: undefined, minWidth: 0 });
  assert.deepEqual(heldSize({ minHeight: 150, minWidth: 0 }, 106), { minHeight: 150, minWidth: 0 });
  assert.equal(heldSize(own, 0), own);
  assert.equal(heldSize(undefined, 106), undefined);
});

test("the layout the canvas makes: a preview no longer squeezes a held prompt box, the node grows", () => {
  // frontend 1.27-1.58 (LGraphNode arrange + distributeSpace): fixed rows first, then each growable widget gets
  // its least height, and free height beyond the sum is shared equally; a node too short grows to the sum
  const arrange = (free, mins) => {
    const need = mins.reduce((a, b) => a + b, 0);
    if (free < need) return { heights: mins, grow: need - free };
    return { heights: mins.map((m) => m + (free - need) / mins.length), grow: 0 };
  };
  const progress = 86;
  const before = arrange(106 + progress, [30, progress]).heights; // prompt box 30 px at least, progress fixed
  assert.ok(Math.abs(before[0] - (106 + 86 - 116) / 2 - 30) < 1e-9);
  const prompt0 = 106;
  const squeezed = arrange(prompt0 + progress, [30, progress, 220]); // the preview arrives, no hold: 30 px
  assert.equal(squeezed.heights[0], 30);
  const held = arrange(prompt0 + progress, [heldSize({ minHeight: 30 }, promptHold(0, prompt0, true)).minHeight,
    progress, 220]);
  assert.equal(held.heights[0], prompt0);
  assert.equal(held.grow, 220); // the node grows by the preview's height
});

test("only the unlinked slots of hidden widgets are parked", () => {
  assert.equal(parkSlot({ name: "response_format", widget: { name: "response_format" }, link: null }, false), true);
  assert.equal(parkSlot({ name: "response_format", widget: { name: "response_format" } }, false), true);
  assert.equal(parkSlot({ name: "mask_mode", widget: { name: "mask_mode" }, link: null }, true), false);
  assert.equal(parkSlot({ name: "response_format", widget: { name: "response_format" }, link: 4 }, false), false);
  assert.equal(parkSlot({ name: "image", link: null }, false), false); // not a widget's slot
  assert.equal(parkSlot(undefined, false), false);
});

test("the pack's templates in name order, the single edit first; other packs untouched", () => {
  const listed = { "comfyui-friendli": ["Friendli - Masked batch edit", "Friendli - Edit an image",
    "Friendli - Multi-image edit", "Friendli - Generate then edit"], other: ["b", "a"] };
  const ordered = orderTemplates(listed, "comfyui-friendli");
  assert.deepEqual(ordered["comfyui-friendli"], ["Friendli - Edit an image", "Friendli - Generate then edit",
    "Friendli - Masked batch edit", "Friendli - Multi-image edit"]);
  assert.deepEqual(ordered.other, ["b", "a"]);
  assert.equal(listed["comfyui-friendli"][0], "Friendli - Masked batch edit"); // the answer itself is not changed
  assert.equal(orderTemplates(listed, "missing"), listed);
  assert.equal(orderTemplates(null, "comfyui-friendli"), null);
  assert.equal(packFolder("http://127.0.0.1:8188/extensions/comfyui-friendli/friendli.js"), "comfyui-friendli");
  assert.equal(packFolder("http://h/api/extensions/my%20pack/friendli.js"), "my pack");
  assert.equal(packFolder("file:///work/main/web/friendli.js"), "");
});

test("trusted hosts: one entry per comma or line; a space inside an entry is refused, not split", () => {
  assert.deepEqual(hostEntries(" a.example.com,\n10.0.0.5:8443 ; b "), ["a.example.com", "10.0.0.5:8443", "b"]);
  assert.deepEqual(hostEntries("http://bad host"), ["http://bad host"]);
  assert.deepEqual(hostEntries(" , \n"), []);
  assert.equal(hostsProblem(["a.example.com", "10.0.0.5:8443", "https://My-Proxy.example.com/x", "[::1]:8080"]), null);
  assert.equal(hostsProblem(["http://bad host"]), STRINGS.en["hosts.space"].replace("{entry}", "http://bad host"));
  assert.match(hostsProblem(["http://bad host"]), /Separate hosts with commas/);
  assert.match(hostsProblem(["http://bad host"], "ko"), /쉼표로 구분/);
  assert.match(hostsProblem(["http://bad host"], "ja"), /カンマで区切って/);
  for (const bad of ["ftp://a.example.com", "a_b.example.com", "a.example.com:0", "a.example.com:70000", "-a.com",
    "a..com", "https://"]) {
    assert.equal(hostsProblem([bad]), STRINGS.en["hosts.invalid"].replace("{entry}", bad), bad);
  }
  const many = Array.from({ length: MAX_TRUSTED_HOSTS + 1 }, (_, i) => `h${i}.example.com`);
  assert.equal(hostsProblem(many), `At most ${MAX_TRUSTED_HOSTS} trusted hosts.`);
  assert.equal(hostsProblem(many.slice(1)), null);
});
