"""One page on a GPU session's results: every target met or missed, and by how much.

    python benchmarks/gpu_summary.py DIR [SUMMARY_FILE]   # prints it, writes DIR/summary.md or SUMMARY_FILE

``DIR`` is what ``benchmarks/gpu_session.sh`` wrote to ``$OUT`` (the files the device
tool brought back). It reads files only (no torch, no GPU), so it runs here on the
files that came back when the session was stopped before it wrote the summary itself.

Targets (issues 6 and 7, docs/benchmarks.md):

* latency (latency_cuda.json): calibrated MAPE <= 10 % and >= 80 % of the cases within
  +-10 %, over >= 10 models x batch {1, 8, 32};
* VRAM (vram_accuracy.json): predicted / ``max_memory_allocated`` within 0.90-1.10 and
  never below 0.95 for every case, over >= 5 models x {inference, training} x 2 batches;
* tests/gpu: pytest's own summary line from session.log, and the failures.
"""

from __future__ import annotations

import json
import re
import statistics
import sys
from pathlib import Path
from typing import Any

#: issue 7's targets
LATENCY_MAPE_MAX = 10.0
LATENCY_WITHIN = 0.10
LATENCY_SHARE_MIN = 80.0
LATENCY_MODELS_MIN = 10
LATENCY_BATCHES = (1, 8, 32)
#: issue 6's targets: within 10 %, never under by more than 5 %
VRAM_LOW, VRAM_HIGH = 0.95, 1.10
VRAM_MODELS_MIN = 5


