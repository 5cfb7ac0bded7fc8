// Wide tables scroll sideways inside themselves; make them reachable with the keyboard
// (axe: scrollable-region-focusable).
document.querySelectorAll("article table:not([class])").forEach((table) => {
  table.setAttribute("tabindex", "0");
});
