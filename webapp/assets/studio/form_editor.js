// The form editor beside the diagram: the selected user task's JSON Schema and UI schema as text, a live
// preview drawn by the server with the same Jinja macros staff see (POST urls.formPreview), schema errors
// shown as typed, and the diagrams whose latest versions use the form. A valid edit joins the forms posted
// with the diagram (forms.js), so 检查, 试运行, the diff and 发布 all see it.
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';
import { getProperty } from './spiff.js';
import { formSchema, setForm } from './forms.js';
import { postJSON } from './api.js';

export function createFormEditor(modeler, data) {
  const $ = (id) => document.getElementById(id);
  const box = $('form-editor');
  if (!box) { return; }
  const schemaText = $('form-schema');
  const uiText = $('form-ui');
  const errors = $('form-errors');
  const preview = $('form-preview');
  let names = null;
  let timer = null;
  let typed = false;  // only what the owner typed here is taken as an edit (not the text shown on selection)

  function parse(text, what) {
    try {
      const value = JSON.parse(text);
      if (!value || typeof value !== 'object' || Array.isArray(value)) { throw new Error('须为 JSON 对象'); }
      return value;
    } catch (err) {
      throw new Error(what + ' 不是有效的 JSON：' + err.message);
    }
  }

  async function refresh() {
    if (!names) { return; }
    let schema;
    let ui = null;
    try {
      schema = parse(schemaText.value, 'JSON Schema');
      if (uiText.value.trim()) { ui = parse(uiText.value, 'UI 模式'); }
    } catch (err) {
      errors.textContent = err.message;
      box.dataset.state = 'invalid';
      return;
    }
    const body = await postJSON(data.urls.formPreview, { schema, ui, name: names.schema });
    errors.textContent = (body.problems || []).join('\n') || body.message || '';
    $('form-used-by').textContent = (body.used_by || []).length ? '使用此表单的流程：' + body.used_by.join('、') : '';
    if (body.ok && typed) {
      if (JSON.stringify(schema) !== JSON.stringify(formSchema(data, names.schema))) { setForm(names.schema, schema); }
      if (names.ui && ui && JSON.stringify(ui) !== JSON.stringify(formSchema(data, names.ui))) { setForm(names.ui, ui); }
    }
    if (body.ok) { preview.innerHTML = body.html; }  // drawn and escaped by the server's form macros; no script
    box.dataset.state = body.ok ? 'ok' : 'invalid';
  }

  function later() {
    typed = true;
    clearTimeout(timer);
    timer = setTimeout(refresh, 400);
  }
  schemaText.addEventListener('input', later);
  uiText.addEventListener('input', later);

  modeler.on('selection.changed', (e) => {
    const element = e.newSelection.length === 1 ? e.newSelection[0] : null;
    const schemaName = element && (is(element, 'bpmn:UserTask') || is(element, 'bpmn:StartEvent'))
      && getProperty(element, 'formJsonSchemaFilename');
    if (!schemaName || !formSchema(data, schemaName)) {
      box.hidden = true;
      names = null;
      return;
    }
    typed = false;
    names = { schema: schemaName, ui: getProperty(element, 'formUiSchemaFilename') || null };
    $('form-name').textContent = schemaName + (names.ui ? ' ＋ ' + names.ui : '') + '（' + (getBusinessObject(element).name || element.id) + '）';
    schemaText.value = JSON.stringify(formSchema(data, schemaName), null, 2);
    uiText.value = names.ui && formSchema(data, names.ui) ? JSON.stringify(formSchema(data, names.ui), null, 2) : '';
    box.hidden = false;
    refresh();
  });
}
