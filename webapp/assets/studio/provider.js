// The properties this engine reads, as panel groups in Chinese (bpmn-js-properties-panel provider).
// Each entry is a module-level component (stable identity, so typing is not interrupted by re-renders)
// that reads and writes the diagram through bpmn-js commands (undoable). The page passes the
// vocabulary — forms, roles, SLA keys, clauses and their deadlines — as config.liyuan.
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';
import {
  SelectEntry, TextAreaEntry, TextFieldEntry,
  isSelectEntryEdited, isTextAreaEntryEdited, isTextFieldEntryEdited,
} from '@bpmn-io/properties-panel';
import { jsx } from '@bpmn-io/properties-panel/preact/jsx-runtime';
import { useService } from 'bpmn-js-properties-panel';
import { getBody, getProperty, propertyNames, setBody, setProperty } from './spiff.js';
import { durationMinutes, ISO_DURATION, quoteIfLiteral, unquote } from './timers.js';
import { formSchema, setFieldTitle } from './forms.js';

// Properties that have their own entry; any other spiffworkflow:property is listed under 其他属性.
const KNOWN = new Set(['formJsonSchemaFilename', 'formUiSchemaFilename', 'assignee', 'department', 'clause', 'sla']);
const TIMER_KINDS = [['timeDuration', '时长（如 PT30M）'], ['timeDate', '时间点'], ['timeCycle', '周期']];

function options(values, emptyLabel) {
  return [{ value: '', label: emptyLabel || '（无）' }, ...values.map((v) => (typeof v === 'string' ? { value: v, label: v } : v))];
}

function liyuan() {
  return useService('config.liyuan') || {};
}

// --- spiffworkflow:property entries ---------------------------------------------------------------

function propertyText(name, label, description) {
  return function PropertyText(props) {
    const injector = useService('injector');
    const debounce = useService('debounceInput');
    return jsx(TextFieldEntry, {
      element: props.element, id: props.id, label, description, debounce,
      getValue: () => getProperty(props.element, name) || '',
      setValue: (value) => setProperty(injector, props.element, name, value),
    });
  };
}

const AssigneeEntry = propertyText('assignee', '指派表达式', '任务数据中的用户名字段，如 customer_username；留空则按泳道的角色派单');
const DepartmentEntry = propertyText('department', '部门（表达式）', '责任部门 / 部门主管泳道的任务须指明部门，如 department');

function FormEntry(props) {
  const injector = useService('injector');
  const { forms = [] } = liyuan();
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: '表单（JSON Schema）',
    getValue: () => getProperty(props.element, 'formJsonSchemaFilename') || '',
    setValue: (value) => setProperty(injector, props.element, 'formJsonSchemaFilename', value),
    getOptions: () => options(withCurrent(forms, getProperty(props.element, 'formJsonSchemaFilename'))),
  });
}

function UiSchemaEntry(props) {
  const injector = useService('injector');
  const { uiSchemas = [] } = liyuan();
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: 'UI 模式',
    getValue: () => getProperty(props.element, 'formUiSchemaFilename') || '',
    setValue: (value) => setProperty(injector, props.element, 'formUiSchemaFilename', value),
    getOptions: () => options(withCurrent(uiSchemas, getProperty(props.element, 'formUiSchemaFilename'))),
  });
}

function withCurrent(list, current) {
  return current && !list.includes(current) ? [...list, current] : list;
}

function bodyArea(type, label, description) {
  return function BodyArea(props) {
    const injector = useService('injector');
    const debounce = useService('debounceInput');
    return jsx(TextAreaEntry, {
      element: props.element, id: props.id, label, description, debounce, rows: 3, monospace: type !== 'spiffworkflow:InstructionsForEndUser',
      getValue: () => getBody(props.element, type) || '',
      setValue: (value) => setBody(injector, props.element, type, value),
    });
  };
}

const InstructionsEntry = bodyArea('spiffworkflow:InstructionsForEndUser', '办理说明', '显示在任务页上；可用 {{ 字段 }} 引用任务数据');
const PreScriptEntry = bodyArea('spiffworkflow:PreScript', '前置脚本', '任务开始前运行（受限 Python）');
const PostScriptEntry = bodyArea('spiffworkflow:PostScript', '后置脚本', '任务提交后运行（受限 Python）');

