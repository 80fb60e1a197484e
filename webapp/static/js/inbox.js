// Re-fetch the inbox list every few seconds so new tasks and countdowns appear without a reload.
// Skipped while the person is using a control inside the list (e.g. choosing a colleague for 派单).
(function () {
  const box = document.getElementById('inbox-list');
  if (!box) { return; }
  const seconds = parseInt(box.dataset.refresh || '10', 10);
  async function refresh() {
    if (box.contains(document.activeElement) && document.activeElement !== document.body) { return; }
    try {
      const res = await fetch(box.dataset.src, { credentials: 'same-origin', headers: { 'X-Requested-With': 'fetch' } });
      if (res.redirected || res.status === 401) { window.location.reload(); }
      else if (res.ok) { box.innerHTML = await res.text(); }
    } catch (e) { /* offline for a moment: try again next tick */ }
  }
  setInterval(refresh, seconds * 1000);
})();
