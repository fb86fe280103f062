// Times as the venue reads them, labelled as the server labels them (detail/domain/timefmt.py):
// "07:10 EST", "Sun 06 Dec 07:10 EST". The browser knows the venue's offsets but names them in its
// own way ("GMT-5"), so the label comes from the server's table for the zone (zone_labels in the
// board state: offset in minutes -> label), looked up by the instant's offset in that zone.
window.OM = window.OM || {};
(function () {
  "use strict";
  const labels = {}; // zone -> {offset minutes: label}
  const formats = new Map();

  function format(tz) {
    if (!formats.has(tz)) {
      formats.set(tz, new Intl.DateTimeFormat("en-GB", {
        timeZone: tz, hourCycle: "h23", weekday: "short", day: "2-digit", month: "short",
        year: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
      }));
    }
    return formats.get(tz);
  }

  const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function parts(date, tz) {
    const found = {};
    for (const p of format(tz).formatToParts(date)) found[p.type] = p.value;
    return found;
  }

  // The zone's offset from UTC at that instant, in minutes (-300 for New York in winter).
  function offsetMinutes(date, tz, p) {
    const wall = Date.UTC(Number(p.year), MONTHS.indexOf(p.month.slice(0, 3)), Number(p.day),
      Number(p.hour) % 24, Number(p.minute), Number(p.second));
    return Math.round((wall - Math.floor(date.getTime() / 1000) * 1000) / 60000);
  }

  // As Python's %Z where the server sent no table: "UTC", else "+0530"-style as tzdata names them.
  function fallbackLabel(offset) {
    if (offset === 0) return "UTC";
    const abs = Math.abs(offset);
    const hh = String(Math.floor(abs / 60)).padStart(2, "0");
    const mm = abs % 60 ? String(abs % 60).padStart(2, "0") : "";
    return (offset < 0 ? "-" : "+") + hh + mm;
  }

  // Learn the labels of the zones a state reply carries ({zone: {offset: label}}).
  window.OM.learnZoneLabels = function (table) {
    for (const [zone, byOffset] of Object.entries(table || {})) labels[zone] = { ...labels[zone], ...byOffset };
  };

  // "07:10 EST", or with withDay "Sun 06 Dec 07:10 EST"; "" for no time.
  window.OM.venueClock = function (iso, tz, withDay) {
    if (!iso) return "";
    const zone = tz || "UTC";
    const date = new Date(iso);
    const p = parts(date, zone);
    const offset = offsetMinutes(date, zone, p);
    const label = (labels[zone] && labels[zone][String(offset)]) || fallbackLabel(offset);
    const clock = String(Number(p.hour) % 24).padStart(2, "0") + ":" + p.minute + " " + label;
    return withDay ? p.weekday + " " + p.day + " " + p.month.slice(0, 3) + " " + clock : clock;
  };
})();
