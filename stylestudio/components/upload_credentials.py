"""Uploads carry the session cookie.

Reflex's upload XHR goes from the frontend's origin to the backend's (another port or host
of the same site) without credentials, so the browser leaves the session cookie out; the
upload guard refuses an upload without it (the tab token alone is no credential). This
script, in the head of every page, sends that one request — `POST <api>/_upload` — with
credentials. CORS answers with credentials for the app's own origin only (rxconfig.py).
"""

from __future__ import annotations

import json

import reflex as rx
from reflex_base import constants

_SCRIPT = """(function () {
  var upload = new URL(%s, window.location.href);
  var open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    var result = open.apply(this, arguments);
    try {
      var target = new URL(url, window.location.href);
      if (target.origin === upload.origin && target.pathname === upload.pathname) {
        this.withCredentials = true;
      }
    } catch (e) {}
    return result;
  };
})();"""


def upload_credentials_script() -> rx.Component:
    # The same URL the frontend's upload helper posts to (env.json's UPLOAD).
    return rx.script(_SCRIPT % json.dumps(constants.Endpoint.UPLOAD.get_url()))