// A field of the task's form: its title (the label staff see). The form itself is shared by the diagrams
// that name it; the edited copy is published with this diagram's next version.
function FieldTitleEntry(props) {
  const debounce = useService('debounceInput');
  const data = liyuan();
  const name = getProperty(props.element, 'formJsonSchemaFilename');
  return jsx(TextFieldEntry, {
    element: props.element, id: props.id, label: '字段 ' + props.field, debounce,
    getValue: () => {
      const schema = formSchema(data, name);
      return (schema && schema.properties[props.field] && schema.properties[props.field].title) || '';
    },
    setValue: (value) => setFieldTitle(data, name, props.field, (value || '').trim()),
  });
}

function fieldEntries(element, data) {
  const name = getProperty(element, 'formJsonSchemaFilename');
  const schema = name && formSchema(data, name);
  if (!schema || typeof schema.properties !== 'object') { return []; }
  return Object.keys(schema.properties).map((field) => ({
    id: 'liyuan-field-' + field, element, component: FieldTitleEntry, field, isEdited: isTextFieldEntryEdited,
  }));
}

function OtherPropertyEntry(props) {
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  return jsx(TextFieldEntry, {
    element: props.element, id: props.id, label: props.name, debounce,
    getValue: () => getProperty(props.element, props.name) || '',
    setValue: (value) => setProperty(injector, props.element, props.name, value),
  });
}

// --- script task, condition ------------------------------------------------------------------------

function ScriptEntry(props) {
  const modeling = useService('modeling');
  const debounce = useService('debounceInput');
  return jsx(TextAreaEntry, {
    element: props.element, id: props.id, label: '脚本（受限 Python）', debounce, rows: 5, monospace: true,
    getValue: () => getBusinessObject(props.element).script || '',
    setValue: (value) => modeling.updateProperties(props.element, { script: value || undefined }),
  });
}

function ConditionEntry(props) {
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  return jsx(TextFieldEntry, {
    element: props.element, id: props.id, label: '条件表达式', debounce,
    description: '按任务数据求值的 Python 表达式，如 category == \'a\'；默认流不需要条件',
    getValue: () => {
      const cond = getBusinessObject(props.element).conditionExpression;
      return (cond && cond.body) || '';
    },
    setValue: (value) => {
      const text = (value || '').trim();
      const expr = text ? bpmnFactory.create('bpmn:FormalExpression', { body: text }) : undefined;
      modeling.updateProperties(props.element, { conditionExpression: expr });
    },
  });
}

// --- timers and SLA keys ---------------------------------------------------------------------------

export function timerOf(element) {
  const bo = getBusinessObject(element);
  const def = (bo.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
  if (!def) { return null; }
  const kind = ['timeDuration', 'timeDate', 'timeCycle'].find((k) => def[k]) || 'timeDuration';
  return { def, kind, expr: def[kind] || null };
}

function TimerKindEntry(props) {
  const modeling = useService('modeling');
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: '定时器类型',
    getValue: () => timerOf(props.element).kind,
    getOptions: () => TIMER_KINDS.map(([value, label]) => ({ value, label })),
    setValue: (kind) => {
      const timer = timerOf(props.element);
      modeling.updateModdleProperties(props.element, timer.def, {
        timeDuration: undefined, timeDate: undefined, timeCycle: undefined, [kind]: timer.expr || undefined,
      });
    },
  });
}

function TimerValueEntry(props) {
  const modeling = useService('modeling');
  const bpmnFactory = useService('bpmnFactory');
  const debounce = useService('debounceInput');
  const { clauseDeadlines = {} } = liyuan();
  const timer = timerOf(props.element);
  const clauses = (getProperty(props.element, 'clause') || '').split(',').map((c) => c.trim()).filter(Boolean);
  const minutes = durationMinutes(timer.expr && timer.expr.body);
  const exceeded = clauses.filter((c) => clauseDeadlines[c] && minutes !== null && minutes > clauseDeadlines[c].minutes);
  const description = exceeded.length
    ? '⚠ 超过规程时限：' + exceeded.map((c) => '条款 ' + c + ' 规定' + clauseDeadlines[c].text).join('；') + '（发布时须写明理由）'
    : (timer.kind === 'timeDuration' ? 'ISO 8601 时长：PT30M＝30分钟，PT24H＝24小时，P2D＝2天；或按任务数据计算的表达式' : '表达式，按引擎的约定书写');
  return jsx(TextFieldEntry, {
    element: props.element, id: props.id, label: '定时器表达式', debounce, description,
    getValue: () => {
      const t = timerOf(props.element);
      const body = (t.expr && t.expr.body) || '';
      return t.kind === 'timeDuration' ? unquote(body) : body;
    },
    validate: (value) => {
      const t = timerOf(props.element);
      const text = (value || '').trim();
      if (!text) { return '定时器表达式不能为空'; }
      if (t.kind === 'timeDuration' && !ISO_DURATION.test(unquote(text).toUpperCase()) && !/[()]/.test(text)) {
        return '请输入 ISO 8601 时长，例如 PT45M（45分钟）、PT2H（2小时）、P1D（1天）';
      }
      return null;
    },
    setValue: (value, error) => {
      if (error) { return; }  // the panel shows the message and keeps what was typed; the diagram keeps its timer
      const t = timerOf(props.element);
      const text = t.kind === 'timeDuration' ? quoteIfLiteral(value) : (value || '').trim();
      if (!text) { return; }
      if (t.expr) {
        modeling.updateModdleProperties(props.element, t.expr, { body: text });
      } else {
        modeling.updateModdleProperties(props.element, t.def, { [t.kind]: bpmnFactory.create('bpmn:FormalExpression', { body: text }) });
      }
    },
  });
}

