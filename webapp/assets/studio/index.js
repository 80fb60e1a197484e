// The process owner's studio (/modeler/<process>/edit): bpmn-js Modeler with the properties panel and
// our provider for every property the engine reads, then, before anything goes live:
//   检查 — the engine's own validator (and its dry run, and the clause check) on the edited XML, problems
//          pinned on the elements;
//   建模规则 — bpmnlint's generic rules (.bpmnlintrc) on every change, shown on the elements; an error
//          refuses publishing, in the browser, before anything is posted (lint.js);
//   试运行 — the procedure's scenario files run against the edited, unpublished diagram; the steps of a
//          run are numbered on the elements it passed (the failed one in red);
//   令牌模拟 — bpmn-js-token-simulation: click tokens through the paths (editing is paused meanwhile);
//   发布 — the diff against the published version (list + markers) and a confirmation; the server
//          checks and runs the scenarios again and refuses on an error or a failure, and asks for a
//          written reason when the edit departs from the 工作规程.
// The page's data (URLs, forms, roles, SLA keys, clauses) comes as JSON in #studio-data (no inline script).
import { createStudioModeler } from './modeler.js';
import { createMarks } from './marks.js';
import { postJSON } from './api.js';
import { editedForms, onFormEdited } from './forms.js';
import { createFormEditor } from './form_editor.js';
import { lintErrors, lintProblems } from './lint.js';

// For tests and people at the console: the same modeler on any page (the round-trip test uses it).
window.LiyuanStudio = { createStudioModeler };

const box = document.getElementById('modeler');
const dataNode = document.getElementById('studio-data');
if (box && dataNode) {
  boot(box, JSON.parse(dataNode.textContent));
}

