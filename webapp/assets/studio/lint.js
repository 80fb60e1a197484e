// bpmnlint's findings as the studio's problems: the same shape as the engine validator's
// ({element_id, message, severity}), so they are listed and pinned the same way and an error refuses
// publishing as a validator error does. Linting runs in the browser only (the rules are bundled from
// .bpmnlintrc); the overlays bpmn-js-bpmnlint draws while editing come from the same rules.
const SEVERITY = { error: 'error', warn: 'warning' };

export async function lintProblems(modeler) {
  const linting = modeler.get('linting');
  const translate = modeler.get('translate');
  const found = await linting.lint();  // {rule: [{id, message, category}]}, whether the overlays are on or off
  const out = [];
  for (const [rule, reports] of Object.entries(found)) {
    for (const report of reports) {
      const severity = SEVERITY[report.category];
      if (!severity) { continue; }
      out.push({ element_id: report.id, severity, rule,
        message: '建模规则 ' + rule + '：' + translate(report.message) });
    }
  }
  return out;
}

export const lintErrors = (problems) => problems.filter((p) => p.severity === 'error');
