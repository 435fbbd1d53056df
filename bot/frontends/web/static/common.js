"use strict";
// Shared by the connect and signing pages. Text comes from the page's data block (the server's catalogs)
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
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
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
  return { data, say, post, provider, rejected, hexOf, begin };
})();
