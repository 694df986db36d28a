"""The HTML report in a real headless Chromium: it renders, plots, sorts, escapes.

Needs the system Chromium (``apt-get install -y chromium``; CI installs it) and the
``playwright`` Python package; skipped with a clear reason without them.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import torch
from torch import nn

import roofline
from roofline.analysis import analyze
from roofline.devices import get_device
from roofline.report.html import roofline_report
from roofline.report.output import write_text
from roofline.units import human_bytes, seconds, si

CHROMIUM = os.environ.get("ROOFLINE_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
EVIL = "<img src=x onerror=alert(1)>"
EVIL_SCRIPT = "</script><script>alert(2)</script>"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def playwright():
    """One playwright driver for the module's browsers (a second one in the same thread
    is refused)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium`")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


def evil_model() -> nn.Module:
    """conv -> ReLU named like an XSS payload -> pool -> linear named like a script end."""
    m = nn.Sequential()
    m.add_module("conv", nn.Conv2d(3, 8, 3, padding=1))
    m.add_module(EVIL, nn.ReLU())
    m.add_module("pool", nn.AdaptiveAvgPool2d(1))
    m.add_module("flat", nn.Flatten())
    m.add_module(EVIL_SCRIPT, nn.Linear(8, 4))
    return m


def report_file(path: Path, analyses) -> Path:
    """The HTML report of ``analyses`` written to ``path`` (a fixed date)."""
    return write_text(path, roofline_report(analyses, date="2026-01-01"))


def open_report(browser, path: Path):
    """Open ``path`` with the network cut off; collect console errors, dialogs, requests."""
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    seen = {"errors": [], "dialogs": [], "remote": []}
    page.on("console", lambda m: seen["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))

    def on_dialog(d):
        seen["dialogs"].append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            seen["remote"].append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.goto(path.as_uri())
    page.wait_for_selector("#roofline .main-svg")
    return page, seen


def traces(page) -> list[dict]:
    return page.evaluate(
        """() => document.getElementById('roofline').data.map(t => ({
            name: t.name, series: (t.meta || {}).series, n: (t.x || []).length,
            visible: t.visible}))"""
    )


#: the per-layer columns a reader needs first; they must be on screen without scrolling
IMPORTANT = ["layer", "type", "time", "% time", "bound", "FLOP/B"]


def offscreen_headers(page, table: str, width: int = 1400) -> list[str]:
    """At a ``width`` px window, the headers of ``table`` that lie (partly) outside
    its scroll box, i.e. that only horizontal scrolling would show."""
    page.set_viewport_size({"width": width, "height": 1000})
    return page.evaluate(
        """(sel) => {
            const t = document.querySelector(sel), box = t.parentElement.getBoundingClientRect();
            return Array.from(t.tHead.rows[0].cells)
                .filter(c => c.getBoundingClientRect().right > box.right + 0.5)
                .map(c => c.textContent.replace(/\u00a0/g, " "));
        }""",
        table,
    )


def headers(page, table: str) -> list[str]:
    return page.evaluate(
        """(sel) => Array.from(document.querySelector(sel).tHead.rows[0].cells)
            .map(c => c.textContent.replace(/\u00a0/g, " "))""",
        table,
    )


def not_blank(png: bytes) -> float:
    """Standard deviation of the grey levels: 0 for a blank (one-colour) screenshot."""
    from PIL import Image, ImageStat

    img = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(img).stddev[0]


def test_profile_report_in_chromium(browser, tmp_path):
    prof = roofline.profile(evil_model(), (torch.randn(2, 3, 16, 16),), name="evil")
    dev = get_device("3090")
    a = analyze(prof, dev, "fp16", depth=None)
    path = report_file(tmp_path / "r.html", [a])
    page, seen = open_report(browser, path)
    try:
        # every layer of this model has FLOPs and bytes, so every one is a point
        layers = a.layers
        assert [r.type for r in layers] == ["Conv2d", "ReLU", "AdaptiveAvgPool2d", "Linear"]
        ts = traces(page)
        series = [t["series"] for t in ts]
        # fp16 on the 3090: roof, plain-pipe roof (35.6 < 71 TFLOP/s), the other
        # precisions the spec has (fp64 fp32 tf32 bf16 int8), ridge, one trace per layer
        # type, one per bound (hidden until the button), the whole model, the ridge's label
        others = [p for p in dev.peaks if p != "fp16"]
        bounds = {r.bound for r in layers}
        assert series.count("roof") == 1
        assert series.count("vector roof") == 1
        assert series.count("other roof") == len(others) == 5
        assert series.count("ridge") == 1
        assert series.count("type") == 4  # four distinct layer types
        assert series.count("bound") == len(bounds)
        assert series.count("model") == 1
        assert series.count("ridge label") == 1
        assert len(ts) == 1 + 1 + 5 + 1 + 4 + len(bounds) + 1 + 1
        assert sum(t["n"] for t in ts if t["series"] == "type") == len(layers)
        assert sum(t["n"] for t in ts if t["series"] == "bound") == len(layers)
        # the plot drew those points (SVG markers of the visible layer traces + model)
        drawn = page.locator("#roofline .scatterlayer .trace .points path").count()
        assert drawn >= len(layers) + 1
        # one table row per layer
        assert page.locator("#layers tbody tr").count() == len(layers)
        # escaping: the names are text, no element was injected, nothing ran
        body = page.locator("#layers").inner_text()
        assert EVIL in body and EVIL_SCRIPT in body
        assert page.locator("img").count() == 0
        assert page.evaluate("() => document.querySelectorAll('script').length") == 3
        # sorting by time (descending on the second click) puts the slowest layer first
        cols = headers(page, "#layers")
        assert cols[1 : 1 + len(IMPORTANT)] == IMPORTANT  # after the execution order
        time_th = page.locator("#layers th").nth(cols.index("time"))
        time_th.click()
        time_th.click()
        slowest = max(layers, key=lambda r: r.time_s)
        assert slowest.name in page.locator("#layers tbody tr").first.inner_text()
        # text columns sort too: by type, ascending
        page.locator("#layers th").nth(cols.index("type")).click()
        types = page.evaluate(
            "() => Array.from(document.querySelectorAll('#layers tbody tr'))"
            ".map(r => r.cells[2].textContent)"
        )
        assert types == sorted(types, key=str.lower)
        # at 1400 px every column of a profile report's table is on screen
        assert offscreen_headers(page, "#layers") == []
        # the plot help speaks of this report's markers: the star, the buttons
        howto = page.locator(".howto").inner_text()
        assert "The star is the whole model" in howto and "buttons" in howto
        png = page.screenshot(full_page=True)
        assert not_blank(png) > 10
        assert not seen["errors"], seen["errors"]
        assert not seen["dialogs"], seen["dialogs"]
        assert not seen["remote"], seen["remote"]
    finally:
        page.close()


def test_compare_report_in_chromium(browser, tmp_path):
    small = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="small")
    big = roofline.profile(evil_model(), (torch.randn(8, 3, 32, 32),), name="big")
    devs = [get_device("3090"), get_device("t4")]
    analyses = [analyze(p, d, "fp32") for p in (small, big) for d in devs]
    path = report_file(tmp_path / "c.html", analyses)
    page, seen = open_report(browser, path)
    try:
        ts = traces(page)
        series = [t["series"] for t in ts]
        assert series.count("roof") == 2  # one per device
        assert series.count("ridge") == 2
        assert series.count("analysis") == 4  # one per (model, device)
        assert series.count("model") == 4
        n_layers = sum(len(a.layers) for a in analyses)
        assert sum(t["n"] for t in ts if t["series"] == "analysis") == n_layers
        assert page.locator("#layers tbody tr").count() == n_layers
        assert page.locator("table.compare tbody tr").count() == 4
        # params and MACs, which the people comparing with torchinfo or thop look for:
        # conv 8*3*3*3 + 8, linear 8*4 + 4; one MAC per weight per output pixel
        totals = page.locator("table.compare tbody tr").first.inner_text()
        assert "260 params" in totals, totals  # 216 + 8 + 32 + 4
        macs = 8 * 3 * 3 * 3 * 16 * 16 + 8 * 4  # small: batch 1, 16x16
        assert f"{si(macs)} MACs" in totals, totals
        # at 1400 px: every totals column (both times and their ratios to the first
        # row above all) and the important layer columns are on screen
        totals = headers(page, "table.compare")
        assert {"as one kernel", "× first", "roofline time"} <= set(totals)
        assert offscreen_headers(page, "table.compare") == []
        # and every layer column too (denser cells than the profile report's)
        assert offscreen_headers(page, "#layers") == []
        # the plot help speaks of a compare report's markers, not the profile's
        howto = page.locator(".howto").inner_text()
        assert "star" not in howto.lower() and "button" not in howto.lower()
        assert "own colour and marker shape" in howto
        assert not_blank(page.screenshot()) > 10
        assert not seen["errors"] and not seen["dialogs"] and not seen["remote"]
    finally:
        page.close()


def plot_box(page, selector: str) -> dict:
    """The bounding box of the first element matching ``selector`` inside the plot."""
    return page.evaluate(
        """(sel) => { const r = document.querySelector('#roofline ' + sel)
            .getBoundingClientRect(); return {l: r.left, r: r.right, t: r.top, b: r.bottom}; }""",
        selector,
    )


def test_narrow_window_puts_the_legend_below_the_plot(browser, tmp_path):
    # a phone-width window: the legend beside the plot left it ~60 px of width and
    # covered the points; it goes below the plot, and back beside it when wide again
    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="tiny")
    a = analyze(prof, get_device("3090"), "fp32")
    path = report_file(tmp_path / "n.html", [a])
    page, seen = open_report(browser, path)
    try:
        for width in (390, 1366, 390):
            page.set_viewport_size({"width": width, "height": 800})
            # the layout for this width, and the drawn plot area at that layout's size
            # (plotly redraws after the resize: on a busy machine the boxes below were
            # read from the previous width's drawing)
            page.wait_for_function(
                "(w) => { const g = document.getElementById('roofline'), l = g._fullLayout;"
                " const d = g.querySelector('.nsewdrag');"
                " return l.width === g.clientWidth"
                " && (l.legend.orientation === 'h') === (w < 640)"
                " && d && Math.abs(d.getBoundingClientRect().width - l._size.w) < 1; }",
                arg=width,
            )
            plot, legend = plot_box(page, ".nsewdrag"), plot_box(page, ".legend")
            # the axis titles fit inside the plot's width, not cut at both ends
            title = plot_box(page, ".g-xtitle text")
            assert title["l"] >= 0 and title["r"] <= page.evaluate("() => innerWidth")
            if width < 640:
                assert legend["t"] >= plot["b"], (plot, legend)  # below, not over it
                assert plot["r"] - plot["l"] > 0.6 * width
                # nothing wider than the window (no sideways scrolling of the page)
                assert page.evaluate("() => document.documentElement.scrollWidth") <= width
            else:
                assert legend["l"] >= plot["r"], (plot, legend)  # beside it, as before
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def h100_report(tmp_path):
    """A 4096 x 4096 linear layer on an H100 at bf16, whose fp8 roof is 1.979 PFLOP/s."""
    m = nn.Sequential(nn.Linear(4096, 4096), nn.ReLU())
    prof = roofline.profile(m, (torch.randn(512, 4096),), name="mlp")
    a = analyze(prof, get_device("h100-sxm"), "bf16")
    return a, report_file(tmp_path / "h.html", [a])


def test_axis_labels_in_one_notation(browser, tmp_path):
    # roofs at 989.5 TFLOP/s and 1.979 PFLOP/s: the y axis reaches 1e15, where plotly's
    # SI format switched to "10^15" among "100T" labels
    _, path = h100_report(tmp_path)
    page, seen = open_report(browser, path)
    try:
        ys = page.evaluate(
            "() => Array.from(document.querySelectorAll('#roofline .ytick text'))"
            ".map(t => t.textContent)"
        )
        xs = page.evaluate(
            "() => Array.from(document.querySelectorAll('#roofline .xtick text'))"
            ".map(t => t.textContent)"
        )
        assert "1P" in ys and "100T" in ys, ys
        assert all(y[-1] in "kMGTP" or y.replace(".", "").isdigit() for y in ys), ys
        assert "1,000" in xs, xs  # not "1000" beside "10k"
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_hover_gives_the_height_of_a_point(browser, tmp_path):
    # on a log axis the height of a point is readable only to the nearest gridline:
    # hovering the whole-model star names it, FLOPs / roofline time, and its distance
    # from the roof
    a, path = h100_report(tmp_path)
    page, seen = open_report(browser, path)
    try:
        # (every trace is a scatter, each shown one drawn in data order: the star is
        # the model's; the ridge's label, after it, is the last)
        shown = [t["series"] for t in traces(page) if t["visible"] is not False]
        model = shown.index("model")
        star = page.locator("#roofline .scatterlayer .trace").nth(model).locator(".points path")
        box = star.first.bounding_box()
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#roofline .hoverlayer .hovertext")
        hover = page.evaluate("() => document.querySelector('#roofline .hoverlayer').textContent")
        t = a.totals
        assert f"attainable {si(t.flops / t.time_s, 'FLOP/s')}" in hover, hover
        assert f"{100 * t.roof_fraction:.0f}% of the roof" in hover, hover
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_tf32_convolutions_get_their_own_ridge(browser, tmp_path):
    # A100 SXM4 80GB at fp32: convolutions run at 156 TFLOP/s on TF32 tensor cores,
    # so a conv layer is memory-bound up to 156e12 / 2.039e12 = 76.5 FLOP/B, not up to
    # the solid fp32 roof's ridge at 19.5e12 / 2.039e12 = 9.6: that ridge is drawn too
    prof = roofline.profile(evil_model(), (torch.randn(8, 3, 64, 64),), name="cnn")
    a = analyze(prof, get_device("a100-sxm4-80gb"), "fp32")
    path = report_file(tmp_path / "a.html", [a])
    page, seen = open_report(browser, path)
    try:
        ridges = page.evaluate(
            """() => document.getElementById('roofline').data
                .filter(t => (t.meta || {}).series === 'conv ridge')
                .map(t => [t.x[0], t.y[0], t.name])"""
        )
        assert len(ridges) == 1
        x, y, name = ridges[0]
        assert x == pytest.approx(156e12 / 2039e9) and y == pytest.approx(156e12)
        assert "76.5" in name
        assert "fp32 convolutions 76.5" in page.locator(".cards").inner_text()
        assert "Convolutions have their own ridge" in page.locator(".howto").inner_text()
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_over_many_devices_keeps_the_top_of_the_page_short(browser, tmp_path):
    # `compare --gpu all --html` (46 devices): the title named every device (a screen
    # of bold text), each device's TF32 warning stood open (18 paragraphs), and 64
    # ridge labels piled into one blot on the plot
    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="small")
    devs = [get_device(d) for d in ("a100-sxm4-80gb", "h100-sxm", "l4", "a10")]
    analyses = [analyze(prof, d, "fp32") for d in devs]
    assert all(a.warnings for a in analyses)  # fp32 convolutions at TF32, on each
    path = report_file(tmp_path / "g.html", analyses)
    page, seen = open_report(browser, path)
    try:
        assert page.locator("h1").inner_text().startswith("small on 4 devices")
        # every device is still named, one line each, below the title
        meta = page.locator(".meta").inner_text()
        assert all(d.name in meta for d in devs)
        # two warnings open, the other two folded, shown on a click
        warn = page.locator(".warn")
        assert warn.locator(":scope > p").count() == 2
        assert warn.locator("summary").inner_text() == "2 more warnings"
        assert not warn.locator("details p").first.is_visible()
        warn.locator("summary").click()
        assert (
            warn.locator("details p").count() == 2 and warn.locator("details p").first.is_visible()
        )
        # ridges: markers, legend entries and hovers, without text labels
        modes = page.evaluate(
            """() => document.getElementById('roofline').data
                .filter(t => ['ridge', 'conv ridge'].includes((t.meta || {}).series))
                .map(t => t.mode)"""
        )
        assert len(modes) == 4 + 4 and set(modes) == {"markers"}
        assert "ridge label" not in {t["series"] for t in traces(page)}
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_layer_names_sort_in_numeric_order(browser, tmp_path):
    # module paths carry indices: sorted as plain text, model.10 came before model.2
    m = nn.Sequential(*[nn.Linear(8, 8) for _ in range(12)])
    prof = roofline.profile(m, (torch.randn(1, 8),), name="deep")
    a = analyze(prof, get_device("3090"), "fp32", depth=1)
    path = report_file(tmp_path / "d.html", [a])
    page, seen = open_report(browser, path)
    try:
        cols = headers(page, "#layers")
        page.locator("#layers th").nth(cols.index("layer")).click()
        names = page.evaluate(
            "(i) => Array.from(document.querySelectorAll('#layers tbody tr'))"
            ".map(r => r.cells[i].textContent)",
            cols.index("layer"),
        )
        assert names == [str(i) for i in range(12)], names
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_cards_give_the_training_split_and_the_fused_estimate(browser, tmp_path):
    # the terminal report gives a training profile's forward/backward split and an
    # inference profile's fused traffic estimate; the HTML cards gave neither
    m = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    x = torch.randn(4, 64)
    train = roofline.profile(m, (x,), mode="training", name="train")
    infer = roofline.profile(m, (x,), name="infer")
    # forward: 2 * 4*64*64 per linear (+ 4*64 bias adds) and 4*64 ReLU compares
    fwd = 2 * (2 * 4 * 64 * 64 + 4 * 64) + 4 * 64
    assert train.totals("forward").flops == fwd
    bwd = train.totals("backward").flops
    for prof, name in ((train, "t.html"), (infer, "i.html")):
        a = analyze(prof, get_device("3090"), "fp32")
        path = report_file(tmp_path / name, [a])
        page, seen = open_report(browser, path)
        try:
            cards = page.locator(".cards").inner_text()
            if prof is train:
                ratio = (fwd + bwd) / fwd
                assert f"forward {si(fwd)} + backward {si(bwd)} FLOPs ({ratio:.2f}× forward)" in (
                    cards
                ), cards
                assert "fused estimate" not in cards
                # and the title says so: it was the inference report's, word for word
                assert page.locator("h1").inner_text().startswith("train (training) on NVIDIA")
                assert page.title().startswith("train (training) on NVIDIA")
            else:
                assert "training" not in page.title()
                t = prof.totals()
                assert t.fused_bytes < t.bytes  # the ReLU folds into the first Linear
                assert f"fused estimate {human_bytes(t.fused_bytes)}" in cards, cards
                assert "backward" not in cards
            assert not seen["errors"], seen["errors"]
        finally:
            page.close()


def latency_report(prof):
    """A latency comparison of ``prof``'s rows by hand: a module's own ops as a "self"
    row beside its children, indices past 9, and a layer that was not measured."""
    from roofline.latency.compare import LatencyReport, LatencyRow

    def row(name, measured, spread=None, self_only=False):
        return LatencyRow(
            name=name,
            type="Block",
            naive_s=1e-3,
            predicted_s=2e-3,
            measured_s=measured,
            measured_spread_s=spread,
            explanation=("conv: small or thin shapes, low efficiency (7% of peak)",),
            self_only=self_only,
            flops=10**6,
            bytes=10**5,
        )

    layers = (
        row("b.0", 3e-3, 1e-4, self_only=True),
        row("b.10", 1e-3, 2e-5),
        row("b.2", 4e-3, 3e-4),
        row("b.3", None),
    )
    model = row("(model)", 9e-3, 5e-4, self_only=True)
    return LatencyReport(model, layers, prediction=None, measurement=None, depth=1)


def test_latency_table_labels_self_rows_sorts_and_gives_the_spread(browser, tmp_path):
    # the terminal's latency table names a module's own ops "b.0 (self)" and gives each
    # layer's IQR; the HTML one showed "b.0" (as if the whole block), no spread, and
    # its headers looked clickable but sorted nothing
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    prof = roofline.profile(m, (torch.randn(1, 8),), name="lat")
    a = analyze(prof, get_device("3090"), "fp32", depth=1)
    html = roofline_report([a], date="2026-01-01", latency=latency_report(prof))
    path = write_text(tmp_path / "l.html", html)
    page, seen = open_report(browser, path)
    try:
        cols = headers(page, "#latency")
        assert cols[:6] == ["layer", "type", "naive", "calibrated", "measured", "± IQR"], cols

        def column(name):
            return page.evaluate(
                "(i) => Array.from(document.querySelectorAll('#latency tbody tr'))"
                ".map(r => r.cells[i].textContent)",
                cols.index(name),
            )

        assert column("layer") == ["b.0 (self)", "b.10", "b.2", "b.3"]
        # the whole model's tags say what they explain (they were a bare bullet)
        lead = page.locator("section", has=page.locator("#latency")).locator("ul.why")
        assert lead.evaluate("u => u.previousElementSibling.textContent") == (
            "Why the calibrated time differs from the naive one:"
        )
        assert lead.inner_text() == "conv: small or thin shapes, low efficiency (7% of peak)"
        assert column("± IQR") == ["100.00 µs", "20.00 µs", "300.00 µs", "-"]
        page.locator("#latency th").nth(cols.index("layer")).click()
        assert column("layer") == ["b.0 (self)", "b.2", "b.3", "b.10"]
        measured = page.locator("#latency th").nth(cols.index("measured"))
        measured.click()  # ascending: the unmeasured layer first
        assert column("layer") == ["b.3", "b.10", "b.0 (self)", "b.2"]
        measured.click()
        assert column("measured") == ["4.000 ms", "3.000 ms", "1.000 ms", "-"]
        # the layers table still sorts on its own
        layer_cols = headers(page, "#layers")
        page.locator("#layers th").nth(layer_cols.index("layer")).click()
        assert page.locator("#layers th.asc").count() == 1
        assert page.locator("#latency th.desc").count() == 1
        # a phone: the page itself does not scroll sideways, the table does
        page.set_viewport_size({"width": 390, "height": 900})
        page.wait_for_function(  # (the plot follows the window once relaid out)
            "() => document.getElementById('roofline')._fullLayout.width"
            " === document.getElementById('roofline').clientWidth"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = page.evaluate(
            "() => document.querySelector('#latency').parentElement.getBoundingClientRect().right"
        )
        assert box <= 390
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def ridge_report(tmp_path):
    """One Linear(1024, 1024) at batch 96 on a 3090 at fp32: its intensity (matmul and
    bias adds over input, output, weight and bias at 4 bytes),
    (2*96*1024*1024 + 96*1024) / (4 * (2*96*1024 + 1024*1024 + 1024)) = 40.4 FLOP/B, is just right of
    the ridge (35.58e12 / 936e9 = 38.0), so the one (and so the biggest) bubble sits
    on the ridge, where its label is; the x axis then starts at 10 FLOP/B, right of
    the fp64 ridge (556e9 / 936e9 = 0.59)."""
    prof = roofline.profile(nn.Sequential(nn.Linear(1024, 1024)), (torch.randn(96, 1024),))
    a = analyze(prof, get_device("3090"), "fp32")
    assert a.layers[0].intensity == pytest.approx((2 * 96 * 1024**2 + 96 * 1024) / (4 * 1246208))
    return a, report_file(tmp_path / "ridge.html", [a])


def test_ridge_label_is_drawn_above_the_bubbles(browser, tmp_path):
    # the label was the ridge trace's text, drawn before (so under) the layer bubbles
    _, path = ridge_report(tmp_path)
    page, seen = open_report(browser, path)
    try:
        found = page.evaluate(
            """() => {
                const label = Array.from(document.querySelectorAll('#roofline text'))
                    .find(t => t.textContent === 'ridge 38.0');
                if (!label) { return null; }
                const lb = label.getBoundingClientRect();
                const bubbles = Array.from(
                    document.querySelectorAll('#roofline .scatterlayer .trace .points path'))
                    .filter(p => { const b = p.getBoundingClientRect();
                        return b.left < lb.right && b.right > lb.left
                            && b.top < lb.bottom && b.bottom > lb.top; });
                // SVG paints in document order: a later node is drawn above
                return {overlapping: bubbles.length, below: bubbles.filter(p =>
                    p.compareDocumentPosition(label) & Node.DOCUMENT_POSITION_FOLLOWING).length};
            }"""
        )
        assert found is not None, "no 'ridge 38.0' label on the plot"
        assert found["overlapping"] >= 1  # the case at hand: a bubble where the label is
        assert found["below"] == found["overlapping"], found
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_other_precision_roofs_are_clipped_at_the_plotted_range(browser, tmp_path):
    # a faint roof whose ridge lies left of the x range was drawn from (x_lo, x_lo * bw),
    # above its own peak, back to its ridge: zoomed out, a line rose above the roof
    a, path = ridge_report(tmp_path)
    page, seen = open_report(browser, path)
    try:
        got = page.evaluate(
            """() => { const gd = document.getElementById('roofline');
                return {range: gd.layout.xaxis.range, roofs: gd.data
                    .filter(t => (t.meta || {}).series === 'other roof')
                    .map(t => ({x: t.x, y: t.y, name: t.name}))}; }"""
        )
        lo, hi = (10**e for e in got["range"])
        assert lo == pytest.approx(10)
        bw = a.ceilings.bandwidth_bytes_per_s
        fp64 = [r for r in got["roofs"] if r["name"].startswith("fp64")]
        assert len(fp64) == 1 and fp64[0]["y"] == [pytest.approx(556e9)] * 2
        for r in got["roofs"]:
            assert lo * 0.999 <= min(r["x"]) and max(r["x"]) <= hi * 1.001, r
            assert r["x"] == sorted(r["x"]), r
            peak = r["y"][-1]  # the flat end
            for x, y in zip(r["x"], r["y"], strict=True):
                assert y == pytest.approx(min(peak, x * bw)), r
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_totals_table_sorts(browser, tmp_path):
    # the layers table sorted on a click; the totals table beside it looked the same
    # and sorted nothing
    small = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="small")
    big = roofline.profile(evil_model(), (torch.randn(8, 3, 32, 32),), name="big")
    analyses = [analyze(p, get_device(d), "fp32") for p in (small, big) for d in ("3090", "t4")]
    path = report_file(tmp_path / "c.html", analyses)
    page, seen = open_report(browser, path)
    try:
        cols = headers(page, "table.compare")

        def order():
            return page.evaluate(
                "() => Array.from(document.querySelectorAll('table.compare tbody tr'))"
                ".map(r => r.cells[0].querySelector('span[title]').textContent"
                " + ' @ ' + r.cells[1].firstChild.textContent.trim())"
            )

        def by(key, reverse=False):
            return [
                f"{a.model} @ {a.device.name}" for a in sorted(analyses, key=key, reverse=reverse)
            ]

        first = order()
        assert first == [f"{a.model} @ {a.device.name}" for a in analyses], first
        th = page.locator("table.compare th").nth(cols.index("roofline time"))
        th.click()
        assert order() == by(lambda a: a.totals.time_s)
        th.click()
        assert order() == by(lambda a: a.totals.time_s, reverse=True)
        page.locator("table.compare th").nth(cols.index("traffic")).click()
        # the same traffic on either device: small, small, big, big
        assert [o.split(" @ ")[0] for o in order()] == ["small", "small", "big", "big"]
        page.locator("table.compare th").nth(cols.index("device")).click()
        devices = [o.split(" @ ")[1] for o in order()]
        assert devices == sorted(devices), devices
        assert page.locator("table.compare th.asc").count() == 1
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_a_tap_on_a_layer_row_shows_why(browser, tmp_path):
    # the sentence was only the row's title, a tooltip a touch screen never shows
    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="touch")
    a = analyze(prof, get_device("3090"), "fp32")
    path = report_file(tmp_path / "t.html", [a])
    ctx = browser.new_context(viewport={"width": 390, "height": 900}, has_touch=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("#roofline .main-svg")
        rows = page.locator("#layers tbody tr")
        n = rows.count()
        assert n == len(a.layers)
        why = page.locator("#layers tr.why-row")
        assert why.count() == 0
        rows.nth(1).tap()
        assert why.count() == 1 and why.first.is_visible()
        assert why.first.inner_text() == a.layers[1].explanation
        # all of it inside the table's box, which a phone shows only the left of
        box = page.evaluate(
            "() => document.querySelector('#layers').parentElement.getBoundingClientRect()"
        )
        text = why.first.locator(".why").bounding_box()
        assert box["left"] <= text["x"] and text["x"] + text["width"] <= box["right"], (box, text)
        # it opens under its own row (EVIL is the second layer's name: shown as text)
        assert EVIL in rows.nth(1).inner_text()
        assert page.locator("#layers tbody tr:nth-child(3)").get_attribute("class") == "why-row"
        # a tap on another row moves it there; a second tap closes it
        rows.nth(0).tap()
        assert why.count() == 1 and why.first.inner_text() == a.layers[0].explanation
        rows.nth(0).tap()
        assert why.count() == 0
        # a sort closes it and keeps one row per layer
        rows.nth(2).tap()
        page.locator("#layers th").nth(headers(page, "#layers").index("time")).tap()
        assert why.count() == 0 and rows.count() == n
        assert page.locator("img").count() == 0 and not errors, errors
    finally:
        ctx.close()


def test_compare_over_all_devices_tells_them_apart(browser, tmp_path):
    # `compare --gpu all --html`: 46 devices on 10 colours and 8 shapes repeated every
    # 40 analyses (and the tables' swatches, colour only, every 10); the header listed
    # 46 lines; the legend had ~300 entries (roofs, ridges, other precisions, models)
    from roofline.devices import all_devices

    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="small")
    devs = all_devices()
    assert len(devs) > 40
    analyses = [analyze(prof, d, "fp32") for d in devs]
    path = report_file(tmp_path / "all.html", analyses)
    page, seen = open_report(browser, path)
    try:
        got = page.evaluate(
            """() => { const gd = document.getElementById('roofline');
                return {
                    points: gd.data.filter(t => (t.meta || {}).series === 'analysis')
                        .map(t => [t.marker.color, t.marker.symbol, t.legendgroup]),
                    grouped: gd.data.filter(t => (t.meta || {}).series !== 'analysis')
                        .map(t => [t.legendgroup, t.showlegend, (t.meta || {}).series]),
                    legend: gd.querySelectorAll('.legend .traces').length,
                    annotations: (gd.layout.annotations || []).length}; }"""
        )
        pairs = [tuple(p[:2]) for p in got["points"]]
        assert len(pairs) == len(devs) and len(set(pairs)) == len(devs), pairs
        # the swatches in the tables: the same marker, in the same colour
        keys = page.evaluate(
            """() => Array.from(document.querySelectorAll('table.compare tbody .key'))
                .map(k => [k.style.color, k.textContent])"""
        )
        assert len(keys) == len(devs) and len({tuple(k) for k in keys}) == len(devs)
        # one legend entry per device; its roofs, ridges and whole model in its group
        assert got["legend"] == len(devs)
        groups = {p[2] for p in got["points"]}
        assert len(groups) == len(devs)
        assert all(g in groups and shown is False for g, shown, _ in got["grouped"]), got
        assert "other roof" not in {s for *_, s in got["grouped"]}
        # no ridge labels (64 of them piled up)
        assert got["annotations"] == 0 and ridge_labels_drawn(page) == []
        assert "ridge label" not in {s for *_, s in got["grouped"]}
        # the header: one folded line that counts them, each named when opened
        meta = page.locator(".meta details.analyses")
        assert (
            meta.locator("summary")
            .inner_text()
            .endswith(f"{len(devs)}: small on {len(devs)} devices (list)")
        )
        assert not meta.locator("div").first.is_visible()
        assert page.locator("header").bounding_box()["height"] < 400
        meta.locator("summary").click()
        assert meta.locator("div").count() == len(devs)
        assert meta.locator("div").last.is_visible()
        assert all(d.name in meta.inner_text() for d in devs)
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_latency_errors_method_and_whole_model_points(browser, tmp_path):
    # an error near -100% read badly: the factor is beside it beyond 2x; the note said
    # "per layer: module hooks" whatever timed the layers; the plot had the whole
    # model measured but not its calibrated prediction
    from roofline.latency.compare import LatencyReport, LatencyRow
    from roofline.latency.measure import Measurement, ModuleTime, Timing

    def row(name, predicted, measured, naive=1e-3):
        return LatencyRow(
            name=name,
            type="Block",
            naive_s=naive,
            predicted_s=predicted,
            measured_s=measured,
            measured_spread_s=1e-5,
            flops=10**6,
            bytes=10**5,
        )

    meas = Measurement(
        model="lat",
        device="cpu",
        device_name="a CPU",
        batch=1,
        mode="inference",
        timing=Timing((9e-3, 9e-3, 9e-3)),
        warmup=1,
        threads=1,
        torch_version="x",
        layer_method="profiler",
        modules={"": ModuleTime("", 9.5e-3, 0.0, 0.0, 0.0, 1)},
        layer_passes=2,
    )
    layers = (
        row("b.0", 2e-3, 1e-3),  # +100%: 2x, not beyond
        row("b.1", 1e-4, 1.25e-3),  # (0.1 - 1.25) / 1.25 = -92%: 12.5 times short
    )
    # naive 1 ms against 9 ms measured: -89%, 9 times short; calibrated 2 ms: -78%, 4.5
    model = row("(model)", 2e-3, 9e-3)
    report = LatencyReport(model, layers, prediction=None, measurement=meas, depth=1)
    m = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
    prof = roofline.profile(m, (torch.randn(1, 8),), name="lat")
    a = analyze(prof, get_device("3090"), "fp32", depth=1)
    path = write_text(tmp_path / "e.html", roofline_report([a], date="2026-01-01", latency=report))
    page, seen = open_report(browser, path)
    try:
        cols = headers(page, "#latency")
        calibrated = page.evaluate(
            "(i) => Array.from(document.querySelectorAll('#latency tbody tr'))"
            ".map(r => r.cells[i].textContent)",
            cols.index("calibrated error"),
        )
        assert calibrated == ["+100%", "-92% (12.5× under)"]
        section = page.locator("section:has(#latency)").inner_text()
        assert "naive roofline 1.000 ms (-89%, 9.0× under)" in section, section
        assert "calibrated 2.000 ms (-78%, 4.5× under)" in section, section
        assert "beyond a factor of 2 the factor too" in section
        # the layers were timed by the profiler, and the note says so
        assert "(per layer: torch.profiler ranges around every module)" in section
        assert "module hooks" not in section
        # the whole model at its intensity 1e6 / 1e5 = 10 FLOP/B: measured at
        # 1e6 / 9 ms = 1.11e8 FLOP/s, calibrated at 1e6 / 2 ms = 5e8
        points = page.evaluate(
            """() => document.getElementById('roofline').data
                .filter(t => (t.name || '').startsWith('whole model, '))
                .map(t => [t.name, t.x[0], t.y[0], t.marker.symbol])"""
        )
        assert points == [
            ["whole model, measured: 9.000 ms", 10.0, pytest.approx(1e6 / 9e-3), "star-open"],
            ["whole model, calibrated: 2.000 ms", 10.0, pytest.approx(5e8), "x-thin-open"],
        ]
        # both drawn inside the plotted range (the y axis follows the latency points)
        y_range = page.evaluate("document.getElementById('roofline')._fullLayout.yaxis.range")
        assert y_range[0] < 8.0 < 8.7 < y_range[1]  # log10 of 1.11e8 and 5e8
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def drawn_by_group(page) -> dict[str, list]:
    """Each legend group's traces' visibility (true / 'legendonly'), in data order."""
    return page.evaluate(
        """() => { const out = {};
            for (const t of document.getElementById('roofline')._fullData) {
                (out[t.legendgroup] = out[t.legendgroup] || []).push(t.visible); }
            return out; }"""
    )


def test_compare_over_all_devices_draws_the_first_rows_and_keeps_the_rest_a_click_away(
    browser, tmp_path
):
    # 46 devices' roofs, ridges and points drawn at once were a tangle of lines: the
    # first OPEN_ANALYSES (6) rows of the totals table (with --sort time, the fastest)
    # are drawn; every other device is greyed in the legend and drawn on a click
    from roofline.devices import all_devices

    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="small")
    devs = all_devices()
    analyses = [analyze(prof, d, "fp32") for d in devs]
    path = report_file(tmp_path / "all.html", analyses)
    page, seen = open_report(browser, path)
    try:
        groups = drawn_by_group(page)
        keys = [f"device {d.key}" for d in devs]
        assert set(groups) == set(keys)
        # a device's whole group (roofs, ridges, points, whole model) drawn or not
        assert [set(groups[k]) for k in keys] == [{True}] * 6 + [{"legendonly"}] * (len(devs) - 6)
        # still one legend entry per device, the hidden ones greyed
        legend = page.locator("#roofline .legend .traces")
        assert legend.count() == len(devs)
        # (the first hidden one: plotly's legend scrolls within the plot, and the
        # last entries lie below its fold)
        first_hidden = legend.nth(6)
        assert float(first_hidden.evaluate("e => getComputedStyle(e).opacity")) < 1
        assert float(legend.nth(5).evaluate("e => getComputedStyle(e).opacity")) == 1
        # a click draws its roof and points; a second one hides them again
        first_hidden.click()
        page.wait_for_function(
            "(g) => document.getElementById('roofline')._fullData"
            ".filter(t => t.legendgroup === g).every(t => t.visible === true)",
            arg=keys[6],
        )
        assert set(drawn_by_group(page)[keys[7]]) == {"legendonly"}  # the others stay
        first_hidden.click()
        page.wait_for_function(
            "(g) => document.getElementById('roofline')._fullData"
            ".filter(t => t.legendgroup === g).every(t => t.visible === 'legendonly')",
            arg=keys[6],
        )
        howto = page.locator(".howto").inner_text()
        assert f"the other {len(devs) - 6} are greyed in the legend" in howto, howto
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_of_many_models_shortens_the_title_and_the_folded_header(browser, tmp_path):
    # eight models on one device: the title and the folded header's one line named all
    # eight; the first three are named, "+5 more", each in the list when unfolded
    names = [f"model-{i}" for i in range(8)]
    analyses = [
        analyze(
            roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name=n),
            get_device("3090"),
            "fp32",
        )
        for n in names
    ]
    path = report_file(tmp_path / "models.html", analyses)
    page, seen = open_report(browser, path)
    try:
        short = "model-0 vs model-1 vs model-2 +5 more on NVIDIA GeForce RTX 3090"
        assert page.locator("h1").inner_text().startswith(short + " ")
        assert page.title().startswith(short + " ")
        meta = page.locator(".meta details.analyses")
        assert meta.locator("summary").inner_text() == f"ANALYSES 8: {short} (list)"
        meta.locator("summary").click()
        assert meta.locator("div").count() == 8
        assert all(n in meta.inner_text() for n in names)
        # fewer devices than the many-device plot: every model is drawn
        assert {t["visible"] for t in traces(page) if t["series"] == "analysis"} == {True}
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


@pytest.fixture(scope="module")
def scrollbar_browser(playwright):
    """Chromium drawing real (15 px, space-taking) scrollbars, as a desktop browser
    on Linux or Windows does: playwright's headless default hides them, and with them
    hidden a table can look as if it fits the box that a real scrollbar narrows."""
    b = playwright.chromium.launch(
        executable_path=CHROMIUM, args=ARGS, ignore_default_args=["--hide-scrollbars"]
    )
    yield b
    b.close()


@pytest.mark.slow
@pytest.mark.parametrize("depth", [2, None], ids=["depth 2", "depth all"])
def test_llama_layer_table_fits_its_box_at_1366_px(scrollbar_browser, tmp_path, depth):
    # examples/llama-7b.yaml at --depth all (388 rows): the table was 1267 px wide in
    # a box 1266 px wide (scrollbars hidden) and showed its own sideways scrollbar; with
    # real scrollbars (the page's and the box's own, 388 rows scroll) 1267 in 1236,
    # and depth 2 too (1258). Every cell fits: a layer's name wraps at its dots instead
    from roofline.counting import profile_spec
    from roofline.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    prof = profile_spec(load_spec(root / "examples" / "llama-7b.yaml"))
    a = analyze(prof, get_device("3090"), "fp32", depth=depth)
    assert len(a.layers) == (36 if depth == 2 else 388)
    path = report_file(tmp_path / "llama.html", [a])
    page, seen = open_report(scrollbar_browser, path)
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        box = page.evaluate(
            """() => { const w = document.getElementById('layers').parentElement;
                return {scroll: w.scrollWidth, client: w.clientWidth,
                        bar: w.offsetWidth - w.clientWidth - 2}; }"""
        )
        assert box["bar"] > 0, box  # the box's own vertical scrollbar takes room
        assert box["scroll"] <= box["client"], box
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def ridge_labels_drawn(page) -> list[str]:
    """The ridge labels drawn on the plot now: its text elements (a trace's, an
    annotation's) outside the legend that read ``ridge N``."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('#roofline text'))
            .filter(t => !t.closest('.legend') && /^(conv )?ridge [0-9]/.test(t.textContent))
            .map(t => t.textContent)"""
    )


def test_hiding_a_ridge_or_its_roof_in_the_legend_hides_its_label(browser, tmp_path):
    # the label was a layout annotation: a legend click hid the ridge's × (or the roof)
    # and left "ridge 38.0" floating over nothing
    _, path = ridge_report(tmp_path)
    page, seen = open_report(browser, path)
    try:
        assert ridge_labels_drawn(page) == ["ridge 38.0"]
        for entry in ("ridge point 38.0 FLOP/B", "fp32 roof:"):
            item = page.locator("#roofline .legend .traces", has_text=entry)
            assert item.count() == 1, entry
            item.click()
            page.wait_for_function(
                "() => !Array.from(document.querySelectorAll('#roofline text'))"
                ".some(t => t.textContent === 'ridge 38.0')"
            )
            # the ridge, its roof and its label went together; the layers stayed
            hidden = {t["series"] for t in traces(page) if t["visible"] == "legendonly"}
            assert hidden == {"roof", "ridge", "ridge label"}, (entry, hidden)
            item.click()  # shown again: the label comes back with them
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('#roofline text'))"
                ".some(t => t.textContent === 'ridge 38.0')"
            )
        assert ridge_labels_drawn(page) == ["ridge 38.0"]
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_shows_the_ops_that_a_roofline_time_leaves_out(browser, tmp_path):
    # the seed's puzzle (mobilenetv3small_yolo5s, fewer FLOPs and bytes, ran slower
    # than yolov5s: 273 ops against 239): the totals gave FLOPs, bytes and roofline
    # time, all in the smaller model's favour, and nothing of its extra kernel launches.
    # Here: one Linear(256, 256) at batch 64 is 1 op (addmm); Linear(8, 8) -> ReLU ->
    # Linear(8, 8) at batch 2 is 3 (addmm, relu, addmm), with far less roofline time
    wide = nn.Sequential(nn.Linear(256, 256))
    chain = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8))
    one = analyze(roofline.profile(wide, (torch.randn(64, 256),), name="wide"), get_device("3090"))
    three = analyze(roofline.profile(chain, (torch.randn(2, 8),), name="chain"), get_device("3090"))
    assert (len(one.ops), len(three.ops)) == (1, 3)
    assert three.totals.time_s < one.totals.time_s
    page, seen = open_report(browser, report_file(tmp_path / "c.html", [one, three]))
    try:
        cols = headers(page, "table.compare")
        cells = page.evaluate(
            """(cols) => Array.from(document.querySelectorAll('table.compare tbody tr'))
                .map(r => [r.cells[cols.indexOf('ops')].textContent,
                           r.cells[cols.indexOf('time / op')].textContent])""",
            cols,
        )
        assert cells == [
            ["1", seconds(one.totals.time_s)],
            ["3", seconds(three.totals.time_s / 3)],
        ], cells
        # and the row that the roofline favours but that launches 3x the kernels is
        # called out under the table, with the figures that show it
        warn = page.locator("#totals ~ .warn, .table-wrap + .warn").inner_text()
        ratio = three.totals.time_s / one.totals.time_s
        assert f"chain @ NVIDIA GeForce RTX 3090: {ratio:.3f}× the roofline time" in warn, warn
        assert "3.00× its ops (3 against 1)" in warn, warn
        assert offscreen_headers(page, "table.compare") == []
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()
    # a profile report gives the ops and their mean time in its roofline time card
    page, seen = open_report(browser, report_file(tmp_path / "p.html", [three]))
    try:
        card = page.locator(".card", has_text="roofline time").inner_text()
        assert f"3 ops, {seconds(three.totals.time_s / 3)} each" in card, card
    finally:
        page.close()


def boxes_overlap(a: dict, b: dict) -> bool:
    return (
        a["left"] < b["right"]
        and b["left"] < a["right"]
        and a["top"] < b["bottom"]
        and (b["top"] < a["bottom"])
    )


def rects(page, selector: str) -> list[dict]:
    return page.evaluate(
        """(sel) => Array.from(document.querySelectorAll(sel)).map(e => {
            const r = e.getBoundingClientRect();
            return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; })""",
        selector,
    )


def test_narrow_window_keeps_the_toolbar_off_the_buttons_and_the_legend_inside(browser, tmp_path):
    # at 390 px (a phone) plotly's toolbar (top right, shown on a touch or hover) lay
    # over the "colour by" buttons (top left) once the plot was narrower than both;
    # and a legend entry below the plot is one line plotly never wraps: "whole model:
    # mobilenetv3small_yolo5s @ NVIDIA GeForce RTX 3090" ran off the right edge
    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="tiny")
    single = [analyze(prof, get_device("3090"), "fp32")]
    long = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="x" * 20 + " y" * 5)
    pair = [analyze(p, get_device("3090"), "fp32") for p in (prof, long)]
    for name, analyses in (("single", single), ("pair", pair)):
        page, seen = open_report(browser, report_file(tmp_path / f"{name}.html", analyses))
        try:
            for width in (390, 1366, 390):  # the first layout, then the switch back to it
                page.set_viewport_size({"width": width, "height": 800})
                page.wait_for_function(
                    "(w) => { const g = document.getElementById('roofline');"
                    " return g._fullLayout.width === g.clientWidth"
                    " && (g._fullLayout.legend.orientation === 'h') === (w < 640); }",
                    arg=width,
                )
                page.locator("#roofline .nsewdrag").first.hover()  # shows the toolbar
                page.wait_for_timeout(100)
                (toolbar,) = rects(page, "#roofline .modebar")
                buttons = rects(page, "#roofline .updatemenu-button")
                assert len(buttons) == (2 if name == "single" else 0)
                for b in buttons:
                    assert not boxes_overlap(toolbar, b), (width, toolbar, b)
                # wrapped below the plot only; back beside it, each name is one line again
                wrapped = [t["name"] for t in traces(page) if "<br>" in (t["name"] or "")]
                assert bool(wrapped) == (name == "pair" and width < 640), (width, wrapped)
                (plot,) = rects(page, "#roofline")
                for text in rects(page, "#roofline .legend .traces text.legendtext"):
                    assert text["right"] <= plot["right"] + 0.5, (name, width, text, plot)
            assert not seen["errors"], seen["errors"]
        finally:
            page.close()


def on_every_device(name: str) -> list:
    """The small test model, named ``name``, analysed at fp32 on every device in the
    database (a `compare --gpu all`)."""
    from roofline.devices import all_devices

    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name=name)
    return [analyze(prof, d, "fp32") for d in all_devices()]


def test_a_hyphenated_model_name_keeps_to_one_line_in_the_totals(browser, tmp_path):
    # `compare resnet50.yaml --gpu all`: the browser broke "ResNet-50" after its hyphen
    # in the narrow model column, so each of the 46 rows took 4 lines (ResNet- / 50 /
    # 25.56 M / params) and the 720 px box showed 8 of them; names still wrap at their
    # dots and underscores, and stay text
    analyses = on_every_device("ResNet-50")
    page, seen = open_report(browser, report_file(tmp_path / "all.html", analyses))
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        # per row: the label, its lines, whether the swatch is on its line, the
        # params' lines: two lines in all ("● ResNet-50" over "1.23 K params")
        lines = page.evaluate(
            """() => Array.from(document.querySelectorAll('table.compare tbody tr')).map(r => {
                const c = r.cells[0], s = c.querySelector('span[title]');
                const key = c.querySelector('.key').getBoundingClientRect();
                const label = s.getBoundingClientRect();
                return [s.textContent, s.getClientRects().length,
                        Math.abs(key.bottom - label.bottom) < 4,
                        c.querySelector('small').getClientRects().length]; })"""
        )
        assert lines == [["ResNet-50", 1, True, 1]] * len(analyses), lines
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_summary_cards_line_up(browser, tmp_path):
    # the bound card's colour bar was a 4 px top border (the others' is 1 px): its
    # label and value sat 3 px below those of the cards beside it
    prof = roofline.profile(evil_model(), (torch.randn(1, 3, 16, 16),), name="tiny")
    page, seen = open_report(
        browser, report_file(tmp_path / "r.html", [analyze(prof, get_device("3090"))])
    )
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        tops = page.evaluate(
            """() => Array.from(document.querySelectorAll('.cards .card')).map(c =>
                [c.querySelector('.label').textContent,
                 c.querySelector('.label').getBoundingClientRect().top,
                 c.querySelector('.value').getBoundingClientRect().top])"""
        )
        assert len(tops) == 7 and [t[0] for t in tops][5] == "bound", tops
        assert len({t[1] for t in tops}) == 1 and len({t[2] for t in tops}) == 1, tops
        # and the bar is there, in the bound's colour (memory: #e15759)
        shadow = page.evaluate(
            "() => getComputedStyle(document.querySelector('.card[class*=bound-]')).boxShadow"
        )
        assert "rgb(225, 87, 89)" in shadow or "rgb(78, 121, 167)" in shadow, shadow
        # the time by bound: each bar in its bound's colour (they were all the accent
        # blue, the compute colour, "memory-bound layers" too)
        bars = page.evaluate(
            """() => Array.from(document.querySelectorAll('.bars .bar-row'))
                .filter(r => / [a-z]+-bound layers$/.test(' ' + r.textContent.split(/[0-9]/)[0].trim()))
                .map(r => [r.querySelector('.bar-label').textContent,
                           getComputedStyle(r.querySelector('.bar')).backgroundColor])"""
        )
        want = {
            "memory-bound layers": "rgb(225, 87, 89)",
            "compute-bound layers": "rgb(78, 121, 167)",
        }
        assert bars and all(want[k] == c for k, c in bars), bars
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_layer_type_colours_are_not_the_bound_colours(browser, tmp_path):
    # the page's memory and compute pills are red (#e15759) and blue (#4e79a7), and
    # the plot's layer types took the same palette from its start: ResNet-50's
    # Bottlenecks (left of the ridge, memory-bound) were compute blue, its ReLUs memory
    # red. 11 types: the 9 slowest each their own colour, the rest "other types" grey
    acts = (nn.ReLU, nn.ReLU6, nn.SiLU, nn.Hardswish, nn.GELU, nn.Sigmoid, nn.Tanh, nn.ELU)
    m = nn.Sequential(nn.Linear(64, 64), *(a() for a in acts), nn.Softplus(), nn.LeakyReLU())
    a = analyze(roofline.profile(m, (torch.randn(4, 64),), name="acts"), get_device("3090"))
    assert len({r.type for r in a.layers}) == 11
    page, seen = open_report(browser, report_file(tmp_path / "r.html", [a]))
    try:
        colours = page.evaluate(
            """() => document.getElementById('roofline').data
                .filter(t => (t.meta || {}).series === 'type')
                .map(t => [t.name, t.marker.color])"""
        )
        assert len(colours) == 10 and colours[-1] == ["other types", "#999999"], colours
        typed = [c for _, c in colours[:-1]]
        assert len(set(typed)) == 9, typed
        assert not set(typed) & {"#e15759", "#4e79a7", "#999999", "#bab0ac"}, typed
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_over_all_devices_folds_the_breakdowns_after_the_first_rows(browser, tmp_path):
    # 46 devices: 46 time breakdowns and 46 bottleneck lists, one under the other,
    # made the page ~27,000 px tall; the first 6 (the rows the plot draws) are shown,
    # the other 40 folded under one line in each section, opened with a click
    analyses = on_every_device("small")
    n = len(analyses)
    page, seen = open_report(browser, report_file(tmp_path / "all.html", analyses))
    try:

        def shown(selector):
            return page.locator(selector).evaluate_all(
                "els => els.filter(e => e.checkVisibility()).length"
            )

        assert page.locator("ol.bottlenecks").count() == page.locator(".breakdown").count() == n
        assert shown("ol.bottlenecks") == shown(".breakdown") == 6
        folded = page.locator("details.more summary")
        assert folded.count() == 2
        assert (
            folded.first.inner_text() == f"{n - 6} more analyses, in the order of the totals table"
        )
        folded.first.click()
        folded.last.click()
        assert shown("ol.bottlenecks") == shown(".breakdown") == n
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def example_analysis(name: str, depth: int | None = 2):
    """``examples/<name>.yaml`` analysed on the 3090 at its default precision and
    ``depth``, as ``roofline profile``/``compare`` do by default."""
    from roofline.counting import profile_spec
    from roofline.spec import load_spec

    root = Path(__file__).resolve().parents[2]
    return analyze(
        profile_spec(load_spec(root / "examples" / f"{name}.yaml")), get_device("3090"), None, depth
    )


@pytest.mark.slow
def test_compare_layer_table_fits_its_box_at_1366_px(scrollbar_browser, tmp_path):
    # `roofline compare examples/yolov5s.yaml examples/mobilenetv3small_yolo5s.yaml`:
    # at 1366 px the layer table needed 1298 px in its 1236 px box (window 1366 - page
    # scrollbar 15 - main's padding 56 - section's 40 + borders 4 - the box's own
    # scrollbar 15) and the output column lay past its right edge. The widest columns:
    # the analysis (a swatch and "mobilenetv3small_", 121 px), the type
    # ("InvertedResidual", 109) and the output (the detection head's
    # "1x3x80x80x85," of four shapes, 101)
    analyses = [example_analysis("yolov5s"), example_analysis("mobilenetv3small_yolo5s")]
    path = report_file(tmp_path / "c.html", analyses)
    page, seen = open_report(scrollbar_browser, path)
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        box = page.evaluate(
            """() => { const w = document.getElementById('layers').parentElement;
                return {scroll: w.scrollWidth, client: w.clientWidth,
                        bar: w.offsetWidth - w.clientWidth - 2}; }"""
        )
        assert box["bar"] > 0, box  # 52 rows: the box's own scrollbar takes room
        assert box["scroll"] <= box["client"], box
        assert offscreen_headers(page, "#layers", 1366) == []
        # nothing hidden: the detection head's four shapes are all there, in full
        shapes = page.evaluate(
            """() => Array.from(document.querySelectorAll('#layers tbody tr'))
                .map(r => r.cells[r.cells.length - 1].textContent)"""
        )
        assert "1x25200x85, 1x3x80x80x85, 1x3x40x40x85, 1x3x20x20x85" in shapes
        # a single shape stays on one line (wrapped, every row took two)
        one = page.evaluate(
            """() => { const r = document.querySelector('#layers tbody tr');
                const c = r.cells[r.cells.length - 1], g = document.createRange();
                g.selectNodeContents(c);
                return {text: c.textContent, lines: g.getClientRects().length}; }"""
        )
        assert one == {"text": "1x32x320x320", "lines": 1}, one
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def long_model(n: int = 20) -> nn.Sequential:
    """``n`` conv -> ReLU pairs, 2n rows: more than a 720 px table box shows at once."""
    m = nn.Sequential()
    for i in range(n):
        m.add_module(f"conv_{i}", nn.Conv2d(8, 8, 3, padding=1))
        m.add_module(f"relu_{i}", nn.ReLU())
    return m


PINNED = """(row) => {
    const t = document.getElementById('layers'), wrap = t.parentElement;
    const box = wrap.getBoundingClientRect(), tr = t.tBodies[0].rows[row];
    const heads = Array.from(t.tHead.rows[0].cells).map(c => c.textContent);
    const cell = (name) => tr.cells[heads.indexOf(name)];
    const rect = (c) => { const r = c.getBoundingClientRect();
        return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; };
    const lay = cell('layer'), r = rect(lay);
    const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    return {box: rect(wrap), num: rect(cell('#')), layer: r, name: lay.textContent,
            on_top: !!hit && hit.closest('td') === lay,
            bg: getComputedStyle(lay).backgroundColor, row_bg: getComputedStyle(tr).backgroundColor,
            head: rect(t.tHead.rows[0].cells[heads.indexOf('layer')]),
            pinned: heads.filter((h, i) => tr.cells[i].classList.contains('pin')),
            scroll: wrap.scrollLeft, max: wrap.scrollWidth - wrap.clientWidth};
}"""


def test_phone_keeps_the_layer_names_in_view_as_the_table_scrolls(browser, tmp_path):
    # at 390 px the table box shows 316 of the table's ~1200 px: scrolled sideways to
    # the bytes, the row number and the layer's name had gone off its left edge
    prof = roofline.profile(long_model(), (torch.randn(1, 8, 16, 16),), name="long")
    a = analyze(prof, get_device("3090"), "fp32")
    path = report_file(tmp_path / "p.html", [a])
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    page = ctx.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(path.as_uri())
        page.wait_for_selector("#roofline .main-svg")
        page.locator("#layers").scroll_into_view_if_needed()
        wrap = "document.getElementById('layers').parentElement"
        page.evaluate(f"() => {{ {wrap}.scrollLeft = 1e6; {wrap}.scrollTop = 200; }}")
        s = page.evaluate(PINNED, 12)
        assert s["max"] > 500 and s["scroll"] == s["max"], s  # scrolled to the right end
        assert s["name"] == a.layers[12].name == "conv_6", s
        # both inside the box, side by side at its left edge
        assert s["box"]["left"] <= s["num"]["left"] <= s["box"]["left"] + 2, s
        assert abs(s["layer"]["left"] - s["num"]["right"]) <= 1, s
        assert s["layer"]["right"] < s["box"]["right"] - 100, s  # the rest still shows
        assert s["pinned"] == ["#", "layer"], s
        # on top of the cells scrolled under it, and opaque (a transparent cell showed
        # the numbers under it through its name)
        assert s["on_top"], s
        assert s["bg"] == "rgb(255, 255, 255)", s
        # the header: its layer cell stays at the box's top and left, and sorts
        assert abs(s["head"]["left"] - s["layer"]["left"]) <= 1, s
        assert s["box"]["top"] <= s["head"]["top"] <= s["box"]["top"] + 2, s
        # hover: the pinned cells take the row's hover colour, as the others do
        page.mouse.move((s["layer"]["left"] + s["layer"]["right"]) / 2, s["layer"]["top"] + 5)
        h = page.evaluate(PINNED, 12)
        assert h["row_bg"] == h["bg"] == "rgb(245, 248, 252)", h
        # a tap on the pinned name opens the row's sentence under it
        page.locator("#layers tbody tr").nth(12).locator("td.pin").last.tap()
        why = page.locator("#layers tr.why-row")
        assert why.count() == 1 and why.first.inner_text() == a.layers[12].explanation
        assert page.evaluate(PINNED, 12)["bg"] == "rgb(238, 243, 250)"  # the open row's
        head = page.locator("#layers th").nth(headers(page, "#layers").index("layer"))
        head.tap()
        assert why.count() == 0
        assert head.get_attribute("class") == "t pin pin-last pin-1 asc"
        names = page.evaluate(
            "() => Array.from(document.querySelectorAll('#layers tbody tr'))"
            ".map(r => r.cells[1].textContent)"
        )
        assert names[:3] == ["conv_0", "conv_1", "conv_2"] and names[-1] == "relu_19", names
        assert not errors, errors
    finally:
        ctx.close()


def test_pinned_columns_leave_a_desktop_table_as_it_was(browser, tmp_path):
    # at 1280 px the table fits its box: the pinned cells sit where they would unpinned,
    # white like the card, with no edge (drawn only once the table is scrolled)
    prof = roofline.profile(long_model(3), (torch.randn(1, 8, 16, 16),), name="short")
    a = analyze(prof, get_device("3090"), "fp32")
    page, seen = open_report(browser, report_file(tmp_path / "d.html", [a]))
    try:
        s = page.evaluate(PINNED, 0)
        assert s["max"] == 0 and s["pinned"] == ["#", "layer"], s
        assert abs(s["layer"]["left"] - s["num"]["right"]) <= 1, s
        assert s["bg"] == "rgb(255, 255, 255)", s
        shadow = page.evaluate(
            "() => getComputedStyle(document.querySelector('#layers td.pin-last')).boxShadow"
        )
        assert shadow == "none"
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()


def test_compare_pins_the_analysis_where_there_is_room(browser, tmp_path):
    # a compare's rows are told apart by their analysis too: pinned at 1366 px (3
    # columns, ~240 px, of a 1236 px box), not on a phone, where they took 240 of 316
    one = roofline.profile(
        long_model(3), (torch.randn(1, 8, 16, 16),), name="mobilenetv3small_yolo5s"
    )
    two = roofline.profile(long_model(4), (torch.randn(1, 8, 16, 16),), name="yolov5s")
    dev = get_device("3090")
    path = report_file(tmp_path / "c.html", [analyze(one, dev, "fp32"), analyze(two, dev, "fp32")])
    page, seen = open_report(browser, path)
    try:
        page.set_viewport_size({"width": 1366, "height": 900})
        assert page.evaluate(PINNED, 0)["pinned"] == ["#", "analysis", "layer"]
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#layers").scroll_into_view_if_needed()
        page.evaluate("() => { document.getElementById('layers').parentElement.scrollLeft = 1e6; }")
        s = page.evaluate(PINNED, 0)
        assert s["pinned"] == ["#", "layer"], s
        assert s["scroll"] > 0 and abs(s["layer"]["left"] - s["num"]["right"]) <= 1, s
        assert s["on_top"], s
        assert not seen["errors"], seen["errors"]
    finally:
        page.close()