function SlaEntry(props) {
  const injector = useService('injector');
  const { slaKeys = {} } = liyuan();
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: 'SLA 键（时限统计）',
    getValue: () => getProperty(props.element, 'sla') || '',
    setValue: (value) => setProperty(injector, props.element, 'sla', value),
    getOptions: () => options(Object.entries(slaKeys).map(([value, name]) => ({ value, label: name + '（' + value + '）' })), '（不计入时限统计）'),
  });
}

// --- clauses -----------------------------------------------------------------------------------------

function ClauseEntry(props) {
  const injector = useService('injector');
  const debounce = useService('debounceInput');
  const { clauses = {} } = liyuan();
  const ids = (getProperty(props.element, 'clause') || '').split(',').map((c) => c.trim()).filter(Boolean);
  const description = ids.length ? ids.map((c) => c + '：' + (clauses[c] || '（规程中没有此条款）')).join('\n') : '此元素实施的工作规程条款 id，逗号分隔，如 T2.1,O3.2';
  return jsx(TextFieldEntry, {
    element: props.element, id: props.id, label: '规程条款', debounce, description,
    getValue: () => getProperty(props.element, 'clause') || '',
    validate: (value) => {
      if (!Object.keys(clauses).length) { return null; }  // no clause list to check against
      const unknown = (value || '').split(',').map((c) => c.trim()).filter((c) => c && !(c in clauses));
      return unknown.length ? '规程中没有条款：' + unknown.join('、') : null;
    },
    setValue: (value, error) => error || setProperty(injector, props.element, 'clause', (value || '').split(',').map((c) => c.trim()).filter(Boolean).join(',')),
  });
}

// --- lanes (roles) -----------------------------------------------------------------------------------

function LaneRoleEntry(props) {
  const modeling = useService('modeling');
  const { roles = [] } = liyuan();
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: '角色（泳道名称）',
    description: '泳道名称就是办理该泳道任务的角色',
    getValue: () => getBusinessObject(props.element).name || '',
    getOptions: () => options(withCurrent(roles, getBusinessObject(props.element).name)),
    setValue: (value) => modeling.updateProperties(props.element, { name: value || undefined }),
  });
}

export function laneOf(element, elementRegistry) {
  const bo = getBusinessObject(element);
  const lanes = elementRegistry.filter((e) => is(e, 'bpmn:Lane') && (getBusinessObject(e).flowNodeRef || []).includes(bo));
  return lanes.sort((a, b) => a.width * a.height - b.width * b.height)[0] || null;
}

function lanesAround(element, elementRegistry) {
  const participant = elementRegistry.filter((e) => is(e, 'bpmn:Participant')).find((p) =>
    element.x >= p.x && element.x <= p.x + p.width && element.y >= p.y && element.y <= p.y + p.height);
  return elementRegistry.filter((e) => is(e, 'bpmn:Lane') && (!participant || e.y >= participant.y && e.y < participant.y + participant.height)
    && !(getBusinessObject(e).childLaneSet));
}

function TaskLaneEntry(props) {
  const modeling = useService('modeling');
  const elementRegistry = useService('elementRegistry');
  return jsx(SelectEntry, {
    element: props.element, id: props.id, label: '所在泳道（角色）',
    description: '改选泳道会把元素移到该泳道中，由该角色办理',
    getValue: () => { const lane = laneOf(props.element, elementRegistry); return lane ? lane.id : ''; },
    getOptions: () => lanesAround(props.element, elementRegistry).map((l) => ({ value: l.id, label: getBusinessObject(l).name || l.id })),
    setValue: (laneId) => {
      const lane = elementRegistry.get(laneId);
      if (!lane) { return; }
      const centre = props.element.y + props.element.height / 2;
      modeling.moveElements([props.element], { x: 0, y: Math.round(lane.y + lane.height / 2 - centre) });
    },
  });
}

