// Keyboard shortcuts of the console (listed in the page's help, "?"). Single keys, so
// they are ignored while the agent types in a field (notes, search), and never taken
// with Ctrl/Alt/Meta, which belong to the browser and the system.

const TYPING = new Set(["INPUT", "TEXTAREA", "SELECT"]);

export function installShortcuts(actions) {
  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    const target = event.target;
    if (target && (TYPING.has(target.tagName) || target.isContentEditable)) return;
    const key = event.key === "?" ? "?" : event.key.toLowerCase();
    const action = actions[key];
    if (!action) return;
    event.preventDefault();
    action();
  });
}
