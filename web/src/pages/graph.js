import { h } from "../dom.js";
export function mount(root) { root.appendChild(h("p", { class: "empty" }, "coming soon")); }
