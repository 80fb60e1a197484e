// Timer literals: the engine evaluates a timer expression as Python, so an ISO 8601 duration is
// written quoted ("PT30M"); the panel shows it bare and quotes it back (README, BPMN conventions).
export const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

export function unquote(body) {
  const text = (body || '').trim();
  const m = /^(["'])(.*)\1$/.exec(text);
  return m ? m[2] : text;
}

export function quoteIfLiteral(value) {
  const bare = unquote(value).toUpperCase();
  return ISO_DURATION.test(bare) ? '"' + bare + '"' : (value || '').trim();
}

// Minutes of a quoted literal duration, or of the duration inside add_duration(x, "PT48H"); null otherwise.
export function durationMinutes(body) {
  const text = (body || '').trim();
  const m = /"(P[^"]+)"\s*\)?$/.exec(text) || /^'(P[^']+)'$/.exec(text);
  if (!m) { return null; }
  const d = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(m[1].toUpperCase());
  if (!d) { return null; }
  const n = (i) => Number(d[i] || 0);
  return ((n(1) * 365 + n(2) * 30 + n(3) * 7 + n(4)) * 24 + n(5)) * 60 + n(6) + n(7) / 60;
}
