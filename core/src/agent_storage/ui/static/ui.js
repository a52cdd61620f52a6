// agent-storage ui: the only script of the viewer (the CSP forbids inline scripts).
// A deep link /thread?id=T#M to a message not on this page opens its context window.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var chat = document.getElementById("chat");
  if (!chat || location.hash.length < 2) return;
  var id = decodeURIComponent(location.hash.slice(1));
  var here = document.getElementById(id);
  if (here) {
    here.classList.add("focus");
    here.scrollIntoView({block: "center"});
    return;
  }
  var params = new URLSearchParams(location.search);
  if (params.get("around") === id) return;  // not in this thread: the page says so
  params.set("around", id);
  params.delete("page");
  location.replace(location.pathname + "?" + params.toString() + location.hash);
});
