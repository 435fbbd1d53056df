"use strict";
// The connect page: accounts, then a personal_sign of the EIP-4361 message the server prepared.
(function () {
  const ib = window.indexbot;
  const d = ib.data();
  const button = document.getElementById("go");

  async function run() {
    try {
      const start = await ib.begin(button, d.text);
      if (!start) return;
      const eth = start.eth;
      const address = start.account;
      if (!address) {
        ib.say(d.text.no_wallet, "error");
        return;
      }
      const prepared = await ib.post(d.messageUrl, { address: address });
      if (!prepared.ok) {
        ib.say(prepared.message || d.text.failed, "error");
        return;
      }
      const signature = await eth.request({ method: "personal_sign", params: [ib.hexOf(prepared.message), address] });
      const result = await ib.post(d.submitUrl, { message: prepared.message, signature: signature });
      ib.say(result.message || d.text.failed, result.ok ? "ok" : "error");
      if (result.ok) button.hidden = true;
    } catch (err) {
      ib.say(ib.rejected(err) ? d.text.rejected : d.text.failed, "error");
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", run);
})();
