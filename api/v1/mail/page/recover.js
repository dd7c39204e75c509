"use strict";
// The recovery page (account-security 7.4): asks for the email, or, with
// #token=... in the URL fragment (which never reaches a server log),
// for the new password. The token is dropped from the address bar at
// once, so that it stays out of the history.
(function () {
  var API = "/api/v1/auth_session/recovery";
  var token = null;
  var status = document.getElementById("status");

  function say(text, ok) {
    status.textContent = text;
    status.className = ok ? "ok" : "error";
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; })
        .then(function (data) {
          return {status: response.status, data: data};
        });
    });
  }

  function readToken() {
    var params = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    var value = params.get("token");
    if (value) {
      history.replaceState(null, "", window.location.pathname);
    }
    return value;
  }

  function showForm() {
    var value = readToken();
    if (value) {
      token = value;
      document.getElementById("request-section").hidden = true;
      document.getElementById("reset-section").hidden = false;
      document.getElementById("reset-form").reset();
    }
  }

  showForm();
  // A link opened on this very page changes only the fragment.
  window.addEventListener("hashchange", showForm);

  document.getElementById("request-form").addEventListener(
    "submit", function (event) {
      event.preventDefault();
      var email = document.getElementById("email").value.trim();
      if (!email) {
        say("Please give your email.", false);
        return;
      }
      post(API, {email: email}).then(function (answer) {
        if (answer.status === 202) {
          say(answer.data.message, true);
        } else if (answer.status === 429) {
          say("Too many requests: please try again later.", false);
        } else {
          say(answer.data.error || "Something went wrong.", false);
        }
      }, function () { say("The server cannot be reached.", false); });
    });

  document.getElementById("reset-form").addEventListener(
    "submit", function (event) {
      event.preventDefault();
      var password = document.getElementById("new-password").value;
      var again = document.getElementById("new-password-again").value;
      if (!password) {
        say("Please choose a new password.", false);
        return;
      }
      if (password !== again) {
        say("The two passwords differ.", false);
        return;
      }
      post(API + "/confirm", {token: token, new_password: password})
        .then(function (answer) {
          if (answer.status === 200) {
            token = null;
            document.getElementById("reset-section").hidden = true;
            say("Your password was changed and every session of your " +
                "account was ended. Log in with the new password.", true);
          } else if (answer.data.error === "token invalid") {
            say("This link is no longer valid: it was used, it expired " +
                "or a newer one was sent. Ask for a new link.", false);
            document.getElementById("reset-section").hidden = true;
            document.getElementById("request-section").hidden = false;
          } else if (answer.status === 429) {
            say("Too many requests: please try again later.", false);
          } else {
            say(answer.data.error || "Something went wrong.", false);
          }
        }, function () { say("The server cannot be reached.", false); });
    });
}());
