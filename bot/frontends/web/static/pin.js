"use strict";
// The PIN pad: digits tapped (no text field: no keyboard, nothing a keyboard remembers), shown as dots. The page first
// asks what the question said (a withdrawal's summary), then posts the PIN with Telegram's initData: never in a URL.
(function () {
  const ib = window.indexbot;
  const d = ib.data();
  const digits = Array.from(document.querySelectorAll(".pad [data-digit]"));
  const del = document.getElementById("delete");
  const submit = document.getElementById("submit");
  const dots = document.getElementById("dots");
  let pin = "";
  let busy = true; // until the question is known, and while the PIN is on its way

  function show() {
    dots.textContent = "\u25CF".repeat(pin.length) + "\u25CB".repeat(Math.max(0, d.min - pin.length));
    digits.forEach((b) => { b.disabled = busy || pin.length >= d.max; });
    del.disabled = busy || pin.length === 0;
    submit.disabled = busy || pin.length < d.min;
  }
  function refuse(message) {
    busy = true;
    pin = "";
    show();
    ib.say(message || d.text.failed, "error");
  }
  function tap(digit) {
    if (busy || pin.length >= d.max) return;
    pin += digit;
    show();
  }
  function back() {
    if (busy) return;
    pin = pin.slice(0, -1);
    show();
  }
  async function open() {
    show();
    if (!ib.initData()) {
      refuse(d.text.outside);
      return;
    }
    let said;
    try {
      said = await ib.post(d.openUrl, {});
    } catch (e) {
      said = { ok: false };
    }
    if (!said.ok) {
      refuse(said.message);
      return;
    }
    const box = document.getElementById("summary");
    said.summary.forEach((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      box.appendChild(p);
    });
    busy = false;
    show();
  }
  async function send() {
    if (busy || pin.length < d.min) return;
    const typed = pin;
    busy = true;
    pin = "";
    show();
    ib.say(d.text.working);
    let result;
    try {
      result = await ib.post(d.submitUrl, { pin: typed });
    } catch (e) {
      result = { ok: false };
    }
    if (!result.ok) {
      refuse(result.message);
      return;
    }
    ib.say(result.message, "ok");
    const app = window.Telegram && window.Telegram.WebApp;
    if (app && typeof app.close === "function") setTimeout(() => app.close(), 1500); // the answer is in the chat
  }
  digits.forEach((b) => b.addEventListener("click", () => tap(b.dataset.digit)));
  del.addEventListener("click", back);
  submit.addEventListener("click", send);
  document.addEventListener("keydown", (e) => { // Telegram Desktop: the keyboard's digits work on the pad too
    if (/^[0-9]$/.test(e.key)) tap(e.key);
    else if (e.key === "Backspace") back();
    else if (e.key === "Enter") send();
  });
  open();
})();
