// xmodal web UI: keyboard shortcut, drag-and-drop, segment playback. Hand-written, no libraries.
// Every page works without this file; it only makes them quicker to use.
(function () {
  "use strict";

  // "/" focuses the search box (from anywhere but a text field); on other pages it goes to search.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return;
    var box = document.getElementById("q");
    event.preventDefault();
    if (!box) { window.location.href = "/"; return; }
    box.focus();
    box.select();
  });

  // Players start at their matched segment (data-start), also where media fragments are ignored.
  function startOf(media) { var s = parseFloat(media.dataset.start); return isFinite(s) ? s : 0; }
  function endOf(media) { var e = parseFloat(media.dataset.end); return isFinite(e) ? e : null; }

  document.querySelectorAll("video[data-start], audio[data-start]").forEach(function (media) {
    var seek = function () {
      if (!media.dataset.positioned && media.currentTime + 0.05 < startOf(media)) {
        media.currentTime = startOf(media);
      }
      media.dataset.positioned = "1";
    };
    if (media.readyState >= 1) seek(); else media.addEventListener("loadedmetadata", seek, { once: true });
  });

  // Only one player sounds at a time.
  document.addEventListener("play", function (event) {
    document.querySelectorAll("video, audio").forEach(function (other) {
      if (other !== event.target && !other.paused) other.pause();
    });
  }, true);

  // "Play from m:ss" plays the matched segment and stops at its end.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-player]");
    if (!button) return;
    var media = document.getElementById(button.dataset.player);
    if (!media) return;
    media.dataset.stopAt = endOf(media) === null ? "" : String(endOf(media));
    media.currentTime = startOf(media);
    var playing = media.play();
    if (playing && playing.catch) {
      playing.catch(function (err) {
        button.textContent = "Cannot play: " + (err && err.name === "NotSupportedError" ? "format not supported" : "blocked");
      });
    }
  });

  document.addEventListener("timeupdate", function (event) {
    var media = event.target;
    var stopAt = parseFloat(media.dataset && media.dataset.stopAt);
    if (isFinite(stopAt) && media.currentTime >= stopAt) {
      media.pause();
      media.dataset.stopAt = "";
    }
  }, true);

  // Drop zones: dropping files fills the form's file input; search forms submit at once.
  function describe(files) {
    var names = Array.prototype.map.call(files, function (f) { return f.name; });
    return names.length === 1 ? names[0] : names.length + " files: " + names.join(", ");
  }

  document.querySelectorAll("[data-dropzone]").forEach(function (zone) {
    var input = zone.querySelector("input[type=file]");
    var form = zone.closest("form");
    var list = zone.querySelector("[data-file-list]");
    if (!input || !form) return;
    var autosubmit = zone.hasAttribute("data-autosubmit");
    var chosen = function () {
      if (!input.files || !input.files.length) return;
      if (autosubmit) { busy(form); form.requestSubmit ? form.requestSubmit() : form.submit(); }
      else if (list) list.textContent = describe(input.files);
    };
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("is-dragging"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("is-dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      if (!event.dataTransfer || !event.dataTransfer.files.length) return;
      input.files = event.dataTransfer.files;
      chosen();
    });
    input.addEventListener("change", chosen);
  });

  // On the search page a file dropped anywhere is a query-by-example.
  var pageDrop = document.querySelector("[data-page-drop] [data-dropzone]");
  if (pageDrop) {
    document.addEventListener("dragover", function (event) { event.preventDefault(); });
    document.addEventListener("drop", function (event) {
      if (event.defaultPrevented || !event.dataTransfer || !event.dataTransfer.files.length) return;
      event.preventDefault();
      var input = pageDrop.querySelector("input[type=file]");
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    });
  }

  // Long requests (upload + indexing) show that they are working.
  function busy(form) {
    var button = form.querySelector("button[type=submit]");
    form.setAttribute("aria-busy", "true");
    if (button) {
      button.disabled = true;
      button.setAttribute("aria-busy", "true");
      if (form.dataset.busyLabel) button.textContent = form.dataset.busyLabel;
    }
  }
  document.querySelectorAll("form[data-busy-label]").forEach(function (form) {
    form.addEventListener("submit", function () { busy(form); });
  });
})();
