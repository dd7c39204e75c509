// The account page: plain JS over the Session API's routes only.
// Text from the server is only ever set as textContent, never as HTML.
"use strict";

(function () {
  const API = "/api/v1";
  const $ = (id) => document.getElementById(id);
  let mfaToken = null;
  let pendingRecent = null;

  const MESSAGES = {
    "email missing": "Please enter your email address.",
    "password missing": "Please enter your password.",
    "no user found for this email": "No account uses that email address.",
    "wrong password": "That password is not right.",
    "password too long": "That password is too long.",
    "second factor required": "Your account asks for a second step.",
    "mfa_token invalid": "This login took too long or was used already. Please start again.",
    "mfa_token missing": "This login has expired. Please start again.",
    "code missing": "Please enter the code.",
    "wrong code": "That code is not right. Check that your device's clock is correct and try again.",
    "passkey refused": "That passkey could not be used to log in here.",
    "reauthentication required": "Please confirm your password first.",
    "totp already enabled": "The authenticator app is already turned on.",
    "totp not enabled": "The authenticator app is not turned on.",
    "no totp pending": "Please start again: turn on the authenticator app first.",
    "current_password missing": "Please enter your current password.",
    "new_password missing": "Please enter a new password.",
    "password check unavailable": "Passwords cannot be checked right now. Please try again later.",
    "Too many requests": "Too many attempts. Please wait a little and try again.",
    "Service unavailable": "The service is busy right now. Please try again in a moment.",
    "Cross-site request refused": "This request was refused because it came from another site.",
    "Unauthorized": "Please log in.",
    "Forbidden": "Your session has ended. Please log in again.",
    "Not found": "That is not available on this server.",
  };

  function explain(answer) {
    const error = answer.data && answer.data.error;
    if (typeof error !== "string") {
      return answer.status === 0
        ? "The server cannot be reached. Check your connection and try again."
        : "Something went wrong (" + answer.status + "). Please try again.";
    }
    if (MESSAGES[error]) return MESSAGES[error];
    if (error.startsWith("password refused: ")) {
      return "That password can't be used: " + error.slice(18) + ".";
    }
    if (error.startsWith("passkey refused: ")) {
      return "The passkey was not added: " + error.slice(17) + ".";
    }
    return error.charAt(0).toUpperCase() + error.slice(1) + ".";
  }

  function say(text, kind) {
    const notice = $("notice");
    notice.textContent = text;
    notice.className = "notice" + (kind ? " " + kind : "");
    notice.hidden = !text;
  }

  async function call(method, path, body, asForm) {
    const init = { method: method, credentials: "same-origin", headers: {} };
    if (body !== undefined) {
      if (asForm) {
        init.body = new URLSearchParams(body);
      } else {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
    }
    let response;
    try {
      response = await fetch(path.startsWith("/account") ? path : API + path, init);
    } catch (err) {
      return { status: 0, data: null };
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("application/json")) {
      try { data = await response.json(); } catch (err) { data = null; }
    }
    return { status: response.status, data: data, response: response };
  }

  function show(view) {
    for (const id of ["login-view", "mfa-view", "reauth-view", "account-view"]) {
      $(id).hidden = id !== view;
    }
    $("logout").hidden = view !== "account-view" && view !== "reauth-view";
  }

  function when(stamp) {
    if (!stamp) return "never";
    const date = new Date(stamp + "Z");
    return isNaN(date) ? stamp : date.toLocaleString();
  }

  // WebAuthn JSON <-> the ArrayBuffers navigator.credentials wants.
  function fromB64url(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64url(buffer) {
    const bytes = new Uint8Array(buffer);
    let raw = "";
    for (let i = 0; i < bytes.length; i++) raw += String.fromCharCode(bytes[i]);
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map((item) => Object.assign({}, item, { id: fromB64url(item.id) }));
  }

  function creationOptions(options) {
    return Object.assign({}, options, {
      challenge: fromB64url(options.challenge),
      user: Object.assign({}, options.user, { id: fromB64url(options.user.id) }),
      excludeCredentials: descriptors(options.excludeCredentials),
    });
  }

  function requestOptions(options) {
    return Object.assign({}, options, {
      challenge: fromB64url(options.challenge),
      allowCredentials: descriptors(options.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    const r = credential.response;
    const json = {
      id: credential.id, rawId: toB64url(credential.rawId), type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      authenticatorAttachment: credential.authenticatorAttachment || null,
      response: { clientDataJSON: toB64url(r.clientDataJSON) },
    };
    if (r.attestationObject) {
      json.response.attestationObject = toB64url(r.attestationObject);
      json.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      json.response.authenticatorData = toB64url(r.authenticatorData);
      json.response.signature = toB64url(r.signature);
      json.response.userHandle = r.userHandle ? toB64url(r.userHandle) : null;
    }
    return json;
  }

  function webauthnTrouble(err, creating) {
    if (!window.PublicKeyCredential) return "This browser does not support passkeys.";
    if (err && err.name === "InvalidStateError") {
      return "This device already holds a passkey for your account.";
    }
    if (err && err.name === "NotAllowedError") {
      return creating ? "No passkey was created: it was cancelled or timed out."
        : "No passkey was used: it was cancelled or timed out.";
    }
    if (err && err.name === "SecurityError") {
      return "Passkeys do not work at this address. Ask the administrator to check WEBAUTHN_RP_ID.";
    }
    return "The passkey did not work. Please try again.";
  }

  // A passkey assertion for the login or the second step; null when none.
  async function getAssertion() {
    const options = await call("POST", "/auth_session/passkeys/login/options");
    if (options.status !== 200) { say(explain(options), "error"); return null; }
    try {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options.data) });
      return credentialJSON(credential);
    } catch (err) {
      say(webauthnTrouble(err, false), "error");
      return null;
    }
  }

  async function loggedIn() {
    mfaToken = null;
    say("");
    await refresh();
  }

  // The server says whether a session cookie came with the page, so that a
  // visitor without one is not sent to a guarded route (and a 401).
  function mayBeSignedIn() {
    const meta = document.querySelector('meta[name="session-cookie"]');
    return !meta || meta.content !== "no";
  }

  async function refresh() {
    const me = await call("GET", "/users/me");
    if (me.status !== 200) { show("login-view"); return; }
    $("who").textContent = me.data.email || "";
    show("account-view");
    await Promise.all([loadPasskeys(), loadSessions(), loadTotp()]);
  }

  // Runs `action`; when the server wants a fresh password, asks for it,
  // then runs `action` again.
  async function recent(action) {
    const answer = await action();
    if (answer.status === 401 && answer.data && answer.data.error === "reauthentication required") {
      pendingRecent = action;
      $("reauth-password").value = "";
      say(MESSAGES["reauthentication required"]);
      show("reauth-view");
      $("reauth-password").focus();
      return null;
    }
    return answer;
  }

  async function loadPasskeys() {
    const answer = await call("GET", "/auth_session/passkeys");
    const list = $("passkey-list");
    list.replaceChildren();
    if (answer.status !== 200) return;
    if (answer.data.length === 0) {
      const li = document.createElement("li");
      li.className = "meta";
      li.textContent = "You have no passkeys yet.";
      list.append(li);
    }
    for (const key of answer.data) {
      const li = document.createElement("li");
      li.dataset.id = key.id;
      const text = document.createElement("div");
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = key.name;
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = "Added " + when(key.created_at) + " · last used " + when(key.last_used_at);
      text.append(name, meta);
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "danger";
      remove.textContent = "Remove";
      remove.addEventListener("click", () => removePasskey(key));
      li.append(text, remove);
      list.append(li);
    }
  }

  async function removePasskey(key) {
    const answer = await recent(() => call("DELETE", "/auth_session/passkeys/" + encodeURIComponent(key.id)));
    if (answer === null) return;
    if (answer.status === 200) say("The passkey “" + key.name + "” was removed.", "ok");
    else say(explain(answer), "error");
    show("account-view");
    await loadPasskeys();
  }

  async function addPasskey(event) {
    event.preventDefault();
    const options = await recent(() => call("POST", "/auth_session/passkeys/register/options"));
    if (options === null) return;
    if (options.status !== 200) { say(explain(options), "error"); return; }
    let credential;
    try {
      credential = await navigator.credentials.create({ publicKey: creationOptions(options.data) });
    } catch (err) {
      say(webauthnTrouble(err, true), "error");
      return;
    }
    const answer = await call("POST", "/auth_session/passkeys/register", {
      credential: credentialJSON(credential), name: $("passkey-name").value,
    });
    if (answer.status === 201) {
      $("passkey-name").value = "";
      say("Your passkey “" + answer.data.name + "” was added.", "ok");
    } else {
      say(explain(answer), "error");
    }
    await loadPasskeys();
  }

  // A short name for a user agent: "Chrome on Linux"; the raw text is long.
  function device(agent) {
    if (!agent) return "Unknown device";
    const browsers = [["Edg/", "Edge"], ["Firefox/", "Firefox"], ["Chrome/", "Chrome"],
      ["Safari/", "Safari"], ["curl/", "curl"], ["python-requests", "Python"]];
    const systems = [["Android", "Android"], ["iPhone", "iPhone"], ["iPad", "iPad"],
      ["Windows", "Windows"], ["Mac OS", "macOS"], ["Linux", "Linux"]];
    const browser = browsers.find(([mark]) => agent.includes(mark));
    const system = systems.find(([mark]) => agent.includes(mark));
    if (!browser) return agent.slice(0, 40);
    return browser[1] + (system ? " on " + system[1] : "");
  }

  async function loadSessions() {
    const answer = await call("GET", "/auth_session/sessions");
    const list = $("session-list");
    list.replaceChildren();
    if (answer.status !== 200) return;
    for (const session of answer.data) {
      const li = document.createElement("li");
      const text = document.createElement("div");
      const name = document.createElement("div");
      name.className = "name";
      name.textContent = device(session.user_agent);
      if (session.current) {
        const tag = document.createElement("span");
        tag.className = "tag";
        tag.textContent = "this device";
        name.append(" ", tag);
      }
      const meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = (session.ip || "unknown address") + " · since " + when(session.created_at) +
        " · last seen " + when(session.last_seen);
      text.append(name, meta);
      const end = document.createElement("button");
      end.type = "button";
      end.className = "secondary";
      end.textContent = session.current ? "Log out" : "End";
      end.addEventListener("click", () => endSession(session));
      li.append(text, end);
      list.append(li);
    }
  }

  async function endSession(session) {
    const answer = await call("DELETE", "/auth_session/sessions/" + encodeURIComponent(session.id));
    if (answer.status !== 200) { say(explain(answer), "error"); return; }
    if (session.current) { say("You are logged out.", "ok"); show("login-view"); return; }
    say("That session was ended.", "ok");
    await loadSessions();
  }

  async function loadTotp() {
    const answer = await call("GET", "/auth_session/mfa");
    const card = $("totp-card");
    if (answer.status !== 200) { card.hidden = true; return; }
    card.hidden = false;
    const on = answer.data.totp === true;
    $("totp-status").textContent = on
      ? "On. Recovery codes left: " + answer.data.recovery_codes_left + "."
      : "Off. Turn it on to ask for a code from your phone at each login.";
    $("totp-on").hidden = !on;
    $("totp-off").hidden = on;
  }

  async function startTotp() {
    const answer = await recent(() => call("POST", "/auth_session/totp"));
    if (answer === null) return;
    show("account-view");
    if (answer.status !== 200) { say(explain(answer), "error"); return; }
    $("totp-secret").textContent = answer.data.secret;
    const qr = await fetch("/account/totp-qr", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ otpauth_uri: answer.data.otpauth_uri }),
    });
    if (qr.ok) $("totp-qr").src = URL.createObjectURL(await qr.blob());
    $("totp-off").hidden = true;
    $("totp-enrol").hidden = false;
    $("totp-code").focus();
  }

  function showCodes(codes) {
    const list = $("codes-list");
    list.replaceChildren();
    for (const code of codes) {
      const li = document.createElement("li");
      li.textContent = code;
      list.append(li);
    }
    $("codes-view").hidden = false;
  }

  async function confirmTotp(event) {
    event.preventDefault();
    const answer = await call("POST", "/auth_session/totp/confirm", { code: $("totp-code").value.trim() });
    if (answer.status !== 200) { say(explain(answer), "error"); return; }
    $("totp-enrol").hidden = true;
    $("totp-code").value = "";
    say("Two-step login is on.", "ok");
    showCodes(answer.data.recovery_codes);
    await loadTotp();
  }

  async function disableTotp() {
    const answer = await recent(() => call("DELETE", "/auth_session/totp"));
    if (answer === null) return;
    show("account-view");
    if (answer.status === 200) say("Two-step login is off.", "ok");
    else say(explain(answer), "error");
    await loadTotp();
  }

  async function renewCodes() {
    const answer = await recent(() => call("POST", "/auth_session/recovery_codes"));
    if (answer === null) return;
    show("account-view");
    if (answer.status !== 200) { say(explain(answer), "error"); return; }
    say("New recovery codes were made; the old ones no longer work.", "ok");
    showCodes(answer.data.recovery_codes);
    await loadTotp();
  }

  async function reauthenticate(event) {
    event.preventDefault();
    const body = { password: $("reauth-password").value };
    if (!$("reauth-code-label").hidden) body.code = $("reauth-code").value.trim();
    const answer = await call("POST", "/auth_session/reauthenticate", body);
    if (answer.status === 400 && answer.data && answer.data.error === "code missing") {
      $("reauth-code-label").hidden = false;
      say("Please also enter the code from your authenticator app.");
      return;
    }
    if (answer.status !== 200) { say(explain(answer), "error"); return; }
    say("");
    show("account-view");
    const action = pendingRecent;
    pendingRecent = null;
    if (action) {
      const retried = await action();
      if (retried.status >= 400) say(explain(retried), "error");
    }
    await refresh();
  }

  async function passwordLogin(event) {
    event.preventDefault();
    const answer = await call("POST", "/auth_session/login", {
      email: $("login-email").value, password: $("login-password").value,
    }, true);
    $("login-password").value = "";
    if (answer.status === 200) { await loggedIn(); return; }
    if (answer.status === 401 && answer.data && answer.data.mfa_token) {
      mfaToken = answer.data.mfa_token;
      say("");
      show("mfa-view");
      $("mfa-code").focus();
      return;
    }
    say(explain(answer), "error");
  }

  async function passkeyLogin() {
    const credential = await getAssertion();
    if (credential === null) return;
    const answer = await call("POST", "/auth_session/passkeys/login", { credential: credential });
    if (answer.status === 200) await loggedIn();
    else say(explain(answer), "error");
  }

  async function secondStep(body) {
    body.mfa_token = mfaToken;
    const answer = await call("POST", "/auth_session/login/mfa", body);
    if (answer.status === 200) { await loggedIn(); return; }
    say(explain(answer), "error");
    if (answer.data && answer.data.error === "mfa_token invalid") { mfaToken = null; show("login-view"); }
  }

  async function logout() {
    const answer = await call("DELETE", "/auth_session/logout");
    if (answer.status === 200 || answer.status === 401 || answer.status === 403) {
      say("You are logged out.", "ok");
      show("login-view");
    } else {
      say(explain(answer), "error");
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", passwordLogin);
    $("passkey-login").addEventListener("click", passkeyLogin);
    $("mfa-form").addEventListener("submit", (event) => {
      event.preventDefault();
      secondStep({ code: $("mfa-code").value.trim() });
      $("mfa-code").value = "";
    });
    $("mfa-passkey").addEventListener("click", async () => {
      const credential = await getAssertion();
      if (credential !== null) await secondStep({ credential: credential });
    });
    $("mfa-cancel").addEventListener("click", () => { mfaToken = null; say(""); show("login-view"); });
    $("reauth-form").addEventListener("submit", reauthenticate);
    $("reauth-cancel").addEventListener("click", () => { pendingRecent = null; say(""); show("account-view"); });
    $("logout").addEventListener("click", logout);
    $("passkey-form").addEventListener("submit", addPasskey);
    $("sessions-end-others").addEventListener("click", async () => {
      const answer = await call("DELETE", "/auth_session/sessions");
      if (answer.status === 200) say("Your other sessions were ended (" + answer.data.revoked + ").", "ok");
      else say(explain(answer), "error");
      await loadSessions();
    });
    $("password-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const answer = await call("PUT", "/users/me/password", {
        current_password: $("current-password").value, new_password: $("new-password").value,
      });
      $("current-password").value = "";
      $("new-password").value = "";
      if (answer.status === 200) {
        say("Your password was changed. Your other sessions were logged out.", "ok");
        await loadSessions();
      } else {
        say(explain(answer), "error");
      }
    });
    $("totp-start").addEventListener("click", startTotp);
    $("totp-confirm-form").addEventListener("submit", confirmTotp);
    $("totp-disable").addEventListener("click", disableTotp);
    $("codes-renew").addEventListener("click", renewCodes);
    $("codes-done").addEventListener("click", () => { $("codes-view").hidden = true; $("codes-list").replaceChildren(); });
    if (mayBeSignedIn()) refresh();
    else show("login-view");
  });
})();
