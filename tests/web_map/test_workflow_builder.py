"""The workflow builder (the web map's Workflows view) in Chromium against the whole platform.

Build NDVI over the selection by dragging (Map, then ndvi into it), save, run it on the sample
scenes and watch it succeed on the graph; import every example ASL file and export it
unchanged; duplicate a workflow and edit the copy only; a connection out of a Map is shown as
an error on its node and the workflow cannot be saved.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ROOT
from tests.web_map.conftest import WebTiles
from tests.web_map.test_web_map import ndvi_process, shot

pytestmark = pytest.mark.browser

EXAMPLES = sorted((ROOT / "examples" / "workflows").glob("*.json"))


def node(page: Any, state: str) -> Any:
    return page.locator(f'[data-testid="builder-node"][data-state="{state}"]')


def port(page: Any, state: str, name: str) -> Any:
    """A state's port (in, out, catch, default): the circle X6 draws as its magnet."""
    cell = page.locator(
        f'g[data-cell-id]:has(> foreignObject [data-testid="builder-node"][data-state="{state}"])'
    )
    return cell.locator(f'circle[port="{name}"]')


def centre(locator: Any) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box, locator
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drag_to(page: Any, source: Any, x: float, y: float) -> None:
    """Press on ``source``, move in steps, release at (x, y): what a person's mouse does.
    The palette scrolls (other suites register many algorithms in the shared catalog), so the
    item is scrolled into view first, as a person would."""
    source.scroll_into_view_if_needed()
    sx, sy = centre(source)
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move(sx + 20, sy + 5, steps=3)
    page.mouse.move(x, y, steps=12)
    page.mouse.up()


def palette(page: Any, kind: str, algorithm: str | None = None) -> Any:
    extra = f'[data-algorithm="{algorithm}"]' if algorithm else ""
    return page.locator(f'[data-testid="builder-palette-item"][data-kind="{kind}"]{extra}')


def open_builder(page: Any, web_url: str) -> None:
    page.goto(f"{web_url}/#workflows")
    try:
        palette(page, "Map").wait_for()
        page.locator('[data-testid="builder-palette"][data-loaded]').wait_for()
    except Exception:
        raise AssertionError(
            f"no builder: {page.console_log.errors} status={page.text_content('#status')!r} "
            f"builder={page.inner_html('[data-testid=builder]')[:300]!r}") from None


def connect(page: Any, source: str, target: str, from_port: str = "out") -> None:
    sx, sy = centre(port(page, source, from_port))
    tx, ty = centre(port(page, target, "in"))
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + tx) / 2, (sy + ty) / 2, steps=5)
    page.mouse.move(tx, ty, steps=5)
    page.mouse.up()


def asl(page: Any, valid: str = "true") -> dict[str, Any]:
    """The live ASL panel's document, once the server's validator has answered ``valid``."""
    try:
        page.wait_for_selector(f'[data-testid="builder-asl"][data-valid="{valid}"]',
                               timeout=10_000)
    except Exception:
        raise AssertionError(
            f"{page.text_content('[data-testid=builder-issues]')}\n"
            f"{page.text_content('[data-testid=builder-asl]')}") from None
    return json.loads(page.text_content('[data-testid="builder-asl"]') or "{}")


