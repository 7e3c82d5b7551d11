// Starts the app and registers the service worker that keeps its shell for offline use (a file, not an inline script, so the Content-Security-Policy can forbid inline scripts).
import init from "/duet_frontend.js";
init({ module_or_path: "/duet_frontend_bg.wasm" });

if ("serviceWorker" in navigator) {
  const hadShell = !!navigator.serviceWorker.controller;
  navigator.serviceWorker.register("/sw.js").catch((e) => console.warn("Duet works online only:", e));
  // A new build took over: this page still runs the previous one until reloaded.
  navigator.serviceWorker.addEventListener("controllerchange", () => {
    if (!hadShell || document.getElementById("new-version")) return;
    const note = document.createElement("div");
    note.id = "new-version";
    note.className = "new-version";
    note.setAttribute("role", "status");
    note.textContent = "A new version of Duet is ready. ";
    const reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "Reload";
    reload.onclick = () => location.reload();
    note.appendChild(reload);
    document.body.appendChild(note);
  });
}
