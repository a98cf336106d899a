// Keeps "3 minutes ago" texts current, as the original dashboard did every 30 seconds. The same steps as
// crosscloud/clock.py's relative(), the one clock of every page: the exact time stays in the title (hover)
// and the <time datetime> attribute; without JavaScript the text is what the server rendered.
(function () {
  "use strict";
  function relative(when, now) {
    var seconds = Math.trunc((now - when) / 1000);
    var ahead = seconds < 0;
    seconds = Math.abs(seconds);
    if (seconds < 45) return "just now";
    var units = [[86400, "day"], [3600, "hour"], [60, "minute"]];
    for (var i = 0; i < units.length; i++) {
      if (seconds >= units[i][0]) {
        var count = Math.round(seconds / units[i][0]);
        var words = count + " " + units[i][1] + (count === 1 ? "" : "s");
        return ahead ? "in " + words : words + " ago";
      }
    }
    return "just now";
  }
  function update() {
    var now = Date.now();
    document.querySelectorAll("time[data-relative]").forEach(function (el) {
      var when = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(when)) el.textContent = relative(when, now);
    });
  }
  update(); // a published page (crosscloud publish) was rendered as of its commit: correct it at once
  setInterval(update, 30000);
})();
