// A project logo that fails to load (an https URL that went away, a network that blocks it) is hidden, so the
// broken-image mark never covers the project's name. Without JavaScript the empty alt text shows nothing.
(function () {
  "use strict";
  function hide(img) { img.hidden = true; }
  document.addEventListener("error", function (event) {
    var target = event.target;
    if (target && target.tagName === "IMG" && target.classList.contains("logo")) hide(target);
  }, true);
  function sweep() {
    document.querySelectorAll("img.logo").forEach(function (img) {
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) hide(img);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", sweep);
  else sweep();
  window.addEventListener("load", sweep);
})();
