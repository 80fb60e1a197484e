// The process owner's editor: bpmn-js Modeler + a small side panel (name, timer expression), and the
// 校验 / 发布新版本 buttons that post the edited XML to the server (JSON, CSRF token in X-CSRFToken).
// Problems come back as {file, line, element_id, message}; clicking one selects and marks that element.
(function () {
  'use strict';
  const box = document.getElementById('modeler');
  if (!box || typeof BpmnJS === 'undefined') { return; }
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const result = document.getElementById('result');
  const list = document.getElementById('problems');
  const btnValidate = document.getElementById('btn-validate');
  const btnDeploy = document.getElementById('btn-deploy');
  const panel = {
    empty: document.getElementById('panel-empty'), body: document.getElementById('panel-body'),
    type: document.getElementById('panel-type'), id: document.getElementById('panel-id'),
    name: document.getElementById('panel-name'), timer: document.getElementById('panel-timer'),
    timerLabel: document.getElementById('panel-timer-label'), timerValue: document.getElementById('panel-timer-value'),
    timerHelp: document.getElementById('panel-timer-help'), timerApply: document.getElementById('panel-timer-apply'),
    timerError: document.getElementById('panel-timer-error'),
  };

  const modeler = new BpmnJS({
    container: box,
    textRenderer: { defaultStyle: { fontFamily: '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif' } },
  });
  const canvas = modeler.get('canvas');
  const registry = modeler.get('elementRegistry');
  const selection = modeler.get('selection');
  const modeling = modeler.get('modeling');
  const bpmnFactory = modeler.get('bpmnFactory');
  let marked = [];
  let dirty = false;
  let current = null;

  const TYPE_NAMES = {
    'bpmn:UserTask': '人工任务', 'bpmn:ScriptTask': '脚本任务', 'bpmn:BoundaryEvent': '边界事件',
    'bpmn:StartEvent': '开始事件', 'bpmn:EndEvent': '结束事件', 'bpmn:ExclusiveGateway': '排他网关',
    'bpmn:ParallelGateway': '并行网关', 'bpmn:CallActivity': '调用子流程', 'bpmn:SequenceFlow': '连线',
    'bpmn:IntermediateCatchEvent': '中间事件', 'bpmn:Lane': '泳道（角色）', 'bpmn:Participant': '池',
    'bpmn:Task': '任务', 'bpmn:SubProcess': '子流程', 'bpmn:InclusiveGateway': '包容网关',
  };
  const TIMER_KINDS = { timeDuration: '时长', timeDate: '日期', timeCycle: '周期' };
  const ISO_DURATION = /^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/;

  function say(text, kind) {
    result.textContent = text;
    result.className = kind === 'ok' ? 'result-ok' : kind === 'bad' ? 'result-bad' : 'muted';
  }

  function timerOf(element) {
    const bo = element && element.businessObject;
    const def = bo && (bo.eventDefinitions || []).find((d) => d.$type === 'bpmn:TimerEventDefinition');
    if (!def) { return null; }
    const kind = ['timeDuration', 'timeDate', 'timeCycle'].find((k) => def[k]) || 'timeDuration';
    return { def, kind, expr: def[kind] || null };
  }

  function unquote(body) {
    const text = (body || '').trim();
    const m = /^(["'])(.*)\1$/.exec(text);
    return m ? m[2] : text;
  }

  function showPanel(element) {
    current = element;
    panel.timerError.textContent = '';
    if (!element || element.type === 'bpmn:Process' || element.type === 'bpmn:Collaboration') {
      panel.body.hidden = true; panel.empty.hidden = false; return;
    }
    panel.body.hidden = false; panel.empty.hidden = true;
    panel.type.textContent = TYPE_NAMES[element.type] || element.type.replace('bpmn:', '');
    panel.id.textContent = element.id;
    panel.name.value = element.businessObject.name || '';
    const timer = timerOf(element);
    panel.timer.hidden = !timer;
    if (timer) {
      panel.timerLabel.textContent = '计时' + TIMER_KINDS[timer.kind] + (timer.kind === 'timeDuration' ? '（ISO 8601，如 PT30M、PT24H）' : '');
      panel.timerValue.value = timer.kind === 'timeDuration' ? unquote(timer.expr && timer.expr.body) : (timer.expr && timer.expr.body) || '';
      panel.timerHelp.textContent = '当前表达式：' + ((timer.expr && timer.expr.body) || '（空）');
    }
  }

  panel.name.addEventListener('change', () => {
    if (current) { modeling.updateLabel(current, panel.name.value); }
  });

  function applyTimer() {
    const timer = timerOf(current);
    if (!timer) { return; }
    let value = panel.timerValue.value.trim();
    if (timer.kind === 'timeDuration') {
      const bare = unquote(value).toUpperCase();
      if (ISO_DURATION.test(bare)) {
        value = '"' + bare + '"';  // timer literals are quoted Python strings (see README, BPMN conventions)
      } else if (!/[()]/.test(value)) {
        panel.timerError.textContent = '请输入 ISO 8601 时长，例如 PT45M（45分钟）、PT2H（2小时）、P1D（1天）';
        return;
      }  // else: a script expression such as add_duration(...) is kept as typed; 校验 checks it
    }
    panel.timerError.textContent = '';
    if (timer.expr) {
      modeling.updateModdleProperties(current, timer.expr, { body: value });
    } else {
      const expr = bpmnFactory.create('bpmn:FormalExpression', { body: value });
      modeling.updateModdleProperties(current, timer.def, { [timer.kind]: expr });
    }
    showPanel(current);
    say('计时已改为 ' + value + '（尚未发布）', '');
  }
  panel.timerApply.addEventListener('click', applyTimer);
  panel.timerValue.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); applyTimer(); } });

  modeler.on('selection.changed', (e) => showPanel(e.newSelection.length === 1 ? e.newSelection[0] : null));
  modeler.on('commandStack.changed', () => { dirty = true; });
  window.addEventListener('beforeunload', (e) => { if (dirty) { e.preventDefault(); e.returnValue = ''; } });

  function clearMarks() {
    for (const id of marked) { if (registry.get(id)) { canvas.removeMarker(id, 'mark-problem'); } }
    marked = [];
  }

  function focus(id) {
    const element = registry.get(id);
    if (!element) { return false; }
    if (canvas.zoom() < 0.8) {  // the whole procedure fits only when small: zoom in on the element
      canvas.zoom(1, { x: element.x + (element.width || 0) / 2, y: element.y + (element.height || 0) / 2 });
    }
    if (typeof canvas.scrollToElement === 'function') { canvas.scrollToElement(element); }
    selection.select(element);
    document.getElementById('panel').scrollIntoView({ block: 'nearest' });
    return true;
  }

  function showProblems(problems) {
    clearMarks();
    list.replaceChildren();
    for (const p of problems) {
      const li = document.createElement('li');
      li.tabIndex = 0;
      li.dataset.elementId = p.element_id || '';
      const where = document.createElement('div');
      where.className = 'where mono';
      where.textContent = (p.element_id || '—') + ' · ' + p.file + (p.line ? ':' + p.line : '');
      const msg = document.createElement('div');
      msg.textContent = p.message;
      li.append(where, msg);
      if (p.element_id && registry.get(p.element_id)) {
        canvas.addMarker(p.element_id, 'mark-problem');
        marked.push(p.element_id);
      }
      const go = () => { if (!focus(p.element_id)) { say('该问题没有对应的图形元素：' + p.message, 'bad'); } };
      li.addEventListener('click', go);
      li.addEventListener('keydown', (e) => { if (e.key === 'Enter') { go(); } });
      list.append(li);
    }
  }

  async function post(url, extra) {
    const { xml } = await modeler.saveXML({ format: true });
    const res = await fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRFToken': csrf, Accept: 'application/json' },
      body: JSON.stringify({ xml, ...(extra || {}) }),
    });
    let body;
    try { body = await res.json(); } catch (err) { body = { ok: false, message: '服务器返回 ' + res.status, problems: [] }; }
    return body;
  }

  async function run(kind) {
    const note = document.getElementById('deploy-note');
    if (kind === 'deploy' && !note.value.trim()) {
      say('请填写变更说明：改了什么、为什么改（将记入版本历史）', 'bad');
      result.dataset.state = 'bad';
      note.focus();
      return;
    }
    btnValidate.disabled = btnDeploy.disabled = true;
    say(kind === 'deploy' ? '正在发布…' : '正在校验…', '');
    try {
      const body = await post(kind === 'deploy' ? box.dataset.deploy : box.dataset.validate,
        kind === 'deploy' ? { note: note.value } : null);
      showProblems(body.problems || []);
      say(body.message || (body.ok ? '完成' : '失败'), body.ok ? 'ok' : 'bad');
      if (kind === 'deploy' && body.ok) {
        dirty = false;
        if (body.created) {
          document.querySelector('[data-testid="version-label"]').textContent = '已发布为第' + body.version + '版';
        }
      }
      result.dataset.state = body.ok ? 'ok' : 'bad';
    } catch (err) {
      say('请求失败：' + err.message, 'bad');
      result.dataset.state = 'error';
    } finally {
      btnValidate.disabled = btnDeploy.disabled = false;
    }
  }
  // Every timer of the diagram, so a deadline can be found without hunting for a small circle.
  function listTimers() {
    const ul = document.getElementById('timers');
    ul.replaceChildren();
    for (const element of registry.filter((e) => e.type !== 'label' && timerOf(e)).sort((a, b) => a.id.localeCompare(b.id))) {
      const timer = timerOf(element);
      const li = document.createElement('li');
      li.tabIndex = 0;
      li.dataset.elementId = element.id;
      const name = document.createElement('div');
      name.textContent = (element.businessObject.name || element.id);
      const where = document.createElement('div');
      where.className = 'where mono';
      where.textContent = element.id + ' · ' + TIMER_KINDS[timer.kind] + ' ' + ((timer.expr && timer.expr.body) || '');
      li.append(name, where);
      li.addEventListener('click', () => focus(element.id));
      li.addEventListener('keydown', (e) => { if (e.key === 'Enter') { focus(element.id); } });
      ul.append(li);
    }
  }
  modeler.on('commandStack.changed', listTimers);

  btnValidate.addEventListener('click', () => run('validate'));
  btnDeploy.addEventListener('click', () => run('deploy'));

  fetch(box.dataset.src, { credentials: 'same-origin' })
    .then((res) => { if (!res.ok) { throw new Error('HTTP ' + res.status); } return res.text(); })
    .then((xml) => modeler.importXML(xml))
    .then(() => {
      canvas.zoom('fit-viewport');
      dirty = false;
      listTimers();
      btnValidate.disabled = btnDeploy.disabled = false;
      say('已载入。选中元素可在右侧修改名称和计时；完成后先“校验”，再“发布新版本”。', '');
      box.dataset.ready = 'true';
      window.liyuanModeler = modeler;  // for people (and tests) poking at the editor from the console
    })
    .catch((err) => { say('流程图无法载入：' + err.message, 'bad'); box.dataset.ready = 'error'; });
})();