function boot(box, data) {
  const $ = (id) => document.getElementById(id);
  const result = $('result');

  function say(text, kind) {
    result.textContent = text;
    result.className = kind === 'ok' ? 'result-ok' : kind === 'bad' ? 'result-bad' : 'muted';
    result.dataset.state = kind || 'info';
  }

  const modeler = createStudioModeler(box, data, '#properties');
  const marks = createMarks(modeler, say);
  createFormEditor(modeler, data);
  const buttons = ['btn-check', 'btn-scenarios', 'btn-publish', 'btn-confirm', 'btn-token'].map($).filter(Boolean);
  let dirty = false;

  function busy(on) { for (const b of buttons) { b.disabled = on; } }
  async function xml() { return (await modeler.saveXML({ format: true })).xml; }

  function changed() {
    dirty = true;
    $('confirm-box').hidden = true;  // a confirmation is for the diff that was shown, not for later edits
  }
  modeler.on('commandStack.changed', changed);
  onFormEdited(changed);
  window.addEventListener('beforeunload', (e) => { if (dirty) { e.preventDefault(); e.returnValue = ''; } });

  function showWarnings(problems) {
    const warnings = problems.filter((p) => p.severity === 'warning');
    $('reason-box').hidden = !warnings.length;
    return warnings;
  }

  // Publishing waits until bpmnlint reports no error: the errors are listed and pinned, and nothing is posted.
  async function lintRefuses() {
    const errors = lintErrors(await lintProblems(modeler));
    if (!errors.length) { return false; }
    marks.showProblems($('problems'), errors);
    $('confirm-box').hidden = true;
    say('建模规则检查发现 ' + errors.length + ' 个错误（见“问题”及图中标记），修正后才能发布', 'bad');
    return true;
  }

  async function check() {
    busy(true);
    say('正在检查（引擎校验 + 试运行到第一个等待点 + 规程条款 + 建模规则）…');
    try {
      const body = await postJSON(data.urls.check, { xml: await xml(), forms: editedForms() });
      const linted = await lintProblems(modeler);
      const problems = [...(body.problems || []), ...linted];
      marks.showProblems($('problems'), problems);
      showWarnings(body.problems || []);
      const lintErr = lintErrors(linted).length;
      if (body.ok && lintErr) {
        say('引擎校验通过，但建模规则有 ' + lintErr + ' 个错误，修正后才能发布', 'bad');
      } else {
        say(body.message, body.ok ? 'ok' : 'bad');
      }
      return body;
    } catch (err) {
      say('请求失败：' + err.message, 'bad');
      return null;
    } finally { busy(false); }
  }

  function showScenarios(results) {
    const list = $('scenarios');
    list.replaceChildren();
    for (const r of results || []) {
      const li = document.createElement('li');
      li.className = r.ok ? 'scenario-pass' : 'scenario-fail';
      li.dataset.file = r.file;
      li.dataset.ok = String(r.ok);
      const head = document.createElement('div');
      head.className = 'where mono';
      head.textContent = (r.ok ? '通过 · ' : '失败 · ') + r.file;
      const msg = document.createElement('div');
      msg.textContent = r.ok ? r.name : r.name + '：' + r.message;
      li.append(head, msg);
      li.tabIndex = 0;
      li.title = '在图中标出此场景经过的步骤';
      li.addEventListener('click', () => { marks.showSteps(r); select(li); });
      list.append(li);
    }
    // the failed scenario's path first (that is the one to look at), else the first scenario's
    const shown = (results || []).findIndex((r) => !r.ok);
    const index = shown >= 0 ? shown : 0;
    if (list.children[index]) { marks.showSteps(results[index]); select(list.children[index]); }

    function select(li) {
      for (const other of list.children) { other.classList.toggle('scenario-shown', other === li); }
    }
  }

  async function scenarios() {
    busy(true);
    say('正在试运行场景（以编辑后的流程图，在临时数据库中，按模拟时钟）…');
    try {
      const body = await postJSON(data.urls.scenarios, { xml: await xml(), forms: editedForms() });
      showScenarios(body.results);
      if (body.problems && body.problems.length) { marks.showProblems($('problems'), body.problems); }
      say(body.message, body.ok ? 'ok' : 'bad');
    } catch (err) {
      say('请求失败：' + err.message, 'bad');
    } finally { busy(false); }
  }

  async function preview() {
    if (await lintRefuses()) { return; }
    const note = $('deploy-note');
    if (!note.value.trim()) {
      say('请填写变更说明：改了什么、为什么改（将记入版本历史）', 'bad');
      note.focus();
      return;
    }
    busy(true);
    say('正在比较与已发布版本的差异…');
    try {
      const body = await postJSON(data.urls.changes, { xml: await xml(), forms: editedForms() });
      marks.showDiff($('diff'), body);
      $('diff-summary').textContent = (body.lines || []).join('\n');
      if (body.empty) {
        say('与已发布的第' + data.version + '版相比没有引擎读取的变化，无需发布', 'bad');
        return;
      }
      $('confirm-box').hidden = false;
      say('请核对差异（图中已标出），确认后发布为新版本', 'ok');
    } catch (err) {
      say('请求失败：' + err.message, 'bad');
    } finally { busy(false); }
  }

  async function publish() {
    if (await lintRefuses()) { return; }
    busy(true);
    say('正在发布：引擎校验、规程检查、运行全部场景…');
    try {
      const body = await postJSON(data.urls.deploy, {
        xml: await xml(), forms: editedForms(), note: $('deploy-note').value, reason: $('deviation-reason').value,
      });
      marks.showProblems($('problems'), body.problems || []);
      showWarnings(body.problems || []);
      if (body.results) { showScenarios(body.results); }
      say(body.message, body.ok ? 'ok' : 'bad');
      if (body.ok) {
        dirty = false;
        $('confirm-box').hidden = true;
        if (body.created) {
          $('version-label').textContent = '已发布为第' + body.version + '版';
          data.version = body.version;
        }
      }
    } catch (err) {
      say('请求失败：' + err.message, 'bad');
    } finally { busy(false); }
  }

  $('btn-check').addEventListener('click', check);
  $('btn-scenarios').addEventListener('click', scenarios);
  $('btn-publish').addEventListener('click', preview);
  $('btn-confirm').addEventListener('click', publish);

  // 令牌模拟: our own labelled button for bpmn-js-token-simulation's mode (its own toggle is English and hidden)
  const token = $('btn-token');
  token.addEventListener('click', () => modeler.get('toggleMode').toggleMode());
  modeler.on('tokenSimulation.toggleMode', ({ active }) => {
    token.setAttribute('aria-pressed', String(active));
    token.textContent = active ? '结束令牌模拟' : '令牌模拟';
    for (const id of ['btn-check', 'btn-scenarios', 'btn-publish', 'btn-confirm']) { $(id).disabled = active; }
    say(active ? '令牌模拟中：点击开始事件上的 ▶ 放出令牌，在网关上选择去向；编辑已暂停。'
      : '已退出令牌模拟，可继续编辑。');
  });

  fetch(data.urls.diagram, { credentials: 'same-origin' })
    .then((res) => { if (!res.ok) { throw new Error('HTTP ' + res.status); } return res.text(); })
    .then((text) => modeler.importXML(text))
    .then(() => {
      modeler.get('canvas').zoom('fit-viewport');
      dirty = false;
      busy(false);
      say('已载入。选中元素在右侧修改属性；改完先“检查”和“试运行”，再“发布”。');
      box.dataset.ready = 'true';
      window.liyuanModeler = modeler;  // for people (and tests) poking at the editor from the console
    })
    .catch((err) => { say('流程图无法载入：' + err.message, 'bad'); box.dataset.ready = 'error'; });
}
