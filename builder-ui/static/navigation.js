// Tessera's navigation (base.html): the sidebar as a drawer on phones, the app and account
// menus of the top bar, the sidebar keeping its place from page to page, and the ticked
// and ordered lists of the app builder. All by data attributes: the pages' Content-Security-
// Policy runs no script written into the markup.

function tesseraMenus(except) {
  document.querySelectorAll("[data-menu]").forEach((menu) => {
    if (menu === except) return;
    const button = menu.querySelector("[data-menu-button]");
    const panel = menu.querySelector("[data-menu-panel]");
    if (button) button.setAttribute("aria-expanded", "false");
    if (panel) panel.hidden = true;
  });
}

function tesseraDrawer(open) {
  const shell = document.querySelector("[data-shell]");
  const toggle = document.querySelector("[data-drawer-toggle]");
  if (!shell) return;
  const was = shell.hasAttribute("data-drawer-open");
  shell.toggleAttribute("data-drawer-open", open);
  if (toggle) toggle.setAttribute("aria-expanded", String(open));
  if (open && !was) {
    const first = shell.querySelector("[data-sidebar] a");
    if (first) first.focus();
  } else if (!open && was && toggle) {
    toggle.focus();
  }
}

document.addEventListener("click", (event) => {
  const target = event.target instanceof Element ? event.target : null;
  if (!target) return;
  const button = target.closest("[data-menu-button]");
  if (button) {
    const menu = button.closest("[data-menu]");
    const panel = menu && menu.querySelector("[data-menu-panel]");
    if (!panel) return;
    const open = panel.hidden;
    tesseraMenus(menu);
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    return;
  }
  if (!target.closest("[data-menu-panel]")) tesseraMenus(null);
  if (target.closest("[data-drawer-toggle]")) {
    const shell = document.querySelector("[data-shell]");
    tesseraDrawer(!(shell && shell.hasAttribute("data-drawer-open")));
    return;
  }
  if (target.closest("[data-drawer-close]")) tesseraDrawer(false);
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  tesseraMenus(null);
  const shell = document.querySelector("[data-shell]");
  if (shell && shell.hasAttribute("data-drawer-open")) tesseraDrawer(false);
});

// The sidebar holds its scroll position across pages (links replace the whole body), and
// scrolls the current object into view when it is out of sight.
let tesseraSidebarTop = null;
document.addEventListener("htmx:beforeSwap", (event) => {
  if (!event.detail.boosted) return;
  const sidebar = document.querySelector("[data-sidebar]");
  tesseraSidebarTop = sidebar ? sidebar.scrollTop : null;
});

function tesseraSidebarPlace() {
  const sidebar = document.querySelector("[data-sidebar]");
  if (!sidebar) return;
  if (tesseraSidebarTop !== null) sidebar.scrollTop = tesseraSidebarTop;
  tesseraSidebarTop = null;
  const current = sidebar.querySelector('[aria-current="page"]');
  if (!current) return;
  const top = current.offsetTop;
  if (top < sidebar.scrollTop || top + current.offsetHeight > sidebar.scrollTop + sidebar.clientHeight) {
    sidebar.scrollTop = Math.max(0, top - sidebar.clientHeight / 3);
  }
}

function tesseraOrderLists(root) {
  if (!window.Sortable) return;
  root.querySelectorAll("[data-order-list]").forEach((list) => {
    if (list.dataset.sortable) return;
    list.dataset.sortable = "1";
    Sortable.create(list, { handle: ".drag-handle", draggable: "[data-order-item]", animation: 120, forceFallback: true });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tesseraSidebarPlace();
  tesseraOrderLists(document);
});
document.addEventListener("htmx:afterSwap", (event) => {
  // A new page (not the bell or a list's rows): the sidebar was drawn anew.
  if (event.detail.boosted || event.detail.target === document.body) tesseraSidebarPlace();
});
document.addEventListener("htmx:load", (event) => tesseraOrderLists(event.detail.elt));
