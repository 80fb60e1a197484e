// The studio's bpmn-js Modeler: the properties panel with our provider (provider.js), the spiffworkflow
// moddle descriptor (so the extensions the engine runs on are typed, edited and saved as they were read)
// and the Chinese translation; bpmnlint's generic modelling rules (.bpmnlintrc, compiled in by build.mjs) run
// on every change, and the token simulation lets a process owner click tokens through the paths.
// ``data`` is the page's vocabulary (forms, roles, SLA keys, clauses).
import Modeler from 'bpmn-js/lib/Modeler';
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from 'bpmn-js-properties-panel';
import spiffworkflow from './spiffworkflow.json';
import translateModule from './translate.js';
import LiyuanPropertiesProvider from './provider.js';
import lintModule from 'bpmn-js-bpmnlint';
import TokenSimulationModule from 'bpmn-js-token-simulation';
import tokenSimulationChinese from './token_zh.js';
import 'bpmn-js-bpmnlint/dist/assets/css/bpmn-js-bpmnlint.css';
import 'bpmn-js-token-simulation/assets/css/bpmn-js-token-simulation.css';
import lintConfig from '../../../.bpmnlintrc';

const OPEN_GROUPS = ['general', 'liyuan-task', 'liyuan-fields', 'liyuan-script', 'liyuan-scripts', 'liyuan-condition', 'liyuan-timer',
  'liyuan-lane', 'liyuan-clause', 'liyuan-other'];

export function createStudioModeler(container, data, panelParent) {
  return new Modeler({
    container,
    propertiesPanel: panelParent ? {
      parent: panelParent,
      layout: { open: true, groups: Object.fromEntries(OPEN_GROUPS.map((id) => [id, { open: true }])) },
    } : undefined,
    linting: { bpmnlint: lintConfig, active: true },
    additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, translateModule,
      lintModule, TokenSimulationModule, tokenSimulationChinese,
      { __init__: ['liyuanPropertiesProvider'], liyuanPropertiesProvider: ['type', LiyuanPropertiesProvider] }],
    moddleExtensions: { spiffworkflow },
    liyuan: data || {},
    textRenderer: { defaultStyle: { fontFamily: '"Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif' } },
  });
}
