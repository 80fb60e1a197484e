// JSON to and from the studio's endpoints, with the CSRF token the page carries.
const csrf = () => (document.querySelector('meta[name="csrf-token"]') || {}).content || '';

export async function postJSON(url, body) {
  const res = await fetch(url, {
    method: 'POST', credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf(), Accept: 'application/json' },
    body: JSON.stringify(body || {}),
  });
  try {
    return await res.json();
  } catch (err) {
    return { ok: false, message: '服务器返回 ' + res.status, problems: [] };
  }
}
