// Passkeys and security keys (WebAuthn Level 2): the one script on Authorium's pages. A form marked
// data-webauthn="create" or "get" carries the server's options (JSON, base64url for binary fields); on submit this
// calls navigator.credentials.create/get with them, puts the result (JSON, base64url) into the form's `credential`
// field and posts the form. The server verifies everything; this only carries bytes between it and the browser.
"use strict";

(function () {
  const form = document.querySelector("form[data-webauthn]");
  if (!form) {
    return;
  }
  const status = document.getElementById("webauthn-status");
  const say = (text) => {
    status.textContent = text;
    status.hidden = false;
  };

  const decode = (text) => {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(base64 + "=".repeat((4 - (base64.length % 4)) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  };
  const encode = (buffer) => {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (const b of bytes) {
      raw += String.fromCharCode(b);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const descriptors = (list) => (list || []).map((c) => ({ ...c, id: decode(c.id) }));

  async function create(options) {
    options.challenge = decode(options.challenge);
    options.user.id = decode(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    const credential = await navigator.credentials.create({ publicKey: options });
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: encode(response.clientDataJSON),
        attestationObject: encode(response.attestationObject),
        transports: response.getTransports ? response.getTransports() : [],
      },
    };
  }

  async function get(options) {
    options.challenge = decode(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    const credential = await navigator.credentials.get({ publicKey: options });
    const response = credential.response;
    return {
      id: credential.id,
      rawId: encode(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: {
        clientDataJSON: encode(response.clientDataJSON),
        authenticatorData: encode(response.authenticatorData),
        signature: encode(response.signature),
        userHandle: response.userHandle ? encode(response.userHandle) : null,
      },
    };
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    say("This browser cannot use passkeys or security keys.");
    form.querySelector("button[type=submit]").disabled = true;
    return;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say("Follow your browser's instructions to use your passkey or security key.");
    try {
      const options = JSON.parse(form.dataset.options);
      const result = form.dataset.webauthn === "create" ? await create(options) : await get(options);
      form.elements.credential.value = JSON.stringify(result);
      form.submit();
    } catch (error) {
      // NotAllowedError: cancelled or timed out; InvalidStateError: this authenticator is registered already.
      say(
        error && error.name === "InvalidStateError"
          ? "This security key is registered already."
          : "That did not work (" + (error && error.name) + "). Try again.",
      );
      button.disabled = false;
    }
  });
})();
