// Things pinned on the diagram: problems (overlays with the message, a red or amber outline) and the
// diff before publishing (added / changed markers), and the path a 试运行 scenario took (its step numbers
// on the elements, the failed step in red). One list beside the diagram for each; clicking an item
// selects and shows the element.
import { getBBox } from 'diagram-js/lib/util/Elements';

const SEVERITY = { error: '错误', warning: '警告' };

export function createMarks(modeler, say) {
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  const overlays = modeler.get('overlays');
  const selection = modeler.get('selection');
  const marked = { problem: [], diff: [], step: [] };

  function focus(id) {
    const element = registry.get(id);
    if (!element) { return false; }
    if (canvas.zoom() < 0.8) {  // the whole procedure fits only when small: zoom in on the element
      const box = getBBox(element);  // shapes and connections (whose box comes from their waypoints)
      canvas.zoom(1, { x: box.x + box.width / 2, y: box.y + box.height / 2 });
    }
    if (typeof canvas.scrollToElement === 'function') { canvas.scrollToElement(element); }
    selection.select(element);
    return true;
  }

  function clear(kind) {
    for (const [id, marker] of marked[kind]) {
      if (registry.get(id)) { canvas.removeMarker(id, marker); }
    }
    marked[kind] = [];
    overlays.remove({ type: 'liyuan-' + kind });
  }

  function item(list, id, title, detail, cls) {
    const li = document.createElement('li');
    li.tabIndex = 0;
    li.dataset.elementId = id || '';
    if (cls) { li.className = cls; }
    const head = document.createElement('div');
    head.className = 'where mono';
    head.textContent = title;
    const msg = document.createElement('div');
    msg.textContent = detail;
    li.append(head, msg);
    const go = () => { if (!id || !focus(id)) { say('该条目没有对应的图形元素：' + detail, 'bad'); } };
    li.addEventListener('click', go);
    li.addEventListener('keydown', (e) => { if (e.key === 'Enter') { go(); } });
    list.append(li);
    return li;
  }

  function pin(kind, id, marker, text, cls) {
    const element = registry.get(id);
    if (!element) { return; }
    canvas.addMarker(id, marker);
    marked[kind].push([id, marker]);
    if (text) {
      const badge = document.createElement('div');
      badge.className = 'studio-badge ' + cls;
      badge.textContent = text;
      badge.title = text;
      badge.dataset.elementId = id;
      const position = element.waypoints ? { top: -10, left: 0 } : { top: -14, right: 10 };
      overlays.add(id, 'liyuan-' + kind, { position, html: badge });
    }
  }

  function showProblems(list, problems) {
    clear('problem');
    list.replaceChildren();
    for (const p of problems) {
      const severity = p.severity || 'error';
      const where = (p.element_id || '—') + (p.file ? ' · ' + p.file + (p.line ? ':' + p.line : '') : '');
      item(list, p.element_id, SEVERITY[severity] + ' · ' + where, p.message, 'problem-' + severity);
      if (p.element_id) {
        pin('problem', p.element_id, severity === 'error' ? 'mark-problem' : 'mark-warning',
          (severity === 'error' ? '✖ ' : '⚠ ') + p.message, 'studio-badge--' + severity);
      }
    }
  }

  function showDiff(list, diff) {
    clear('diff');
    list.replaceChildren();
    const KIND = { added: '新增', removed: '删除', changed: '修改' };
    for (const change of diff.elements || []) {
      const lines = (change.changes || []).map(([label, before, after]) => label + '：' + before + ' → ' + after);
      item(list, change.kind === 'removed' ? '' : change.element_id,
        KIND[change.kind] + ' ' + change.element_id + (change.name ? '「' + change.name + '」' : ''),
        lines.join('；') || change.type, 'diff-' + change.kind);
      if (change.kind !== 'removed') {
        pin('diff', change.element_id, 'mark-diff-' + change.kind, KIND[change.kind], 'studio-badge--diff');
      }
    }
    for (const f of diff.fields || []) {
      const lines = (f.changes || []).map(([key, before, after]) => key + '：' + before + ' → ' + after);
      item(list, '', KIND[f.kind] + ' 表单字段 ' + f.form + ' · ' + f.field, lines.join('；'), 'diff-' + f.kind);
    }
  }

  // One scenario's run (``liyuan simulate --json``'s ``steps``): each element it passed carries the numbers of
  // the steps that reached it (起点 for the request coming in). Elements of other diagrams (a called
  // process) are skipped: an id is only looked up in the processes (and their sub-processes) drawn here.
  function showSteps(result) {
    clear('step');
    const processes = new Set((modeler.getDefinitions().rootElements || [])
      .filter((e) => e.$type === 'bpmn:Process').map((e) => e.id));
    const numbers = new Map();  // element id -> {labels, failed}
    for (const step of (result && result.steps) || []) {
      for (const { process_id: pid, element_id: id } of step.elements || []) {
        if ((pid && !processes.has(pid) && !registry.get(pid)) || !registry.get(id)) { continue; }  // pid: process or sub-process
        const entry = numbers.get(id) || { labels: [], failed: false };
        const label = step.number === 0 ? '起点' : '第' + step.number + '步';
        if (!entry.labels.includes(label)) { entry.labels.push(label); }
        entry.failed = entry.failed || !step.ok;
        numbers.set(id, entry);
      }
    }
    for (const [id, { labels, failed }] of numbers) {
      const text = (failed ? '✖ ' : '') + labels.join('、');
      pin('step', id, failed ? 'mark-step-failed' : 'mark-step', text,
        'studio-badge--step' + (failed ? ' studio-badge--step-failed' : ''));
    }
    return numbers.size;
  }

  return { focus, clear, showProblems, showDiff, showSteps };
}
