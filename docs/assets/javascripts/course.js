// Regions that scroll sideways inside themselves must be reachable with the keyboard (axe:
// scrollable-region-focusable): wide tables, and the code cells of the lab notebook pages
// (Material already does this for its own code blocks).
document.querySelectorAll("article table:not([class]), article .jupyter-wrapper .highlight-ipynb").forEach((region) => {
  region.setAttribute("tabindex", "0");
});

// Material's search dialog has role="dialog" but no accessible name (axe: aria-dialog-name).
document.querySelector('.md-search[role="dialog"]')?.setAttribute("aria-label", "Search");
