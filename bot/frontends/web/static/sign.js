"use strict";
// The signing page: right account, the link's chain (d.chainId: the wallet is asked to switch to it), then the
// link is claimed for this browser (an explicit POST: opening the page claims nothing, so a chat's link preview
// cannot spend it), then each transaction in order; every hash is reported
// (kept in sessionStorage until the server has it, so a reload reports it rather than sending it again).
(function () {
  const ib = window.indexbot;
  const d = ib.data();
  const button = document.getElementById("go");
  const done = d.done.slice();

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  function mark(i, hash) {
    const el = document.getElementById("state-" + (i + 1));
    if (el) el.textContent = d.text.sent.replace("{hash}", hash);
  }
  function keyOf(i) {
    return "indexbot:" + d.reportUrl + ":" + i;
  }
  async function mined(eth, hash) {
    for (let tries = 0; tries < 900; tries++) {
      try {
        const receipt = await eth.request({ method: "eth_getTransactionReceipt", params: [hash] });
        if (receipt) return receipt;
      } catch (e) {
        return null; // a wallet without receipts: the gas limit we sent lets the next step go anyway
      }
      await sleep(1000);
    }
    return null;
  }
  async function sameChain(eth) {
    return parseInt(await eth.request({ method: "eth_chainId" }), 16) === parseInt(d.chainId, 16);
  }
  function unknownChain(err) {
    // EIP-3326: 4902 when the wallet does not have the chain (some wallets wrap it in a -32603 error)
    const inner = err && err.data && err.data.originalError;
    return !!err && (err.code === 4902 || (!!inner && inner.code === 4902));
  }
  // "ok" once the wallet is on the link's chain; "unknown" when it does not have that chain; "wrong" otherwise.
  async function ensureChain(eth) {
    if (await sameChain(eth)) return "ok";
    try {
      await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: d.chainId }] });
    } catch (err) {
      if (ib.rejected(err)) throw err;
      return unknownChain(err) ? "unknown" : "wrong";
    }
    return (await sameChain(eth)) ? "ok" : "wrong";
  }
  async function report(i, hash) {
    for (let tries = 0; tries < 5; tries++) {
      try {
        return await ib.post(d.reportUrl, { step: i, hash: hash });
      } catch (e) {
        await sleep(1000);
      }
    }
    return { ok: false };
  }

  async function run() {
    try {
      const start = await ib.begin(button, d.text);
      if (!start) return;
      const eth = start.eth;
      if (!start.account || start.account.toLowerCase() !== d.address.toLowerCase()) {
        ib.say(d.text.wrong_account, "error");
        return;
      }
      const chain = await ensureChain(eth);
      if (chain !== "ok") {
        ib.say(chain === "unknown" ? d.text.unknown_chain : d.text.wrong_chain, "error");
        return;
      }
      const claimed = await ib.post(d.claimUrl, {});
      if (!claimed.ok) {
        ib.say(claimed.message || d.text.failed, "error");
        return;
      }
      for (let i = done.length; i < d.txs.length; i++) {
        if (i > 0) {
          ib.say(d.text.mining[i - 1]);
          await mined(eth, done[i - 1]);
        }
        let hash = sessionStorage.getItem(keyOf(i));
        if (!hash) {
          const t = d.txs[i];
          const tx = { from: d.address, to: t.to, data: t.data, value: t.value };
          if (t.gas) tx.gas = t.gas;
          ib.say(d.text.sending[i]);
          hash = await eth.request({ method: "eth_sendTransaction", params: [tx] });
          sessionStorage.setItem(keyOf(i), hash);
        }
        const result = await report(i, hash);
        if (!result.ok) {
          ib.say(result.message || d.text.failed, "error");
          return;
        }
        sessionStorage.removeItem(keyOf(i));
        done.push(hash);
        mark(i, hash);
      }
      ib.say(d.text.done, "ok");
      button.hidden = true;
    } catch (err) {
      ib.say(ib.rejected(err) ? d.text.rejected : d.text.failed, "error");
    } finally {
      button.disabled = false;
    }
  }
  button.addEventListener("click", run);
})();
