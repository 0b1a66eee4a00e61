// Lengths of time in words for the designers: a person types "4 hours" or "2 days" and the
// document keeps ISO 8601 (PT4H, P2D), which flows and SLA policies store; what is stored is
// shown back in words. The same words the record fields read (tessera.meta.durations).
(function () {
  const UNITS = {};
  [[604800, ["w", "wk", "wks", "week", "weeks"]], [86400, ["d", "day", "days"]],
   [3600, ["h", "hr", "hrs", "hour", "hours"]], [60, ["m", "min", "mins", "minute", "minutes"]],
   [1, ["s", "sec", "secs", "second", "seconds"]]].forEach(([size, names]) => names.forEach((n) => { UNITS[n] = size; }));
  const WHOLE = /^(?:\s*\d+(?:[.,]\d+)?\s*[a-z]+\s*(?:,|and)?)+\s*$/;
  const PART = /(\d+(?:[.,]\d+)?)\s*([a-z]+)/g;
  const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;
  const WORDS = [[86400, "day"], [3600, "hour"], [60, "minute"], [1, "second"]];

  // Seconds from words ("4 hours", "1h 30m", "2 days and 3 hours"); null when not words.
  function seconds(text) {
    const lowered = String(text || "").trim().toLowerCase();
    if (!lowered || !WHOLE.test(lowered)) return null;
    let total = 0;
    for (const [, number, unit] of lowered.matchAll(PART)) {
      if (!(unit in UNITS)) return null;
      total += Number(number.replace(",", ".")) * UNITS[unit];
    }
    return Math.round(total);
  }

  // Seconds from ISO 8601 (P1DT4H); null when it is not one.
  function fromIso(iso) {
    const m = ISO.exec(String(iso || "").trim());
    if (!m || m.slice(1).every((g) => g === undefined)) return null;
    const [w, d, h, min, s] = m.slice(1).map((g) => Number(g || 0));
    return w * 604800 + d * 86400 + h * 3600 + min * 60 + s;
  }

  // ISO 8601 for seconds: days, hours, minutes, seconds (P1DT4H, PT30M); `days: false`
  // keeps days out (SLA targets count business hours, where "a day" is ambiguous).
  function toIso(total, { days = true } = {}) {
    let rest = total;
    const d = days ? Math.floor(rest / 86400) : 0;
    rest -= d * 86400;
    const h = Math.floor(rest / 3600); rest -= h * 3600;
    const min = Math.floor(rest / 60); const s = rest - min * 60;
    const time = (h ? `${h}H` : "") + (min ? `${min}M` : "") + (s ? `${s}S` : "");
    return `P${d ? `${d}D` : ""}${time || !d ? `T${time || "0M"}` : ""}`;
  }

  // "4 hours", "1 day 2 hours" for seconds.
  function words(total) {
    let rest = total;
    const parts = [];
    for (const [size, word] of WORDS) {
      const count = Math.floor(rest / size);
      rest -= count * size;
      if (count) parts.push(`${count} ${word}${count === 1 ? "" : "s"}`);
    }
    return parts.join(" ") || "0 minutes";
  }

  // What to show for a stored value: words for ISO 8601 (or a number of `unitSeconds`),
  // the text itself for anything else (an old or hand-written value, shown as it is).
  function show(stored, unitSeconds) {
    if (stored === undefined || stored === null || stored === "") return "";
    if (typeof stored === "number") return words(stored * (unitSeconds || 1));
    const found = fromIso(stored);
    return found === null ? String(stored) : words(found);
  }

  // What to store for typed text: ISO 8601, or null with `problem` when it is not a length of time.
  function read(text, options) {
    const typed = String(text || "").trim();
    if (!typed) return { value: "" };
    const found = seconds(typed) ?? fromIso(typed.toUpperCase());
    if (found === null || found <= 0) return { value: null, problem: "not a length of time like 4 hours or 2 days" };
    if (options && options.days === false && /\b(d|days?|w|wks?|weeks?)\b/i.test(typed)) {
      return { value: null, problem: "in business time, say hours (a business day depends on the calendar)" };
    }
    return { value: toIso(found, options) };
  }

  window.tesseraDurations = { show, read, words, seconds, fromIso, toIso };
})();