def test_build_ndvi_over_the_selection_by_dragging_and_run_it(
    page: Any, web_url: str, web_tiles: WebTiles, stacworks_env: dict[str, str], artifacts: Path
) -> None:
    ndvi_process(web_url, stacworks_env)  # the shipped algorithms are registered
    selection = [
        {"id": i, "collection": web_tiles.collection,
         "href": f"{web_url}/stac/collections/{web_tiles.collection}/items/{i}"}
        for i in web_tiles.items
    ]
    page.add_init_script(
        f"localStorage.setItem('stacworks.selection', {json.dumps(json.dumps(selection))})"
    )
    open_builder(page, web_url)
    canvas = page.locator('[data-testid="builder-canvas"]').bounding_box()
    assert canvas

    drag_to(page, palette(page, "Map"), canvas["x"] + 320, canvas["y"] + 160)
    node(page, "EachItem").wait_for()
    ndvi = palette(page, "Task", "ndvi")
    assert "vCPU" in ndvi.inner_text() and "$" in ndvi.inner_text()  # size and cost shown
    drag_to(page, ndvi, *centre(node(page, "EachItem")))
    node(page, "NDVI").wait_for()

    # the task's form: parameters from the algorithm's JSON Schema, a timeout, a retry
    node(page, "NDVI").click()
    page.check('[data-testid="builder-param-fixed"]')
    mask = page.locator('[data-testid="builder-inspector"] [data-param="mask_clouds"]')
    mask.wait_for()
    mask.uncheck()
    page.fill('[data-testid="builder-node-timeout"]', "600")
    page.press('[data-testid="builder-node-timeout"]', "Tab")
    page.click('[data-testid="builder-add-retry"]')

    workflow_id = f"ndvi-drag-{uuid.uuid4().hex[:6]}"
    page.fill('[data-testid="builder-id"]', workflow_id)
    doc = asl(page)
    assert doc["StartAt"] == "EachItem"
    each = doc["States"]["EachItem"]
    assert each["Type"] == "Map" and each["ItemsPath"] == "$.items"
    inner = each["ItemProcessor"]["States"]
    assert list(inner) == ["NDVI"], "ndvi was dropped inside the Map"
    assert inner["NDVI"]["Parameters"]["TaskDefinition"] == "stacworks-ndvi"
    container = inner["NDVI"]["Parameters"]["Overrides"]["ContainerOverrides"][0]
    env = {e["Name"]: e for e in container["Environment"]}
    assert json.loads(env["STACWORKS_PARAMETERS"]["Value"])["mask_clouds"] is False
    assert env["STACWORKS_ALGORITHM_VERSION"]["Value"] == "1.0.0"
    assert inner["NDVI"]["TimeoutSeconds"] == 600
    assert inner["NDVI"]["Retry"][0]["ErrorEquals"] == ["States.TaskFailed"]

    page.click('[data-testid="builder-save"]')
    page.locator('[data-testid="builder-version"][data-version="1"]').wait_for()
    with page.expect_download() as download:  # the file passes the server's validator
        page.click('[data-testid="builder-export"]')
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["States"]["EachItem"]["ItemProcessor"]["StartAt"] == "NDVI"
    checked = httpx.post(f"{web_url}/workflows/validate", json=exported, timeout=30).json()
    assert checked["valid"] and not checked["warnings"], checked
    page.click('[data-testid="builder-estimate"]')
    page.locator('[data-testid="builder-cost"]').filter(has_text="2 items").wait_for()
    shot(page, artifacts, "20-builder-ndvi-map")

    page.click('[data-testid="builder-run"]')
    done = node(page, "EachItem").and_(
        page.locator('[data-run-status="succeeded"], [data-run-status="failed"]')
    )
    done.wait_for(timeout=90_000)
    shot(page, artifacts, "21-builder-run")
    assert node(page, "EachItem").get_attribute("data-run-status") == "succeeded", (
        page.text_content('[data-testid="builder-message"]'))
    assert "2/2" in node(page, "EachItem").inner_text()  # Map progress: both items done
    assert node(page, "NDVI").get_attribute("data-run-status") == "succeeded"
    run = page.locator('[data-testid="builder-run-item"]').first
    job_id = run.get_attribute("data-job-id")
    # the output layer is on the map (its list lives in the Map view)
    page.locator(f'[data-testid="layer-item"][data-layer-id="job:{job_id}"]').wait_for(
        state="attached", timeout=30_000)
    node(page, "NDVI").click()
    logs = page.locator('[data-testid="builder-node-logs"]')
    logs.wait_for()
    assert "succeeded" in logs.inner_text()
    assert page.console_log.unexpected() == []


