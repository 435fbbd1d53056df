"use strict";
// Shared by the connect, signing and PIN pad pages. Text comes from the page's data block (the server's catalogs)
// and is shown with textContent only.
window.indexbot = (function () {
  function data() {
    return JSON.parse(document.getElementById("page-data").textContent);
  }
  function say(text, kind) {
    const el = document.getElementById("status");
    el.textContent = text;
    el.className = "status " + (kind || "");
  }
  // Telegram's signed sign-in data when the page runs as a Telegram Mini App: window.Telegram.WebApp when
  // Telegram's script put it there, else the #tgWebAppData= fragment Telegram appends to the URL; "" otherwise.
  function initData() {
    const app = window.Telegram && window.Telegram.WebApp;
    if (app && typeof app.initData === "string" && app.initData) return app.initData;
    try {
      return new URLSearchParams(window.location.hash.slice(1)).get("tgWebAppData") || "";
    } catch (e) {
      return "";
    }
  }
  // What every request of a Mini App carries (the server checks it); nothing in a plain browser.
  function miniApp() {
    const signedIn = initData();
    if (signedIn) return { miniapp: true, initData: signedIn };
    return data().miniapp ? { miniapp: true } : {};
  }
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign({}, body, miniApp())),
      credentials: "same-origin",
      cache: "no-store",
      referrerPolicy: "no-referrer",
    });
    try {
      return await response.json();
    } catch (e) {
      return { ok: false };
    }
  }
  function provider() {
    return window.ethereum || null;
  }
  function rejected(err) {
    return !!err && (err.code === 4001 || err.code === "ACTION_REJECTED");
  }
  function hexOf(text) {
    const bytes = new TextEncoder().encode(text);
    return "0x" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }
  // The first steps of every page: a wallet is present, the button shows it is busy, the user picks an account.
  // Returns { eth, account } (account may be undefined), or null when there is no wallet at all.
  async function begin(button, text) {
    const eth = provider();
    if (!eth) {
      say(text.no_wallet, "error");
      return null;
    }
    button.disabled = true;
    say(text.working);
    const accounts = await eth.request({ method: "eth_requestAccounts" });
    return { eth: eth, account: accounts && accounts[0] };
  }
  const app = window.Telegram && window.Telegram.WebApp;
  if (app && typeof app.ready === "function") app.ready(); // Telegram shows the page once it says it is ready
  return { data, say, post, provider, rejected, hexOf, begin, initData };
})();