// --- the provider ------------------------------------------------------------------------------------

function entry(id, element, component, isEdited, extra) {
  return { id, element, component, isEdited, ...(extra || {}) };
}

function isConditionalFlow(element) {
  if (!is(element, 'bpmn:SequenceFlow')) { return false; }
  const bo = getBusinessObject(element);
  const source = bo.sourceRef;
  return source && (is(source, 'bpmn:ExclusiveGateway') || is(source, 'bpmn:InclusiveGateway')) && source.default !== bo;
}

export default function LiyuanPropertiesProvider(propertiesPanel, elementRegistry, injector) {
  const data = injector.get('config.liyuan', false) || {};
  this.getGroups = (element) => (groups) => {
    const mine = [];
    const edited = { text: isTextFieldEntryEdited, area: isTextAreaEntryEdited, select: isSelectEntryEdited };
    if (is(element, 'bpmn:UserTask') || is(element, 'bpmn:StartEvent')) {
      const entries = [entry('liyuan-form', element, FormEntry, edited.select), entry('liyuan-uischema', element, UiSchemaEntry, edited.select)];
      if (is(element, 'bpmn:UserTask')) {
        entries.push(entry('liyuan-instructions', element, InstructionsEntry, edited.area),
          entry('liyuan-assignee', element, AssigneeEntry, edited.text),
          entry('liyuan-department', element, DepartmentEntry, edited.text));
      }
      mine.push({ id: 'liyuan-task', label: is(element, 'bpmn:UserTask') ? '表单与办理' : '开始表单', entries });
      const fields = fieldEntries(element, data);
      if (fields.length) {
        mine.push({ id: 'liyuan-fields', label: '表单字段（标题）', entries: fields });
      }
    }
    if (is(element, 'bpmn:ScriptTask')) {
      mine.push({ id: 'liyuan-script', label: '脚本', entries: [entry('liyuan-script-body', element, ScriptEntry, edited.area)] });
    }
    if (is(element, 'bpmn:Activity') && !is(element, 'bpmn:SubProcess')) {
      mine.push({ id: 'liyuan-scripts', label: '前置 / 后置脚本', entries: [
        entry('liyuan-prescript', element, PreScriptEntry, edited.area), entry('liyuan-postscript', element, PostScriptEntry, edited.area)] });
    }
    if (isConditionalFlow(element)) {
      mine.push({ id: 'liyuan-condition', label: '条件', entries: [entry('liyuan-condition-expression', element, ConditionEntry, edited.text)] });
    }
    if (timerOf(element)) {
      mine.push({ id: 'liyuan-timer', label: '定时器与时限', entries: [
        entry('liyuan-timer-kind', element, TimerKindEntry, edited.select), entry('liyuan-timer-value', element, TimerValueEntry, edited.text),
        entry('liyuan-sla', element, SlaEntry, edited.select)] });
    }
    if (is(element, 'bpmn:Lane')) {
      mine.push({ id: 'liyuan-lane', label: '泳道（角色）', entries: [entry('liyuan-lane-role', element, LaneRoleEntry, edited.select)] });
    } else if (is(element, 'bpmn:FlowNode') && !is(element, 'bpmn:BoundaryEvent') && laneOf(element, elementRegistry)) {
      mine.push({ id: 'liyuan-lane', label: '泳道（角色）', entries: [entry('liyuan-task-lane', element, TaskLaneEntry, edited.select)] });
    }
    if (is(element, 'bpmn:FlowElement')) {
      mine.push({ id: 'liyuan-clause', label: '工作规程', entries: [entry('liyuan-clause-ids', element, ClauseEntry, edited.text)] });
      const others = propertyNames(element).filter((n) => !KNOWN.has(n));
      if (others.length) {
        mine.push({ id: 'liyuan-other', label: '其他属性', entries: others.map((name) => entry('liyuan-prop-' + name, element, OtherPropertyEntry, edited.text, { name })) });
      }
    }
    // Ours first, after 常规 (name and id); the generic groups the engine does not read go last.
    const general = groups.filter((g) => g.id === 'general');
    const rest = groups.filter((g) => g.id !== 'general' && g.id !== 'timer');
    return [...general, ...mine, ...rest];
  };
  propertiesPanel.registerProvider(400, this);  // after bpmn-js's own provider (1000), whose groups it reorders
}

LiyuanPropertiesProvider.$inject = ['propertiesPanel', 'elementRegistry', 'injector'];
