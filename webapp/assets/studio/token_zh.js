// Chinese for bpmn-js-token-simulation. Unlike bpmn-js and the properties panel, the token simulation writes
// its words straight into the page (button titles, its log, its notices) without the translate service, so
// they are rewritten here as they appear: a MutationObserver on the modeler's container translates every
// text and title the simulation adds (its elements carry classes starting with "bts-").
import { translate } from './translate.js';

const WORDS = {
  'Simulation Log': '模拟日志', 'No Entries': '暂无记录', 'Toggle Simulation Log': '显示或隐藏模拟日志',
  'Reset Simulation': '重置模拟', 'Play/Pause Simulation': '开始或暂停模拟', 'Pause Simulation': '暂停模拟',
  'Play Simulation': '开始模拟', 'Set Sequence Flow': '选择此顺序流', 'Add pause point': '在此暂停',
  'Remove pause point': '取消在此暂停', 'Trigger Event': '触发事件', Finished: '已结束',
  'Found unsupported elements': '有模拟不支持的元素', 'Not supported': '不支持', Close: '关闭',
  Slow: '慢', Normal: '正常', Fast: '快', Process: '流程', SubProcess: '子流程',
  'Service Task': '服务任务', 'Business Rule Task': '业务规则任务', 'Manual Task': '手工任务',
  'Receive Task': '接收任务', 'Send Task': '发送任务', 'Intermediate Event': '中间事件',
};
const ENDINGS = { started: '开始', finished: '结束', canceled: '已取消' };
const PATTERNS = [
  [/^Focus process instance (.+)$/, (_, id) => `只看流程实例 ${id}`],
  [/^Set animation speed = (.+)$/, (_, speed) => `动画速度：${zh(speed)}`],
  [/^(.+) (started|finished|canceled)$/, (_, who, what) => `${zh(who)}${ENDINGS[what]}`],
];

export function zh(text) {
  const trimmed = text.trim();
  if (!trimmed) return text;
  if (WORDS[trimmed]) return WORDS[trimmed];
  for (const [pattern, replace] of PATTERNS) {
    if (pattern.test(trimmed)) return trimmed.replace(pattern, replace);
  }
  return translate(trimmed); // element type names the studio already translates (User Task …)
}

function translateTree(node) {
  if (node.nodeType === Node.TEXT_NODE) {
    const inSimulation = node.parentElement && node.parentElement.closest('[class*="bts-"]');
    if (inSimulation) {
      const text = zh(node.nodeValue);
      if (text !== node.nodeValue.trim() && node.nodeValue.trim()) node.nodeValue = text;
    }
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  const owned = [node, ...node.querySelectorAll('[class*="bts-"]')].filter((el) => /(^| )bts-/.test(el.className.baseVal ?? el.className));
  for (const el of owned) {
    for (const attribute of ['title', 'aria-label']) {
      const value = el.getAttribute(attribute);
      if (value && zh(value) !== value) el.setAttribute(attribute, zh(value));
    }
  }
  node.childNodes.forEach(translateTree);
}

function TokenSimulationChinese(canvas) {
  const container = canvas.getContainer();
  translateTree(container);
  new MutationObserver((changes) => {
    for (const change of changes) {
      if (change.type === 'attributes' || change.type === 'characterData') translateTree(change.target);
      change.addedNodes.forEach(translateTree);
    }
  }).observe(container, { childList: true, subtree: true, characterData: true, attributes: true,
    attributeFilter: ['title', 'aria-label'] });
}
TokenSimulationChinese.$inject = ['canvas'];

export default { __init__: ['tokenSimulationChinese'], tokenSimulationChinese: ['type', TokenSimulationChinese] };
