// The forms edited beside the diagram: a copy of each pinned form (config.liyuan.formSchemas) is made on
// the first edit and posted with the XML as {"forms": {file name: schema}}; the server validates, diffs,
// tries and publishes them together with the diagram (the new version pins the edited form).
const edited = {};
const listeners = [];

export function formSchema(data, name) {
  return edited[name] || (data.formSchemas || {})[name] || null;
}

export function setFieldTitle(data, name, field, title) {
  if (!edited[name]) {
    edited[name] = JSON.parse(JSON.stringify(data.formSchemas[name]));
  }
  const prop = edited[name].properties && edited[name].properties[field];
  if (!prop) { return; }
  if (title) { prop.title = title; } else { delete prop.title; }
  for (const fn of listeners) { fn(name); }
}

export function editedForms() {
  return edited;
}

export function onFormEdited(fn) {
  listeners.push(fn);
}

export function setForm(name, schema) {
  edited[name] = schema;
  for (const fn of listeners) { fn(name); }
}
