// Draws the instance's pinned BPMN with bpmn-js and marks finished / active / escalated elements.
(function () {
  const box = document.getElementById('diagram');
  if (!box || typeof BpmnJS === 'undefined') { return; }
  const marks = JSON.parse(document.getElementById('diagram-marks').textContent);
  const viewer = new BpmnJS({ container: box });
  fetch(box.dataset.src, { credentials: 'same-origin' })
    .then((res) => res.text())
    .then((xml) => viewer.importXML(xml))
    .then(() => {
      const canvas = viewer.get('canvas');
      const registry = viewer.get('elementRegistry');
      canvas.zoom('fit-viewport');
      const overlays = viewer.get('overlays');
      for (const [kind, ids] of Object.entries(marks)) {
        for (const id of ids) {
          if (!registry.get(id)) { continue; }
          canvas.addMarker(id, 'mark-' + kind);
          if (kind === 'placeholder') {  // a step standing in for a 规程 we do not have
            const badge = document.createElement('span');
            badge.className = 'badge badge--placeholder';
            badge.textContent = '待补充';
            overlays.add(id, { position: { top: -10, right: 10 }, html: badge });
          }
        }
      }
      box.dataset.ready = 'true';
    })
    .catch((err) => {
      box.textContent = '流程图无法显示：' + err.message;
      box.dataset.ready = 'error';
    });
})();
