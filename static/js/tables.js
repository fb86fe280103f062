// Tables that fit a phone and stay tables for a screen reader.
//
// On a narrow screen app.css lays out a table marked data-stack as stacked rows, each cell
// preceded by its column's name (data-label). CSS display changes can strip a table's semantics
// in some browsers, so the parts get their roles explicitly. Without this script tables stay
// as they are, inside a wrapper that scrolls sideways.
//
// A wrapper whose table is still wider than it (a wide table on a tablet, the board's half
// column) becomes a named region that takes focus, so the keyboard can scroll it too.
(function () {
  "use strict";

  const ROLES = { TABLE: "table", THEAD: "rowgroup", TBODY: "rowgroup", TFOOT: "rowgroup", TR: "row", TD: "cell" };

  function headings(table) {
    const names = [];
    const row = table.tHead && table.tHead.rows[table.tHead.rows.length - 1];
    if (!row) return names;
    for (const cell of row.cells) {
      for (let i = 0; i < cell.colSpan; i++) names.push(cell.textContent.trim());
    }
    return names;
  }

  function label(table) {
    const names = headings(table);
    table.setAttribute("role", ROLES.TABLE);
    for (const group of [table.tHead, ...table.tBodies, table.tFoot]) {
      if (!group) continue;
      group.setAttribute("role", ROLES[group.tagName]);
      for (const row of group.rows) {
        row.setAttribute("role", ROLES.TR);
        let column = 0;
        for (const cell of row.cells) {
          if (cell.tagName === "TH") cell.setAttribute("role", group === table.tHead ? "columnheader" : "rowheader");
          else cell.setAttribute("role", ROLES.TD);
          const name = group === table.tHead || cell.colSpan > 1 ? "" : names[column];
          if (name) cell.dataset.label = name;
          column += cell.colSpan;
        }
      }
    }
    table.dataset.stack = "";
  }

  // The wrapper's name: the table's caption, else the heading of the section it sits in.
  function regionName(wrap) {
    const caption = wrap.querySelector("caption");
    if (caption) return caption.textContent.trim();
    const section = wrap.closest("section, article, main");
    const heading = section && section.querySelector("h1, h2, h3");
    return heading ? heading.textContent.trim() : "Table";
  }

  const resizes = new ResizeObserver((entries) => {
    for (const { target } of entries) {
      const wrap = target.closest(".table-wrap");
      if (!wrap) continue;
      if (wrap.scrollWidth > wrap.clientWidth + 1) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", regionName(wrap));
      } else {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    }
  });

  function prepare(root) {
    for (const table of root.querySelectorAll("table:not([data-stack])")) label(table);
    for (const wrap of root.querySelectorAll(".table-wrap:not([data-watched])")) {
      wrap.dataset.watched = "";
      resizes.observe(wrap);
      if (wrap.firstElementChild) resizes.observe(wrap.firstElementChild);
    }
  }

  function forget(node) {
    if (!(node instanceof Element)) return;
    for (const wrap of [node, ...node.querySelectorAll(".table-wrap")]) {
      if (!wrap.matches(".table-wrap")) continue;
      resizes.unobserve(wrap);
      if (wrap.firstElementChild) resizes.unobserve(wrap.firstElementChild);
    }
  }

  prepare(document);
  // The board draws its tables after the page has loaded, and redraws them with every event.
  new MutationObserver((records) => {
    for (const record of records) record.removedNodes.forEach(forget);
    prepare(document);
  }).observe(document.body, { childList: true, subtree: true });
})();