def _load(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(document, None), or (None, why not) for a missing or unreadable file."""
    if not path.exists():
        part = path.with_name(path.name + ".part")
        if not part.exists():
            return None, f"{path.name} is missing (the step did not run or wrote nothing)"
        path = part  # the step was stopped inside a rename: its last whole write
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except (OSError, ValueError) as exc:
        return None, f"{path.name} is unreadable ({exc})"


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def latency_section(doc: dict[str, Any], title: str) -> list[str]:
    """Issue 7's verdict on one latency_accuracy.py --json document."""
    cases = [c for c in doc.get("cases", []) if c.get("predicted_err") is not None]
    lines = [f"## {title}", ""]
    if not cases:
        return [
            *lines,
            "No case finished (the calibration alone, or nothing: see session.log).",
            "",
        ]
    errs = [abs(c["predicted_err"]) for c in cases]
    naive = [abs(c["naive_err"]) for c in cases if c.get("naive_err") is not None]
    mape = 100 * statistics.mean(errs)
    share = 100 * sum(e <= LATENCY_WITHIN for e in errs) / len(errs)
    models = sorted({c["model"] for c in cases})
    batches = sorted({int(c["batch"]) for c in cases})
    full = len(models) >= LATENCY_MODELS_MIN and set(LATENCY_BATCHES) <= set(batches)
    ok = mape <= LATENCY_MAPE_MAX and share >= LATENCY_SHARE_MIN and full
    lines += [
        f"Target: calibrated MAPE <= {LATENCY_MAPE_MAX:.0f} % and >= {LATENCY_SHARE_MIN:.0f} % "
        f"of cases within +-{100 * LATENCY_WITHIN:.0f} %, >= {LATENCY_MODELS_MIN} models x "
        f"batch {{{', '.join(map(str, LATENCY_BATCHES))}}}: {verdict(ok)}",
        "",
        f"- cases: {len(cases)} ({len(models)} models, batches {batches})"
        + ("" if full else " — **coverage short of the target**"),
        f"- calibrated MAPE: {mape:.1f} % ({mape - LATENCY_MAPE_MAX:+.1f} points against the "
        f"target); median |error| {100 * statistics.median(errs):.1f} %",
        f"- within +-10 %: {share:.0f} % ({share - LATENCY_SHARE_MIN:+.0f} points against the "
        f"target); within +-25 %: {100 * sum(e <= 0.25 for e in errs) / len(errs):.0f} %",
    ]
    if naive:
        lines.append(f"- naive roofline MAPE: {100 * statistics.mean(naive):.1f} %")
    speeds = [c["speed_vs_calibration"] for c in cases if c.get("speed_vs_calibration")]
    if speeds:
        lines.append(f"- machine speed vs calibration: {min(speeds):.2f}-{max(speeds):.2f}")
    if doc.get("calibration_s") is not None:
        lines.append(f"- calibration took {doc['calibration_s']:.0f} s")
    worst = sorted(cases, key=lambda c: -abs(c["predicted_err"]))[:5]
    lines += [
        "- worst cases: "
        + ", ".join(f"{c['model']} b{c['batch']} {100 * c['predicted_err']:+.0f}%" for c in worst),
        "",
    ]
    return lines


def vram_section(doc: dict[str, Any]) -> list[str]:
    """Issue 6's verdict on vram_accuracy.py's document."""
    rows = doc.get("rows", [])
    lines = ["## VRAM (issue 6): vram_accuracy.json", ""]
    ok_rows = [r for r in rows if r.get("ratio_allocated") is not None]
    failed = [r for r in rows if r.get("ratio_allocated") is None]
    if not ok_rows:
        lines.append("No case measured.")
    else:
        ratios = [r["ratio_allocated"] for r in ok_rows]
        out = [r for r in ok_rows if not VRAM_LOW <= r["ratio_allocated"] <= VRAM_HIGH]
        models = {r["model"] for r in ok_rows}
        cover = {(r["model"], r["mode"]) for r in ok_rows}
        per = {k: len({r["batch"] for r in ok_rows if (r["model"], r["mode"]) == k}) for k in cover}
        full = (
            len(models) >= VRAM_MODELS_MIN
            and len(cover) >= 2 * VRAM_MODELS_MIN
            and all(n >= 2 for n in per.values())
        )
        ok = not out and not failed and full
        lines += [
            f"Target: predicted / max_memory_allocated in {VRAM_LOW:.2f}-{VRAM_HIGH:.2f} (within "
            f"10 %, never under by more than 5 %) for every case, >= {VRAM_MODELS_MIN} models x "
            f"{{inference, training}} x 2 batches: {verdict(ok)}",
            "",
            f"- cases measured: {len(ok_rows)} ({len(models)} models)"
            + ("" if full else " — **coverage short of the target**"),
            f"- ratio predicted / measured: {min(ratios):.3f}-{max(ratios):.3f}; "
            f"{len(ok_rows) - len(out)} of {len(ok_rows)} in band",
        ]
        dev = [r["ratio_device"] for r in ok_rows if r.get("ratio_device")]
        if dev:
            lines.append(f"- device level (context included): {min(dev):.3f}-{max(dev):.3f}")
        for r in out:
            lines.append(
                f"- out of band: {r['model']} {r['mode']} b{r['batch']} {r['ratio_allocated']:.3f}"
            )
    for r in failed:
        why = r.get("error") or r.get("measured_error") or "no measurement"
        lines.append(f"- failed: {r.get('model')} {r.get('mode')} b{r.get('batch')}: {why}")
    return [*lines, ""]


STEP = re.compile(r"^== (\w+) \(at most (\d+) s")
SKIPPED = re.compile(r"^== (\w+) skipped: (.*)$")
RC = re.compile(r"^rc=(\d+) after (\d+) s$")
PYTEST_TOTAL = re.compile(r"^=+ (.*\b(?:passed|failed|error|errors|skipped)\b.*) in [\d.]+s")


def steps_section(log: str) -> list[str]:
    """Each step's exit status and time (124/137: stopped at its limit)."""
    lines = ["## Steps (session.log)", "", "| step | limit s | rc | took s |", "|---|---|---|---|"]
    current: tuple[str, str] | None = None
    for line in log.splitlines():
        if m := STEP.match(line):
            if current:  # a step with no rc line: the session stopped inside it
                lines.append(f"| {current[0]} | {current[1]} | (stopped inside) | |")
            current = (m.group(1), m.group(2))
        elif (m := RC.match(line)) and current:
            rc = m.group(1)
            note = " (time limit)" if rc in ("124", "137") else ""
            lines.append(f"| {current[0]} | {current[1]} | {rc}{note} | {m.group(2)} |")
            current = None
        elif m := SKIPPED.match(line):
            lines.append(f"| {m.group(1)} | | skipped: {m.group(2)} | |")
    if current:
        lines.append(f"| {current[0]} | {current[1]} | (stopped inside) | |")
    return [*lines, ""]


def _step_text(log: str, name: str) -> str:
    """What step ``name`` printed (empty when it did not run)."""
    m = re.search(rf"^== {name} \(at most.*?$(.*?)(?=^rc=\d+ after|\Z)", log, flags=re.M | re.S)
    return m.group(1) if m else ""


def tests_section(log: str) -> list[str]:
    text = _step_text(log, "tests")
    lines = ["## tests/gpu", ""]
    if not text:
        return [*lines, "Did not run.", ""]
    totals = [m.group(1) for line in text.splitlines() if (m := PYTEST_TOTAL.match(line))]
    lines.append(f"- pytest: {totals[-1] if totals else 'no summary line (stopped?)'}")
    bad = [ln for ln in text.splitlines() if ln.startswith(("FAILED ", "ERROR "))]
    lines += [f"- {ln[:200]}" for ln in bad]
    return [*lines, ""]


def ceilings_section(out: Path) -> list[str]:
    """The measured ceilings (roofline calibrate --gpu local) beside the datasheet's."""
    files = sorted((out / "cache" / "measured").glob("gpu-*.json"))
    lines = ["## Ceilings (roofline calibrate --gpu local)", ""]
    if not files:
        return [*lines, "No measured ceilings file.", ""]
    for f in files:
        doc, why = _load(f)
        if doc is None:
            lines.append(f"- {why}")
            continue
        c = doc.get("ceilings", {})
        key = doc.get("device")
        peaks: dict[str, float] = {}
        bw = None
        try:  # the datasheet, from the working tree's spec database
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from roofline.devices import get_device

            d = get_device(key)
            peaks = {p: d.matrix_peak(p).flops_per_s for p in d.peaks}
            bw = d.memory_bandwidth_bytes_per_s
        except Exception:  # a summary without the datasheet column still helps
            pass
        lines.append(f"- {f.name} (datasheet {key}):")
        for p, v in sorted((c.get("gemm_flops_per_s") or {}).items()):
            share = f" = {100 * v / peaks[p]:.0f} % of {peaks[p] / 1e12:.1f}" if p in peaks else ""
            lines.append(f"  - GEMM {p}: {v / 1e12:.1f} TFLOP/s{share}")
        copy = c.get("copy_bandwidth_bytes_per_s")
        if copy:
            share = f" = {100 * copy / bw:.0f} % of {bw / 1e9:.0f}" if bw else ""
            lines.append(f"  - copy: {copy / 1e9:.0f} GB/s{share}")
        if c.get("launch_overhead_s"):
            lines.append(f"  - launch overhead: {c['launch_overhead_s'] * 1e6:.1f} µs")
    return [*lines, ""]


def _section(make: Any, *args: Any) -> list[str]:
    """A section, or a line saying why it could not be made: one malformed file must
    not cost the page the other sections."""
    try:
        return make(*args)
    except Exception as exc:
        return [f"({make.__name__} failed: {type(exc).__name__}: {exc})", ""]


def summary(out: Path) -> str:
    """The summary page of the session results in ``out``."""
    log_path = out / "session.log"
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    head = re.search(r"^== machine$(.*?)(?=^== |\Z)", log, flags=re.M | re.S)
    machine = [ln for ln in (head.group(1) if head else "").splitlines() if ln.strip()]
    lines = ["# GPU session summary", ""]
    lines += [f"    {ln}" for ln in machine] + ([""] if machine else [])
    for name, title in (
        ("latency_cuda.json", "Latency (issue 7): latency_cuda.json"),
        ("latency_cuda_bf16.json", "Latency, bf16: latency_cuda_bf16.json"),
    ):
        doc, why = _load(out / name)
        if doc is not None:
            lines += _section(latency_section, doc, title)
        elif name == "latency_cuda.json":
            lines += [f"## {title}", "", f"**missed**: {why}", ""]
    doc, why = _load(out / "vram_accuracy.json")
    if doc is not None:
        lines += _section(vram_section, doc)
    else:
        lines += ["## VRAM (issue 6)", "", f"**missed**: {why}", ""]
    lines += _section(tests_section, log)
    lines += _section(ceilings_section, out)
    layers = _step_text(log, "layers")
    table = [ln for ln in layers.splitlines() if ln.startswith("|")]
    if table:
        lines += ["## Per-layer method (per_layer_method.py)", "", *table, ""]
    lines += _section(steps_section, log)
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print("usage: python benchmarks/gpu_summary.py DIR [SUMMARY_FILE]", file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    if not out.is_dir():
        print(f"gpu_summary: {out} is not a folder", file=sys.stderr)
        return 2
    text = summary(out)
    print(text)
    # DIR/summary.md by default; the device tool's files come back read-only, so a
    # summary made here of them goes elsewhere
    dest = Path(sys.argv[2]) if len(sys.argv) == 3 else out / "summary.md"
    try:
        dest.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        print(f"gpu_summary: cannot write {dest} ({exc.strerror}); printed only", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