def test_every_example_imports_and_exports_unchanged(page: Any, web_url: str) -> None:
    open_builder(page, web_url)
    for path in EXAMPLES:
        page.set_input_files('[data-testid="builder-import"]', str(path))
        page.locator('[data-testid="builder-message"]').filter(has_text=path.name).wait_for()
        original = json.loads(path.read_text())
        assert asl(page) == original, path.name  # the live panel, validated by the server
        with page.expect_download() as download:
            page.click('[data-testid="builder-export"]')
        exported = json.loads(Path(download.value.path()).read_text())
        assert exported == original, path.name
    assert len(EXAMPLES) >= 3
    assert page.console_log.unexpected() == []


def test_duplicate_then_edit_the_copy_only(page: Any, web_url: str) -> None:
    source = f"dup-src-{uuid.uuid4().hex[:6]}"
    copy = f"{source}-copy"
    definition = json.loads((ROOT / "examples/workflows/ndvi-map.json").read_text())
    created = httpx.post(f"{web_url}/workflows/import", params={"id": source}, json=definition,
                         timeout=30)
    assert created.status_code == 201, created.text
    open_builder(page, web_url)
    page.locator(f'[data-testid="builder-workflow-select"] option[value="{source}"]').wait_for(
        state="attached")
    page.select_option('[data-testid="builder-workflow-select"]', source)
    page.locator('[data-testid="builder-version"][data-version="1"]').wait_for()

    page.fill('[data-testid="builder-save-as-id"]', copy)
    page.click('[data-testid="builder-save-as"]')
    page.wait_for_function(
        "(id) => document.querySelector('[data-testid=builder-id]').value === id", arg=copy)
    node(page, "EachItem").click(position={"x": 30, "y": 10})  # its title, not the task inside
    page.fill('[data-testid="builder-map-concurrency"]', "2")
    page.press('[data-testid="builder-map-concurrency"]', "Tab")
    assert asl(page)["States"]["EachItem"]["MaxConcurrency"] == 2
    page.click('[data-testid="builder-save"]')
    page.locator('[data-testid="builder-version"][data-version="2"]').wait_for()

    v2 = page.locator('[data-testid="builder-version"][data-version="2"]')
    v2.locator('[data-testid="builder-version-diff"]').click()
    diff = page.locator('[data-testid="builder-diff"]')
    assert re.search(r'^\+\s+"MaxConcurrency": 2', diff.inner_text(), re.M)
    assert re.search(r'^-\s+"MaxConcurrency": 4', diff.inner_text(), re.M)

    versions = httpx.get(f"{web_url}/workflows/{source}/versions", timeout=30).json()["versions"]
    assert [v["version"] for v in versions] == [1]
    assert versions[0]["definition"] == definition  # the original is untouched
    edited = httpx.get(f"{web_url}/workflows/{copy}", timeout=30).json()
    assert edited["version"] == 2
    assert edited["definition"]["States"]["EachItem"]["MaxConcurrency"] == 2

    page.click('[data-testid="builder-delete"]')
    page.click('[data-testid="builder-delete"]')  # the second click confirms
    page.locator('[data-testid="builder-message"]').filter(has_text=f"Deleted {copy}").wait_for()
    assert httpx.get(f"{web_url}/workflows/{copy}", timeout=30).status_code == 404
    assert httpx.get(f"{web_url}/workflows/{source}", timeout=30).status_code == 200
    assert page.console_log.unexpected() == []


