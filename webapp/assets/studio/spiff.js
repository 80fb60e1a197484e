// Reading and writing the spiffworkflow extensions the engine runs on (see spiffworkflow.json):
// <spiffworkflow:properties><spiffworkflow:property name=… value=…/></…> and the body elements
// preScript / postScript / instructionsForEndUser. Every write is one undoable command
// ('properties-panel.multi-command-executor'), so Ctrl+Z takes back a whole edit.
import { getBusinessObject, is } from 'bpmn-js/lib/util/ModelUtil';

export function extensionValues(element) {
  const ext = getBusinessObject(element).extensionElements;
  return (ext && ext.values) || [];
}

function propertiesOf(element) {
  return extensionValues(element).find((v) => is(v, 'spiffworkflow:Properties'));
}

export function getProperty(element, name) {
  const props = propertiesOf(element);
  const prop = props && (props.properties || []).find((p) => p.name === name);
  return prop ? prop.value || '' : undefined;
}

export function propertyNames(element) {
  const props = propertiesOf(element);
  return props ? (props.properties || []).map((p) => p.name) : [];
}

export function getBody(element, type) {
  const found = extensionValues(element).find((v) => is(v, type));
  return found ? found.value || '' : undefined;
}

// The commands that make sure <extensionElements> exists; returns [commands, extensionElements].
function ensureExtensions(element, bpmnFactory) {
  const bo = getBusinessObject(element);
  if (bo.extensionElements) {
    return [[], bo.extensionElements];
  }
  const ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [] });
  ext.$parent = bo;
  return [[{ cmd: 'element.updateModdleProperties', context: { element, moddleElement: bo, properties: { extensionElements: ext } } }], ext];
}

export function setProperty(injector, element, name, value) {
  const bpmnFactory = injector.get('bpmnFactory');
  const commandStack = injector.get('commandStack');
  const text = value == null ? '' : String(value);
  const cmds = [];
  const props = propertiesOf(element);
  const prop = props && (props.properties || []).find((p) => p.name === name);
  if (!text.trim()) {
    if (prop) {
      cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: props, properties: { properties: props.properties.filter((p) => p !== prop) } } });
    }
  } else if (prop) {
    cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: prop, properties: { value: text } } });
  } else {
    const [first, ext] = ensureExtensions(element, bpmnFactory);
    cmds.push(...first);
    let container = props;
    if (!container) {
      container = bpmnFactory.create('spiffworkflow:Properties', { properties: [] });
      container.$parent = ext;
      cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: ext, properties: { values: [...(ext.values || []), container] } } });
    }
    const created = bpmnFactory.create('spiffworkflow:Property', { name, value: text });
    created.$parent = container;
    cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: container, properties: { properties: [...(container.properties || []), created] } } });
  }
  if (cmds.length) {
    commandStack.execute('properties-panel.multi-command-executor', cmds);
  }
}

export function setBody(injector, element, type, value) {
  const bpmnFactory = injector.get('bpmnFactory');
  const commandStack = injector.get('commandStack');
  const text = value == null ? '' : String(value);
  const found = extensionValues(element).find((v) => is(v, type));
  const cmds = [];
  if (!text.trim()) {
    if (found) {
      const ext = getBusinessObject(element).extensionElements;
      cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: ext, properties: { values: ext.values.filter((v) => v !== found) } } });
    }
  } else if (found) {
    cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: found, properties: { value: text } } });
  } else {
    const [first, ext] = ensureExtensions(element, bpmnFactory);
    cmds.push(...first);
    const created = bpmnFactory.create(type, { value: text });
    created.$parent = ext;
    cmds.push({ cmd: 'element.updateModdleProperties', context: { element, moddleElement: ext, properties: { values: [...(ext.values || []), created] } } });
  }
  if (cmds.length) {
    commandStack.execute('properties-panel.multi-command-executor', cmds);
  }
}
