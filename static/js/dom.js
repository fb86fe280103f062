// Shared by the board and the phone: build DOM nodes with text always set through text nodes,
// never innerHTML, since names, notes and feed titles are other people's input.
window.OM = window.OM || {};
window.OM.el = function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

// Redrawing a list replaces its nodes, which would drop the keyboard's place and a half-typed
// note. A control is known across a redraw by its row's data-* key and its label.
(function () {
  "use strict";
  const FOCUSABLE = "a[href], button, input, select, textarea, [tabindex]";

  function controlKey(node) {
    const row = node.closest("[data-alert], [data-request], [data-detail], [data-agent], [data-advisory]");
    const rowKey = row ? [...row.attributes].filter((a) => a.name.startsWith("data-")).map((a) => a.name + "=" + a.value).join(" ") : "";
    return rowKey + "|" + node.tagName + "|" + (node.getAttribute("aria-label") || node.textContent.trim());
  }

  // Run redraw() over the given roots, then put focus back on the same control, or where
  // fallback(lostNode) says when that control is gone; text typed into inputs is kept too.
  window.OM.keepFocus = function keepFocus(roots, redraw, fallback) {
    roots = roots.filter(Boolean);
    const active = document.activeElement;
    const had = active && roots.some((root) => root !== active && root.contains(active)) ? active : null;
    const key = had ? controlKey(had) : null;
    const typed = new Map();
    for (const root of roots) {
      for (const input of root.querySelectorAll("input, textarea")) if (input.value) typed.set(controlKey(input), input.value);
    }
    redraw();
    for (const root of roots) {
      for (const input of root.querySelectorAll("input, textarea")) {
        if (!input.value && typed.has(controlKey(input))) input.value = typed.get(controlKey(input));
      }
    }
    if (!had || had.isConnected) return;
    const again = roots.flatMap((root) => [...root.querySelectorAll(FOCUSABLE)]).find((node) => controlKey(node) === key);
    const target = again || (fallback ? fallback(had) : null);
    if (!target) return;
    target.focus();
    if (target.setSelectionRange && typeof target.value === "string") target.setSelectionRange(target.value.length, target.value.length);
  };

  // Replace a node's children only when they would look different: a redraw of the same content
  // would otherwise make screen readers announce a live region again and lose the keyboard's place.
  window.OM.replaceIfChanged = function replaceIfChanged(root, nodes) {
    if (nodes.every((n) => n instanceof Element) && nodes.map((n) => n.outerHTML).join("") === root.innerHTML) return;
    root.replaceChildren(...nodes);
  };
})();
