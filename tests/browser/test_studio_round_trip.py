"""Opening and saving any diagram of bpmn/ in the studio's modeler (bpmn-js + the properties panel + the
spiffworkflow moddle descriptor) changes nothing the engine reads.

"What the engine reads" is :func:`engine.repository.diff.element_properties` — every element's type, name,
ends, timer, condition, script, lane, every spiffworkflow property (form, UI schema, clause, SLA key,
assignee, department …), pre/post scripts and instructions — and SpiffWorkflow's own parse of each task
(type, lane, extensions). A descriptor that dropped or retyped an extension fails here. A second test edits
properties through the panel's own commands and checks that exactly those change.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from engine.repository.diff import element_properties
from engine.repository.validation import BPMN_NS
from tests.browser.panel import show_in_panel
from tests.browser.test_diagrams_render import lost_in_round_trip, spiff_task_specs

REPO_ROOT = Path(__file__).resolve().parents[2]
STUDIO = REPO_ROOT / "webapp" / "static" / "vendor"
DIAGRAMS = sorted((REPO_ROOT / "bpmn").glob("*.bpmn"))

HARNESS = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>studio round trip</title>
<script src="vendor/studio/studio.js"></script></head>
<body><div id="canvas" style="position:absolute;inset:0"></div><div id="panel"></div>
<script>
const modeler = LiyuanStudio.createStudioModeler(document.getElementById('canvas'),
  { forms: ['help_assess.schema.json', 'help_qc.schema.json'], clauses: { O2: '初步评估', 'O2.1': '问题类型识别' } }, '#panel');
window.roundTrip = async (xml) => { await modeler.importXML(xml); return (await modeler.saveXML({ format: true })).xml; };
window.studio = modeler;
</script></body></html>
"""


def engine_view(xml: bytes) -> dict[str, dict]:
    root = etree.fromstring(xml)
    return {f"{p.get('id')}/{k}": v for p in root.iter(f"{{{BPMN_NS}}}process") for k, v in element_properties(p).items()}


@pytest.fixture(scope="module")
def harness(tmp_path_factory) -> Iterator[str]:
    if not (STUDIO / "studio" / "studio.js").is_file():
        pytest.skip("webapp/static/vendor/studio is not built: run `make assets`")
    root = tmp_path_factory.mktemp("studio-harness")
    (root / "index.html").write_text(HARNESS, encoding="utf-8")
    (root / "vendor").symlink_to(STUDIO, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(
        type("Quiet", (http.server.SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}), directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


def _open(page, harness: str) -> None:
    page.goto(harness)
    page.wait_for_selector("#canvas svg")


def test_saving_every_diagram_without_edits_changes_nothing_the_engine_reads(page, harness):
    _open(page, harness)
    for path in DIAGRAMS:
        before = path.read_bytes()
        after = page.evaluate("xml => window.roundTrip(xml)", before.decode("utf-8")).encode("utf-8")
        assert engine_view(after) == engine_view(before), path.name
        assert lost_in_round_trip(spiff_task_specs(before, path.name), spiff_task_specs(after, path.name)) == [], path.name


def test_panel_edits_change_exactly_the_edited_properties(page, harness):
    """Select elements and type into the panel (timer, condition, clause, script, form) the way a person does."""
    _open(page, harness)
    source = (REPO_ROOT / "bpmn" / "help_request.bpmn").read_text(encoding="utf-8")
    page.evaluate("xml => window.roundTrip(xml)", source)

    def edit(element_id: str, entry: str, value: str) -> None:
        show_in_panel(page, element_id, "studio")
        field = page.locator(f"#bio-properties-panel-{entry}")
        if field.evaluate("el => el.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
            field.blur()
        page.wait_for_timeout(400)  # the panel's debounce

    edit("b_take", "liyuan-timer-value", "PT15M")
    edit("Flow_gw_channel_ack_online", "liyuan-condition-expression", "channel in ('online', 'app')")
    edit("assess", "liyuan-clause-ids", "O2,O2.1")
    edit("note_receipt", "liyuan-script-body", "received_at = now()\nnoted = True")
    edit("assess", "liyuan-form", "help_qc.schema.json")
    after = page.evaluate("async () => (await window.studio.saveXML({ format: true })).xml").encode("utf-8")
    old, new = engine_view(source.encode("utf-8")), engine_view(after)
    changed = {k: {p: (old[k].get(p), new[k].get(p)) for p in set(old[k]) | set(new[k]) if old[k].get(p) != new[k].get(p)}
               for k in old if old[k] != new.get(k)}
    assert set(new) == set(old)
    assert changed == {
        "help_request/b_take": {"timer": ('timeDuration "PT10M"', 'timeDuration "PT15M"')},
        "help_request/Flow_gw_channel_ack_online": {"condition": ("channel == 'online'", "channel in ('online', 'app')")},
        "help_request/assess": {"clause": ("O2,O2.1,O2.2,4.1,4.1.1", "O2,O2.1"),
                                "formJsonSchemaFilename": ("help_assess.schema.json", "help_qc.schema.json")},
        "help_request/note_receipt": {"script": (old["help_request/note_receipt"]["script"], "received_at = now()\nnoted = True")},
    }
