"""Selecting an element so that the studio's properties panel shows it, as a person would.

bpmn-js-properties-panel subscribes to ``selection.changed`` in a Preact effect that runs after its first
render. On a loaded machine a selection made by a test right after the diagram is imported can come before
that subscription, and the panel keeps showing the diagram's root (seen in CI: the panel showed 协作 while
``b_take`` was selected). A person who sees the wrong panel clicks again; so does :func:`show_in_panel`: it
deselects and selects at most every 250 ms until the panel fires ``propertiesPanel.updated`` for the element.
The panel re-renders in the task right after that event, before the next poll, so once this returns the
entries on the page are the element's.
"""

from __future__ import annotations

_SHOW = """([name, id]) => {
  const modeler = window[name];
  if (!modeler.liyuanPanelShows) {
    modeler.liyuanPanelShows = {};
    modeler.on('propertiesPanel.updated', (e) => { modeler.liyuanPanelShows.id = e.element.id; });
  }
  if (modeler.liyuanPanelShows.id === id) return true;
  const selection = modeler.get('selection');
  selection.select(null);
  selection.select(modeler.get('elementRegistry').get(id));
  return false;
}"""


def show_in_panel(page, element_id: str, modeler: str = "liyuanModeler") -> None:
    """Select ``element_id`` in ``window[modeler]`` and wait until the properties panel shows it."""
    page.wait_for_function(_SHOW, arg=[modeler, element_id], polling=250)
