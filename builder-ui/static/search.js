// The top bar's search box (#21, templates/search/_box.html). htmx asks /search/suggest as
// the person types and puts the answer in the dropdown; this file opens and closes it and
// gives it its keys:
//   "/" (not while typing elsewhere) or Ctrl/Cmd+K  put the cursor in the box
//   ↓ ↑  move through the records found and "See all results"
//   Enter  opens the record picked, or /search?q=… when none is
//   Escape  closes the dropdown, then leaves the box (and, on a phone, the wide field)
// All by data attributes and listeners on the document: the pages' Content-Security-Policy
// runs no script written into the markup, and links replace the whole body (the box is new
// on every page).

function tesseraSearchParts() {
  const slot = document.querySelector("[data-search]");
  if (!slot) return null;
  return {
    slot,
    input: slot.querySelector("input[name=q]"),
    panel: slot.querySelector("[data-search-panel]"),
    opener: slot.querySelector("[data-search-open]"),
  };
}

function tesseraSearchItems(parts) {
  return Array.from(parts.panel.querySelectorAll("[data-search-item]"));
}

function tesseraSearchShow(parts, open) {
  const show = open && parts.input.value.trim() !== "" && parts.panel.children.length > 0;
  parts.panel.hidden = !show;
  parts.input.setAttribute("aria-expanded", String(show));
  if (!show) tesseraSearchPick(parts, null);
}

function tesseraSearchPick(parts, item) {
  tesseraSearchItems(parts).forEach((each) => {
    const picked = each === item;
    each.classList.toggle("active", picked);
    if (each.getAttribute("role") === "option") each.setAttribute("aria-selected", String(picked));
  });
  if (item) {
    parts.input.setAttribute("aria-activedescendant", item.id);
    item.scrollIntoView({ block: "nearest" });
  } else {
    parts.input.removeAttribute("aria-activedescendant");
  }
}

// The phone's wide field: the icon opens it over the top bar, Escape or ✕ closes it.
function tesseraSearchWide(parts, open) {
  parts.slot.toggleAttribute("data-open", open);
  if (parts.opener) parts.opener.setAttribute("aria-expanded", String(open));
  if (open) {
    parts.input.focus();
    parts.input.select();
  } else {
    tesseraSearchShow(parts, false);
  }
}

function tesseraSearchFocus() {
  const parts = tesseraSearchParts();
  if (!parts) return false;
  if (parts.opener && getComputedStyle(parts.opener).display !== "none") tesseraSearchWide(parts, true);
  parts.input.focus();
  parts.input.select();
  tesseraSearchShow(parts, true);
  return true;
}

function tesseraTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) {
    return !["checkbox", "radio", "button", "submit", "reset", "file", "range", "color"].includes(target.type);
  }
  return false;
}

document.addEventListener("keydown", (event) => {
  const parts = tesseraSearchParts();
  if (!parts) return;
  const inBox = event.target === parts.input;
  // The shortcuts: "/" anywhere but in a field; Ctrl/Cmd+K anywhere but in rich text.
  if (!inBox && !event.altKey) {
    const slash = event.key === "/" && !event.ctrlKey && !event.metaKey && !tesseraTyping(event.target);
    const k = (event.key === "k" || event.key === "K") && (event.ctrlKey || event.metaKey) && !event.shiftKey
      && !(event.target instanceof HTMLElement && event.target.isContentEditable);
    if ((slash || k) && tesseraSearchFocus()) event.preventDefault();
    return;
  }
  if (!inBox) return;
  const items = tesseraSearchItems(parts);
  const current = items.findIndex((item) => item.classList.contains("active"));
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    if (parts.panel.hidden) {
      tesseraSearchShow(parts, true);
      if (parts.panel.hidden) return;
    }
    if (!items.length) return;
    event.preventDefault();
    const step = event.key === "ArrowDown" ? 1 : -1;
    const next = current < 0 ? (step > 0 ? 0 : items.length - 1) : (current + step + items.length) % items.length;
    tesseraSearchPick(parts, items[next]);
  } else if (event.key === "Enter" && !event.isComposing) {
    if (!parts.input.value.trim()) {
      event.preventDefault();  // nothing to look for: no empty results page
      return;
    }
    if (current >= 0 && !parts.panel.hidden) {
      event.preventDefault();
      items[current].click();
    }
    // Otherwise the form goes to /search?q=… (a boosted navigation, as any form).
  } else if (event.key === "Escape") {
    event.preventDefault();
    if (!parts.panel.hidden) {
      tesseraSearchShow(parts, false);
    } else if (parts.slot.hasAttribute("data-open")) {
      tesseraSearchWide(parts, false);
      if (parts.opener) parts.opener.focus();
    } else {
      parts.input.blur();
    }
  }
});

document.addEventListener("input", (event) => {
  const parts = tesseraSearchParts();
  if (!parts || event.target !== parts.input) return;
  // Cleared: the dropdown goes at once (the answer for "" is empty anyway).
  if (!parts.input.value.trim()) {
    parts.panel.replaceChildren();
    tesseraSearchShow(parts, false);
  }
});

document.addEventListener("focusin", (event) => {
  const parts = tesseraSearchParts();
  if (parts && event.target === parts.input) tesseraSearchShow(parts, true);
});

document.addEventListener("click", (event) => {
  const parts = tesseraSearchParts();
  const target = event.target instanceof Element ? event.target : null;
  if (!parts || !target) return;
  if (target.closest("[data-search-open]")) {
    tesseraSearchWide(parts, true);
    return;
  }
  if (target.closest("[data-search-close]")) {
    tesseraSearchWide(parts, false);
    return;
  }
  // A click beside the box closes the dropdown (a click on a record in it follows its link).
  if (!target.closest("[data-search-form]")) tesseraSearchShow(parts, false);
});

// An answer arrived: show it if the box still holds words, nothing picked yet.
document.addEventListener("htmx:afterSwap", (event) => {
  const parts = tesseraSearchParts();
  if (!parts || event.detail.target !== parts.panel) return;
  tesseraSearchPick(parts, null);
  tesseraSearchShow(parts, document.activeElement === parts.input);
});

// A record picked (or Enter) replaces the page: the dropdown must not linger on the way, and
// the cursor is not put back in the new page's box (htmx refocuses an element of the same id).
document.addEventListener("htmx:beforeRequest", (event) => {
  const parts = tesseraSearchParts();
  if (!parts || !event.detail.boosted) return;
  tesseraSearchShow(parts, false);
  if (document.activeElement === parts.input) parts.input.blur();
});
