// Chinese for everything bpmn-js and the properties panel write on screen (bpmn-js's translate service:
// translate(template, replacements)). A string missing here shows in English: add it.
const ZH = {
  // properties panel (bpmn-js-properties-panel's own groups and entries)
  General: '常规', Name: '名称', ID: 'ID', Documentation: '说明文档', 'Element documentation': '元素说明',
  'Process documentation': '流程说明', Process: '流程', 'Process name': '流程名称', 'Process ID': '流程 ID',
  Executable: '可执行', 'Version tag': '版本标签', Timer: '定时器', Type: '类型', Value: '值',
  Signal: '信号', 'Global signal reference': '全局信号', 'Signal name': '信号名称', '<none>': '（无）',
  'Create new ...': '新建…', Message: '消息', 'Global message reference': '全局消息', 'Message name': '消息名称',
  Escalation: '升级', Error: '错误', Link: '链接', Compensation: '补偿', Condition: '条件',
  'Multi-instance': '多实例', 'Properties panel': '属性面板', 'Select a single element': '请选择一个元素',
  'Multiple elements are selected. Select a single one to edit its properties.': '选中了多个元素，请只选一个再编辑属性。',
  'Select an element to edit its properties.': '选中一个元素以编辑其属性。',
  'ID must not be empty.': 'ID 不能为空。', 'ID must be unique.': 'ID 已被使用。',
  'ID must not contain spaces.': 'ID 不能包含空格。', 'ID must be a valid QName.': 'ID 格式不正确。',
  'ID must not contain prefix.': 'ID 不能包含前缀。', 'Open documentation': '打开说明',
  Date: '日期', Duration: '时长', Cycle: '周期', 'Time date': '时间点', 'Time duration': '时长', 'Time cycle': '周期',
  // element types shown in the panel header
  'Start Event': '开始事件', 'End Event': '结束事件', 'User Task': '人工任务', 'Script Task': '脚本任务',
  'Exclusive Gateway': '排他网关', 'Parallel Gateway': '并行网关', 'Inclusive Gateway': '包容网关',
  'Sequence Flow': '顺序流', 'Boundary Event': '边界事件', 'Call Activity': '调用子流程', Lane: '泳道',
  Participant: '池', 'Sub Process': '子流程', Task: '任务', 'Intermediate Catch Event': '中间捕获事件',
  'Intermediate Throw Event': '中间抛出事件', 'Timer Boundary Event': '定时器边界事件',
  'Timer Intermediate Catch Event': '定时器中间事件', 'Signal Boundary Event': '信号边界事件',
  'Signal Intermediate Throw Event': '信号抛出事件', 'Signal Intermediate Catch Event': '信号捕获事件',
  'Signal End Event': '信号结束事件', 'Event-based Gateway': '事件网关', Collaboration: '协作',
  // the panel header's type label: the concrete type split into words (TimerBoundaryEventNonInterrupting)
  'Timer Boundary Event (Non Interrupting)': '定时器边界事件（不中断）', 'Signal Boundary Event (Non Interrupting)': '信号边界事件（不中断）',
  'Timer Start Event': '定时开始事件', 'Conditional Flow': '条件顺序流', 'Default Flow': '默认顺序流',
  'Expanded Sub Process': '子流程', 'Collapsed Sub Process': '子流程（折叠）', 'Event Based Gateway': '事件网关',
  'Text Annotation': '注释',
  // palette and context pad
  'Activate hand tool': '平移工具', 'Activate lasso tool': '套索工具', 'Activate create/remove space tool': '空间工具',
  'Activate global connect tool': '连线工具', 'Create start event': '新建开始事件', 'Create end event': '新建结束事件',
  'Create task': '新建任务', 'Create gateway': '新建网关', 'Create intermediate/boundary event': '新建中间/边界事件',
  'Create pool/participant': '新建池', 'Create expanded sub-process': '新建子流程', 'Create data object reference': '新建数据对象',
  'Create data store reference': '新建数据存储', 'Create group': '新建分组', 'Append end event': '追加结束事件',
  'Append gateway': '追加网关', 'Append task': '追加任务', 'Append intermediate/boundary event': '追加中间事件',
  'Append text annotation': '追加注释', 'Change element': '更改类型', Delete: '删除', 'Connect to other element': '连线',
  'Connect using association': '关联连线', 'Add lane above': '在上方添加泳道', 'Add lane below': '在下方添加泳道',
  'Divide into two lanes': '拆分为两条泳道', 'Divide into three lanes': '拆分为三条泳道', 'Append user task': '追加人工任务',
  'Append service task': '追加服务任务', 'Search in diagram': '在图中搜索',
  // bpmn-js-bpmnlint: its button and the messages of the rules .bpmnlintrc leaves on
  '{errors} Errors, {warnings} Warnings': '建模规则：{errors} 个错误，{warnings} 个警告', 'No Issues': '建模规则：无问题',
  'Toggle linting overlays': '显示/隐藏建模规则问题', 'Issues for child elements': '子元素的问题',
  'Element is not connected': '元素未连线', 'Element is an implicit end': '元素没有出口：请连到结束事件',
  'Element is an implicit start': '元素没有入口：请从开始事件连过来', 'Flow splits implicitly': '流程隐式分支：请用网关分支',
  'Sequence flow is missing condition': '顺序流缺少条件', 'Element is missing bpmndi': '元素缺少图形信息',
  'Gateway is superfluous. It only has one source and target.': '网关多余：只有一个入口和一个出口',
  'Termination is superfluous.': '终止结束事件多余', 'Element overlaps with other element': '元素与其他元素重叠',
  'Element is outside of parent boundary': '元素超出所在容器的边界', 'Event has multiple event definitions': '事件有多个事件定义',
  'Start event must be blank': '开始事件必须为空事件', 'Start event is missing event definition': '开始事件缺少事件定义',
  'Duplicate outgoing sequence flows': '重复的出口顺序流', 'Duplicate incoming sequence flows': '重复的入口顺序流',
  'SequenceFlow is a duplicate': '顺序流重复', 'Conditional event is missing a condition': '条件事件缺少条件',
  'Link event is missing link name': '链接事件缺少名称', 'Element is unused': '元素未被使用',
  'Element name is not unique': '元素名称重复',
  'An <Event-based Gateway> must have at least 2 outgoing <Sequence Flows>': '事件网关至少要有两条出口顺序流',
  'A <Sequence Flow> outgoing from an <Event-based Gateway> must not be conditional': '事件网关的出口顺序流不能带条件',
};

export function translate(template, replacements) {
  const text = ZH[template] || template;
  return text.replace(/{([^}]+)}/g, (_, key) => (replacements && key in replacements ? replacements[key] : '{' + key + '}'));
}

export default { translate: ['value', translate] };