def test_invalid_connection_is_shown_on_the_node_and_not_saved(page: Any, web_url: str) -> None:
    open_builder(page, web_url)
    page.set_input_files('[data-testid="builder-import"]',
                         str(ROOT / "examples/workflows/ndvi-map.json"))
    asl(page)
    assert page.is_enabled('[data-testid="builder-save"]')
    each = node(page, "EachItem").bounding_box()
    assert each
    drag_to(page, palette(page, "Succeed"), each["x"] + each["width"] / 2,
            each["y"] + each["height"] + 120)
    node(page, "Succeed").wait_for()
    # from the task inside the Map to a state outside it: no ASL can say that
    connect(page, "NDVI", "Succeed")
    error = node(page, "NDVI").locator('[data-testid="builder-node-error"]')
    error.wait_for()
    assert "inside its Map" in (error.get_attribute("title") or "")
    assert page.locator('[data-testid="builder-edge"]').count() >= 1
    assert page.is_disabled('[data-testid="builder-save"]')
    page.click('[data-testid="builder-save"]', force=True)
    name = page.input_value('[data-testid="builder-id"]')
    assert httpx.get(f"{web_url}/workflows/{name}", timeout=30).status_code == 404

    # undo it: the connection's remove button, then the state's
    page.mouse.move(*centre(page.locator('[data-testid="builder-edge"]')))
    page.mouse.click(*centre(page.locator(".x6-edge-tool circle").first))
    error.wait_for(state="detached")
    node(page, "Succeed").click()
    page.click('[data-testid="builder-remove-node"]')
    node(page, "Succeed").wait_for(state="detached")
    doc = asl(page)  # as imported, but for the layout (states were placed by hand)
    doc["Comment"], layout = doc["Comment"].split("\n@layout ")
    assert set(json.loads(layout)["boxes"]) == {"EachItem", "EachItem/NDVI"}
    assert doc == json.loads((ROOT / "examples/workflows/ndvi-map.json").read_text())
    assert page.is_enabled('[data-testid="builder-save"]')


def test_choice_rule_form_and_adding_states_from_the_keyboard(page: Any, web_url: str) -> None:
    open_builder(page, web_url)
    page.set_input_files('[data-testid="builder-import"]',
                         str(ROOT / "examples/workflows/ndvi-composite.json"))
    asl(page)
    node(page, "EnoughDates").click()
    assert page.input_value('[data-testid="builder-rule-op"]') == "NumericGreaterThanEquals"
    page.fill('[data-testid="builder-rule-value"]', "3")
    page.press('[data-testid="builder-rule-value"]', "Tab")
    rule = asl(page)["States"]["EnoughDates"]["Choices"][0]
    assert rule == {"Variable": "$.layers.count", "NumericGreaterThanEquals": 3, "Next": "Gather"}

    # a Wait added with Enter on its palette item, inside the selected Map
    node(page, "NDVI").click(position={"x": 30, "y": 10})
    palette(page, "Wait").focus()
    page.keyboard.press("Enter")
    node(page, "Wait").wait_for()
    doc = asl(page, "false")  # two starts in the Map now: the validator says so
    assert "Wait" in doc["States"]["NDVI"]["ItemProcessor"]["States"]
    assert node(page, "Wait").locator('[data-testid="builder-node-error"]').count() == 1
    assert page.console_log.unexpected() == []


def test_undo_and_redo_follow_each_edit(page: Any, web_url: str) -> None:
    """Buttons and keys (Ctrl+Z, Ctrl+Shift+Z) walk back and forth through the edits; opening a
    document starts a new history."""
    open_builder(page, web_url)
    page.set_input_files('[data-testid="builder-import"]',
                         str(ROOT / "examples/workflows/ndvi-map.json"))
    original = asl(page)
    assert page.is_disabled('[data-testid="builder-undo"]')
    each = node(page, "EachItem").bounding_box()
    assert each
    drag_to(page, palette(page, "Succeed"), each["x"] + each["width"] / 2,
            each["y"] + each["height"] + 120)
    node(page, "Succeed").wait_for()
    assert page.is_disabled('[data-testid="builder-redo"]')
    page.click('[data-testid="builder-undo"]')
    node(page, "Succeed").wait_for(state="detached")
    assert asl(page)["States"] == original["States"]
    page.click('[data-testid="builder-redo"]')
    node(page, "Succeed").wait_for()
    assert "Succeed" in asl(page, "false")["States"]  # unreachable: the validator says so

    page.locator('[data-testid="builder-canvas"]').focus()
    page.keyboard.press("Control+z")
    node(page, "Succeed").wait_for(state="detached")
    page.keyboard.press("Control+Shift+z")
    node(page, "Succeed").wait_for()
    page.set_input_files('[data-testid="builder-import"]',
                         str(ROOT / "examples/workflows/ndvi-map.json"))
    node(page, "Succeed").wait_for(state="detached")
    assert page.is_disabled('[data-testid="builder-undo"]')
    assert page.console_log.unexpected() == []
