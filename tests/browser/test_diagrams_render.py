"""Every diagram in bpmn/ renders cleanly in bpmn-js and survives a round trip through its modeler.

Issue 3 of the procedure's diagrams: a process owner opens each diagram in the bpmn.io
modeler in the browser, so

- rendering it shows no overlapping shapes, and every flow node sits inside its lane
  (lane = role; a task drawn in the wrong lane would mislead whoever reads the diagram);
- opening and saving it in the modeler keeps the spiffworkflow extensions (forms,
  assignee, clause ids, SLA keys, pre/post scripts, instructions) that the engine runs on.

Each diagram is screenshotted into test-artifacts/diagrams/<name>.png for a person to look at.
"""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
DIAGRAMS = sorted((REPO_ROOT / "bpmn").glob("*.bpmn"))
SAMPLE = Path(__file__).parent / "fixtures" / "sample_help_request.bpmn"

# The page holds one modeler and a few functions the test calls through page.evaluate.
# The palette is hidden so that it does not cover the top-left corner of screenshots.
HARNESS_HTML = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>bpmn-js diagram check</title>
<link rel="stylesheet" href="vendor/diagram-js.css">
<link rel="stylesheet" href="vendor/bpmn-js.css">
<link rel="stylesheet" href="vendor/bpmn-font/css/bpmn-embedded.css">
<style>
  html, body { margin: 0; height: 100%; background: #fff; }
  #canvas { position: absolute; inset: 0; }
  .djs-palette { display: none; }
</style>
<script src="vendor/bpmn-modeler.production.min.js"></script>
</head>
<body>
<div id="canvas"></div>
<script>
const modeler = new BpmnJS({
  container: '#canvas',
  textRenderer: { defaultStyle: { fontFamily: 'Arial, "Noto Sans CJK SC", sans-serif' } },
});
const canvas = modeler.get('canvas');

window.importDiagram = async (xml) => {
  const { warnings } = await modeler.importXML(xml);
  return warnings.map((w) => w.message);
};

// Every shape (no connections, no labels, no plane roots) with what the checks need.
window.describeShapes = () => {
  const rootOf = (el) => { while (el.parent) { el = el.parent; } return el; };
  const shapes = [];
  for (const el of modeler.get('elementRegistry').getAll()) {
    if (el.waypoints || el.type === 'label' || !el.parent) { continue; }
    const bo = el.businessObject;
    const ancestors = [];
    for (let p = el.parent; p; p = p.parent) { ancestors.push(p.id); }
    const container = bo.$parent;
    shapes.push({
      id: el.id, type: el.type, name: bo.name || '',
      x: el.x, y: el.y, width: el.width, height: el.height,
      flow_node: bo.$instanceOf('bpmn:FlowNode'),
      boundary: bo.$instanceOf('bpmn:BoundaryEvent'),
      host: el.host ? el.host.id : null,
      root: rootOf(el).id,
      parent: el.parent.id,
      ancestors,
      in_laned_process: !!(container && container.laneSets && container.laneSets.length),
      flow_node_refs: bo.$instanceOf('bpmn:Lane') ? (bo.flowNodeRef || []).map((r) => r.id) : null,
    });
  }
  return shapes;
};

// Plane roots that have something drawn on them (the main one, then collapsed sub-processes).
window.drawnRoots = () => canvas.getRootElements()
  .filter((root) => root.children && root.children.length)
  .map((root) => root.id);

window.diagramSize = (rootId) => {
  canvas.setRootElement(modeler.get('elementRegistry').get(rootId));
  canvas.zoom(1);
  const inner = canvas.viewbox().inner;
  return { width: inner.width, height: inner.height };
};

window.fitDiagram = () => {
  canvas.resized();
  canvas.zoom('fit-viewport', 'auto');
};

window.saveDiagram = async () => (await modeler.saveXML({ format: true })).xml;
</script>
</body>
</html>
"""

SCREENSHOT_MARGIN = 60
SCREENSHOT_MIN = (800, 400)
SCREENSHOT_MAX = (3200, 2400)


# --------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Shape:
    id: str
    type: str
    name: str
    x: float
    y: float
    width: float
    height: float
    flow_node: bool
    boundary: bool
    host: str | None
    root: str
    parent: str
    ancestors: tuple[str, ...]
    in_laned_process: bool
    flow_node_refs: tuple[str, ...] | None

    @classmethod
    def from_js(cls, d: dict) -> Shape:
        refs = d["flow_node_refs"]
        return cls(
            **{
                **d,
                "ancestors": tuple(d["ancestors"]),
                "flow_node_refs": None if refs is None else tuple(refs),
            }
        )

    @property
    def label(self) -> str:
        return f"{self.id} ({self.type.removeprefix('bpmn:')} {self.name!r})" if self.name else self.id

    def overlaps(self, other: Shape) -> bool:
        """Positive-area intersection; shapes that only touch do not overlap."""
        return (
            self.x < other.x + other.width
            and other.x < self.x + self.width
            and self.y < other.y + other.height
            and other.y < self.y + self.height
        )

    def contains(self, other: Shape) -> bool:
        return (
            self.x <= other.x
            and self.y <= other.y
            and other.x + other.width <= self.x + self.width
            and other.y + other.height <= self.y + self.height
        )

    def contains_centre_of(self, other: Shape) -> bool:
        cx, cy = other.x + other.width / 2, other.y + other.height / 2
        return self.x <= cx <= self.x + self.width and self.y <= cy <= self.y + self.height


def overlapping_flow_nodes(shapes: list[Shape]) -> list[str]:
    """Pairs of flow nodes drawn on top of each other on the same plane.

    A boundary event sits on its host's border by design, and a node inside an expanded
    sub-process lies within it; neither pair counts.
    """
    nodes = [s for s in shapes if s.flow_node]
    problems = []
    for a, b in combinations(nodes, 2):
        if a.root != b.root or a.id in b.ancestors or b.id in a.ancestors:
            continue
        if a.host == b.id or b.host == a.id:
            continue
        if a.overlaps(b):
            problems.append(f"overlap: {a.label} and {b.label}")
    return problems


def nodes_outside_their_lane(shapes: list[Shape]) -> list[str]:
    """Flow nodes drawn outside the lane (role) that lists them, or in no lane at all.

    Boundary events straddle their host's border, so only their centre must be in the lane;
    they need not be listed in a lane (the engine gives them their host's).
    """
    by_id = {s.id: s for s in shapes}
    problems = []
    laned: set[str] = set()
    for lane in (s for s in shapes if s.flow_node_refs is not None):
        for ref in lane.flow_node_refs:
            laned.add(ref)
            node = by_id.get(ref)
            if node is None:
                problems.append(f"lane {lane.label} lists {ref}, which has no shape in the diagram")
                continue
            inside = lane.contains_centre_of(node) if node.boundary else lane.contains(node)
            if not inside:
                problems.append(f"outside its lane: {node.label} is not inside lane {lane.label}")
    for node in shapes:
        if node.flow_node and not node.boundary and node.in_laned_process and node.id not in laned:
            problems.append(f"no lane: {node.label} is in a process with lanes but in none of them")
        parent = by_id.get(node.parent)
        if node.flow_node and parent is not None and parent.type == "bpmn:Participant":
            inside = parent.contains_centre_of(node) if node.boundary else parent.contains(node)
            if not inside:
                problems.append(f"outside its pool: {node.label} is not inside {parent.label}")
    return problems


# --------------------------------------------------------------------------- engine view


def spiff_task_specs(xml: bytes, filename: str) -> dict[str, dict]:
    """What the engine reads from a diagram, per task spec: its type, lane and spiffworkflow extensions."""
    parser = SpiffBpmnParser()
    parser.add_bpmn_str(xml, filename)
    specs = {}
    # Parsing a process registers its sub-processes as further processes: go until none is new.
    while pending := [pid for pid in parser.process_parsers if pid not in specs]:
        for process_id in pending:
            specs[process_id] = parser.process_parsers[process_id].get_spec()
    view = {}
    for process_id, process_spec in specs.items():
        for name, spec in process_spec.task_specs.items():
            view[f"{process_id}/{name}"] = {
                "type": type(spec).__name__,
                "lane": spec.lane,
                "extensions": getattr(spec, "extensions", None),
            }
    return view


def lost_in_round_trip(before: dict[str, dict], after: dict[str, dict]) -> list[str]:
    problems = [f"task spec {name} missing after saving" for name in before.keys() - after.keys()]
    problems += [f"task spec {name} appeared after saving" for name in after.keys() - before.keys()]
    for name in sorted(before.keys() & after.keys()):
        for key, value in before[name].items():
            if after[name][key] != value:
                problems.append(f"{name}: {key} changed from {value!r} to {after[name][key]!r}")
    return problems


# --------------------------------------------------------------------------- the browser side


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="session")
def harness_url(bpmn_js_vendor: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The harness page, served with the built bpmn-js files from 127.0.0.1 on a free port."""
    root = tmp_path_factory.mktemp("bpmn-harness")
    (root / "index.html").write_text(HARNESS_HTML, encoding="utf-8")
    (root / "vendor").symlink_to(bpmn_js_vendor, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Rendered:
    warnings: list[str]
    shapes: list[Shape]
    screenshots: list[Path]
    saved_xml: str


def render(page, harness_url: str, xml: str, screenshot: Path) -> Rendered:
    """Import `xml` into the modeler, read its shapes, screenshot every drawn plane, save it again."""
    page.goto(harness_url)
    page.wait_for_function("typeof window.importDiagram === 'function'")
    warnings = page.evaluate("xml => window.importDiagram(xml)", xml)
    shapes = [Shape.from_js(d) for d in page.evaluate("() => window.describeShapes()")]

    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shots = []
    roots = page.evaluate("() => window.drawnRoots()")
    for i, root_id in enumerate(roots):
        size = page.evaluate("id => window.diagramSize(id)", root_id)
        # Size the page to the drawing so that it is shown at 100% unless it is very large.
        width, height = (
            int(min(max(extent + 2 * SCREENSHOT_MARGIN, low), high))
            for extent, low, high in zip(
                (size["width"], size["height"]), SCREENSHOT_MIN, SCREENSHOT_MAX, strict=True
            )
        )
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("() => window.fitDiagram()")
        path = screenshot if i == 0 else screenshot.with_name(f"{screenshot.stem}--{root_id}.png")
        page.locator("#canvas").screenshot(path=str(path))
        shots.append(path)

    saved = page.evaluate("() => window.saveDiagram()")
    return Rendered(warnings, shapes, shots, saved)


def diagram_problems(path: Path, rendered: Rendered) -> list[str]:
    problems = [f"bpmn-js import warning: {w}" for w in rendered.warnings]
    problems += overlapping_flow_nodes(rendered.shapes)
    problems += nodes_outside_their_lane(rendered.shapes)
    before = spiff_task_specs(path.read_bytes(), path.name)
    after = spiff_task_specs(rendered.saved_xml.encode("utf-8"), path.name)
    problems += lost_in_round_trip(before, after)
    return problems


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("path", DIAGRAMS, ids=[p.stem for p in DIAGRAMS])
def test_diagram_renders_without_overlaps_and_round_trips(page, harness_url, artifacts_root, path):
    rendered = render(
        page, harness_url, path.read_text(encoding="utf-8"), artifacts_root / "diagrams" / f"{path.stem}.png"
    )
    problems = diagram_problems(path, rendered)
    shots = ", ".join(str(p.relative_to(REPO_ROOT)) for p in rendered.screenshots)
    if problems:
        pytest.fail(f"{path.name} (screenshot: {shots}):\n  " + "\n  ".join(problems), pytrace=False)


# The checks themselves, on a diagram kept beside this test: a clean one passes, and a
# broken copy of it is caught. These run whatever bpmn/ holds.


def test_clean_sample_passes_and_keeps_its_extensions(page, harness_url, artifacts_dir):
    rendered = render(page, harness_url, SAMPLE.read_text(encoding="utf-8"), artifacts_dir / "sample.png")
    assert diagram_problems(SAMPLE, rendered) == []
    specs = spiff_task_specs(rendered.saved_xml.encode("utf-8"), SAMPLE.name)
    register = specs["sample_help_request/Task_register"]
    assert register["lane"] == "物业助理"
    assert register["extensions"]["properties"]["formJsonSchemaFilename"] == "register.schema.json"
    assert register["extensions"]["preScript"] == "received_at = now()"
    assert "求助内容" in register["extensions"]["instructionsForEndUser"]
    assert rendered.screenshots[0].stat().st_size > 10_000


def _move_shape(tree: etree._ElementTree, element_id: str, x: int, y: int) -> None:
    ns = {
        "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
        "dc": "http://www.omg.org/spec/DD/20100524/DC",
    }
    (bounds,) = tree.xpath(f"//bpmndi:BPMNShape[@bpmnElement='{element_id}']/dc:Bounds", namespaces=ns)
    bounds.set("x", str(x))
    bounds.set("y", str(y))


def test_checks_catch_overlaps_and_nodes_outside_their_lane(page, harness_url, artifacts_dir):
    tree = etree.parse(str(SAMPLE))
    _move_shape(tree, "Task_classify", 380, 160)  # onto 登记求助信息
    _move_shape(tree, "Task_reply", 780, 300)  # down into 客服部主管's lane
    xml = etree.tostring(tree, encoding="unicode")
    rendered = render(page, harness_url, xml, artifacts_dir / "broken.png")

    overlaps = overlapping_flow_nodes(rendered.shapes)
    assert len(overlaps) == 1 and "Task_register" in overlaps[0] and "Task_classify" in overlaps[0]
    outside = nodes_outside_their_lane(rendered.shapes)
    assert len(outside) == 1 and "Task_reply" in outside[0] and "Lane_assistant" in outside[0]
