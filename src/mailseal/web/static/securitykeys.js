// mailseal console: security keys (WebAuthn). Loaded with the page's CSP nonce; no inline script, no library.
// An element with data-security-key="register" or "login" holds a button: a click asks the server for options
// (POST data-options), calls navigator.credentials.create or .get, and posts the credential as JSON (base64url
// fields, as PublicKeyCredential.toJSON() gives them) to data-finish; the answer names the page to go to next.
"use strict";

(function () {
  function fromB64url(text) {
    let b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    const binary = atob(b64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: fromB64url(c.id) }); });
  }

  function creationOptions(o) {
    return Object.assign({}, o, {
      challenge: fromB64url(o.challenge),
      user: Object.assign({}, o.user, { id: fromB64url(o.user.id) }),
      excludeCredentials: descriptors(o.excludeCredentials),
    });
  }

  function requestOptions(o) {
    return Object.assign({}, o, { challenge: fromB64url(o.challenge), allowCredentials: descriptors(o.allowCredentials) });
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const out = {
      id: credential.id,
      rawId: toB64url(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toB64url(r.clientDataJSON) },
    };
    if (credential.authenticatorAttachment) { out.authenticatorAttachment = credential.authenticatorAttachment; }
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return out;
  }

  async function post(url, csrf, body) {
    const answer = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
    });
    const json = (answer.headers.get("content-type") || "").startsWith("application/json");
    return { answer: answer, data: json ? await answer.json() : null };
  }

  function setUp(box) {
    const kind = box.dataset.securityKey;
    const button = box.querySelector("button");
    const error = box.querySelector(".security-key-error");
    const show = function (message) { error.textContent = message; error.hidden = false; };
    if (!window.PublicKeyCredential || !navigator.credentials) {
      button.disabled = true;
      show("This browser cannot use security keys on this address (WebAuthn needs https, or http://localhost).");
      return;
    }
    button.addEventListener("click", async function () {
      error.hidden = true;
      button.disabled = true;
      try {
        const asked = await post(box.dataset.options, box.dataset.csrf, {});
        if (asked.data === null) {  // not JSON: the session ended, or the password is asked for again
          window.location.assign(asked.answer.url);
          return;
        }
        if (!asked.answer.ok) { throw new Error(asked.data.error || asked.data.detail || "refused"); }
        const credential = kind === "register"
          ? await navigator.credentials.create({ publicKey: creationOptions(asked.data) })
          : await navigator.credentials.get({ publicKey: requestOptions(asked.data) });
        const body = { credential: credentialJSON(credential) };
        const label = box.querySelector("input[name=label]");
        if (label) { body.label = label.value; }
        const done = await post(box.dataset.finish, box.dataset.csrf, body);
        if (done.data === null) {
          window.location.assign(done.answer.url);
          return;
        }
        if (!done.answer.ok) { throw new Error(done.data.error || done.data.detail || "refused"); }
        window.location.assign(done.data.next);
      } catch (e) {
        show(e && e.name === "NotAllowedError"
          ? "The security key was not used (cancelled, timed out, or not a key of this account)."
          : (e && e.message) || String(e));
      } finally {
        button.disabled = false;
      }
    });
  }

  document.querySelectorAll("[data-security-key]").forEach(setUp);
})();
