"""The data diff as a pull-request comment (Markdown), as JSON, and as one self-contained HTML page.

Every value shown has been through the masking of compare.py already: reports never hold an unmasked PII value.
The HTML page has no external asset (no script, font, stylesheet or image is fetched): it can be attached to a
build, mailed or opened offline.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cicd.dbt.datadiff.compare import ColumnChange, Comparison
from cicd.dbt.datadiff.run import DiffRun, ModelDiff
from cicd.dbt.datadiff.verdict import ACKNOWLEDGEMENTS, Verdict, changed_share

MAX_COLUMNS_SHOWN = 12
BADGES = {
    "fails": "❌ fails",
    "acknowledged": "✅ acknowledged",
    "within threshold": "✅ within threshold",
    "informs": "ℹ️ informs",
    "no change": "no change",
    "not compared": "⚠️ not compared",
}


def _n(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _value(value: Any) -> str:
    if value is None:
        return "∅"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _key(key: dict[str, Any]) -> str:
    return ", ".join(_value(v) for v in key.values())


def _md(value: Any) -> str:
    """A value inside a Markdown table cell: no HTML, no cell break."""
    return _md_text(_value(value))


def _md_text(text: str) -> str:
    return html.escape(text).replace("|", "\\|")


def _code(text: str) -> str:
    return "`" + html.escape(text.replace("`", "'")).replace("|", "\\|") + "`"


def model_json(diff: ModelDiff, verdict: Verdict) -> dict[str, Any]:
    comparison = diff.comparison
    judged = verdict.by_model.get(diff.unique_id)
    data: dict[str, Any] = {
        "unique_id": diff.unique_id,
        "name": diff.name,
        "resource_type": diff.resource_type,
        "state": diff.state,
        "why": diff.reasons or [f"downstream of {', '.join(v.split('.')[-1] for v in diff.via)}"],
        "depth": diff.depth,
        "contracted": diff.contracted,
        "file": diff.file,
        "error": diff.error,
        "verdict": {"status": judged.status, "detail": judged.detail, "rules": judged.rules} if judged else None,
    }
    if comparison is not None:
        data.update(
            {
                "key": comparison.key,
                "compared_by": comparison.compared_by,
                "rows_base": comparison.rows_base,
                "rows_head": comparison.rows_head,
                "only_base": comparison.only_base,
                "only_head": comparison.only_head,
                "only_base_examples": comparison.only_base_examples,
                "only_head_examples": comparison.only_head_examples,
                "changed_rows": comparison.changed_rows,
                "changed_share": changed_share(diff),
                "duplicate_keys": comparison.duplicate_keys,
                "note": comparison.note,
                "columns": [c.__dict__ for c in comparison.columns],
                "shifts": comparison.shifts,
                "schema": {
                    "added": comparison.schema.added,
                    "removed": comparison.schema.removed,
                    "retyped": comparison.schema.retyped,
                },
            }
        )
    return data


def to_json(run: DiffRun, verdict: Verdict) -> dict[str, Any]:
    return {
        "base": run.base_label,
        "head": run.head_label,
        "data": run.data_label,
        "seconds": round(sum(v for k, v in run.timings.items() if not k.startswith("dbt_")), 2),
        "timings": {k: round(v, 2) for k, v in run.timings.items()},
        "summary": {
            "selected": len(run.models),
            "changed": len(run.changed),
            "failing": len(verdict.failing),
        },
        "exposures": run.selection.exposures,
        "models": [model_json(m, verdict) for m in run.models],
        "findings": [f.__dict__ for f in verdict.findings],
    }


def render_json(run: DiffRun, verdict: Verdict) -> str:
    return json.dumps(to_json(run, verdict), indent=2, ensure_ascii=False, default=str) + "\n"


def _rows(comparison: Comparison | None) -> str:
    if comparison is None:
        return "–"
    return f"{_n(comparison.rows_base)} → {_n(comparison.rows_head)}"


def _changed(diff: ModelDiff) -> str:
    comparison = diff.comparison
    if comparison is None or comparison.compared_by != "key":
        return "–"
    share = changed_share(diff)
    return f"{comparison.changed_rows:,}" + (f" ({share:.1%})" if share is not None and comparison.changed_rows else "")


def _columns(comparison: Comparison | None) -> str:
    if comparison is None:
        return ""
    names = [f"`{c.column}`" for c in comparison.columns[:MAX_COLUMNS_SHOWN]]
    more = len(comparison.columns) - MAX_COLUMNS_SHOWN
    return ", ".join(names) + (f" +{more}" if more > 0 else "")


def _why(diff: ModelDiff) -> str:
    if diff.reasons:
        return "; ".join(diff.reasons)
    return "downstream of " + ", ".join(f"`{v.split('.')[-1]}`" for v in diff.via)


def _num(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _shift(shift: dict[str, Any]) -> str:
    return ", ".join(f"{_value(i['what'])} {_value(i['base'])} → {_value(i['head'])}" for i in shift["items"])


def _column_lines(change: ColumnChange) -> str:
    examples = "<br>".join(f"{_code(_key(e['key']))}: {_md(e['base'])} → {_md(e['head'])}" for e in change.examples)
    extra = ""
    if change.transitions and change.transitions[0]["rows"] > 1:
        extra = "<br>moves: " + ", ".join(
            f"{_md(t['base'])} → {_md(t['head'])} ×{t['rows']}" for t in change.transitions
        )
    if change.mean_abs_delta is not None:
        extra = f"<br>mean \\|Δ\\| {_num(change.mean_abs_delta)}, max {_num(change.max_abs_delta)}"
    masked = " (masked)" if change.masked else ""
    return f"| `{change.column}`{masked} | {change.changed:,} | {examples}{extra} |"


def _details(diff: ModelDiff, verdict: Verdict) -> list[str]:
    comparison = diff.comparison
    if comparison is None or diff.state == "unchanged":
        return []
    judged = verdict.by_model.get(diff.unique_id)
    title = f"<code>{diff.name}</code>: {html.escape(judged.detail if judged else diff.state)}"
    lines = ["", f"<details><summary>{title}</summary>", ""]
    key = ", ".join(comparison.key) or "none"
    lines.append(
        f"Key: `{key}` · compared by {comparison.compared_by}" + (f" · {comparison.note}" if comparison.note else "")
    )
    for side, count, examples in (
        ("base", comparison.only_base, comparison.only_base_examples),
        ("head", comparison.only_head, comparison.only_head_examples),
    ):
        if count:
            shown = ", ".join(_code(_key(e)) for e in examples)
            lines.append(f"- {count:,} row(s) only in {side}, e.g. {shown}")
    if comparison.duplicate_keys:
        lines.append(
            "- key repeats: " + ", ".join(f"{n:,} row(s) on {side}" for side, n in comparison.duplicate_keys.items())
        )
    for shift in comparison.shifts:
        lines.append(f"- `{shift['column']}` shifted: {_md_text(_shift(shift))}")
    schema = comparison.schema
    for label, items in (
        ("columns added", [f"`{c}` {t}" for c, t in schema.added]),
        ("columns removed", [f"`{c}` {t}" for c, t in schema.removed]),
        ("types changed", [f"`{c}` {old} → {new}" for c, old, new in schema.retyped]),
    ):
        if items:
            lines.append(f"- {label}: {', '.join(items)}")
    if comparison.columns:
        lines += ["", "| column | rows changed | examples (key: base → head) |", "|---|---:|---|"]
        lines += [_column_lines(c) for c in comparison.columns]
    lines += ["", "</details>"]
    return lines


def render_markdown(run: DiffRun, verdict: Verdict) -> str:
    failing = len(verdict.failing)
    changed = len(run.changed)
    headline = f"### Data diff: {changed} of {len(run.models)} selected model(s) change"
    headline += f" · {failing} need(s) an acknowledgement" if failing else ""
    seconds = sum(v for k, v in run.timings.items() if not k.startswith("dbt_"))
    lines = [
        headline,
        "",
        f"Base: {run.base_label} · head: {run.head_label} · {run.data_label} · {seconds:.1f} s",
        "",
    ]
    if not run.models:
        lines.append("No dbt model, seed or snapshot is modified by this change, nor downstream of one.")
        return "\n".join(lines) + "\n"
    lines += [
        "| model | why selected | rows base → head | only in base | only in head | rows changed | columns | gate |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    for diff in run.models:
        comparison = diff.comparison
        judged = verdict.by_model.get(diff.unique_id)
        badge = BADGES.get(judged.status, judged.status) if judged else diff.state
        if diff.state in ("added", "removed"):
            badge = f"{diff.state} · {badge}"
        indent = "↳ " * min(diff.depth, 3)
        contract = " 🔒" if diff.contracted else ""
        lines.append(
            f"| {indent}`{diff.name}`{contract} | {_why(diff)} | {_rows(comparison)} | "
            f"{_n(comparison.only_base) if comparison else '–'} | {_n(comparison.only_head) if comparison else '–'} | "
            f"{_changed(diff)} | {_columns(comparison)} | {badge} |"
        )
    if run.selection.exposures:
        reached = ", ".join(f"`{name}`" for name in sorted(run.selection.exposures))
        lines += ["", f"Reaches exposure(s) {reached}. 🔒 = enforced contract."]
    for diff in run.models:
        lines += _details(diff, verdict)
        if diff.error:
            lines += ["", f"⚠️ `{diff.name}` not compared: {diff.error[:500]}"]
    if failing:
        lines += [
            "",
            f"A contracted model fails until `{ACKNOWLEDGEMENTS.as_posix()}` acknowledges the change "
            "(model, change, reason, approved_by), reviewed like a schema change.",
        ]
    lines += ["", "Values of PII columns are masked as in the masked copies below prod."]
    return "\n".join(lines) + "\n"


# The page: one file, inline CSS only.
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
header{background:#1d2330;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:20px}
header p{margin:0;color:#c9cfdb}main{padding:20px 28px;max-width:1200px}
.tiles{display:flex;gap:12px;margin-bottom:18px}.tile{background:#fff;border-radius:8px;padding:12px 16px;
box-shadow:0 1px 2px #0002;min-width:120px}.tile b{display:block;font-size:24px}
.card{background:#fff;border-radius:8px;box-shadow:0 1px 2px #0002;margin:0 0 14px;padding:14px 18px;
border-left:6px solid #b8c0cc}.card.fails{border-left-color:#d1242f}.card.ok{border-left-color:#1f883d}
.card.informs{border-left-color:#0969da}.card.warn{border-left-color:#bf8700}
.card h2{font-size:16px;margin:0 0 4px}.muted{color:#59636e}.depth{color:#8c959f}
.badge{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;margin-left:6px;background:#eef1f4}
.badge.fails{background:#ffebe9;color:#a40e26}.badge.ok{background:#dafbe1;color:#116329}
.badge.informs{background:#ddf4ff;color:#0550ae}.badge.warn{background:#fff8c5;color:#7d4e00}
.rows{display:flex;height:14px;border-radius:7px;overflow:hidden;margin:8px 0 4px;background:#eef1f4}
.rows span{display:block}.same{background:#c8d1da}.chg{background:#0969da}.gone{background:#d1242f}
.new{background:#1f883d}.legend span{margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;
border-radius:2px;margin-right:4px;vertical-align:middle}
table{border-collapse:collapse;width:100%;margin-top:8px}td,th{text-align:left;padding:4px 8px;
border-bottom:1px solid #eef1f4;vertical-align:top}th{font-weight:600;color:#59636e}
.bar{background:#eef1f4;border-radius:4px;height:8px;width:140px}.bar span{display:block;height:8px;
border-radius:4px;background:#0969da}code{background:#eef1f4;border-radius:4px;padding:0 4px}
.ex{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}
"""

_CLASS = {
    "fails": "fails",
    "acknowledged": "ok",
    "within threshold": "ok",
    "informs": "informs",
    "not compared": "warn",
    "no change": "",
}


def _e(value: Any) -> str:
    return html.escape(_value(value))


def _bar(parts: Iterable[tuple[str, int, str]]) -> str:
    items = [(cls, n, label) for cls, n, label in parts if n > 0]
    total = sum(n for _, n, _ in items) or 1
    spans = "".join(
        f'<span class="{cls}" style="width:{100 * n / total:.2f}%" title="{html.escape(label)}: {n:,}"></span>'
        for cls, n, label in items
    )
    return f'<div class="rows">{spans}</div>'


def _card(diff: ModelDiff, verdict: Verdict) -> str:
    judged = verdict.by_model.get(diff.unique_id)
    status = judged.status if judged else diff.state
    cls = _CLASS.get(status, "")
    comparison = diff.comparison
    head = (
        f'<h2><span class="depth">{"↳ " * min(diff.depth, 3)}</span><code>{html.escape(diff.name)}</code>'
        f'<span class="badge {cls}">{html.escape(status)}</span>'
        + ('<span class="badge">enforced contract</span>' if diff.contracted else "")
        + (f'<span class="badge">{html.escape(diff.state)}</span>' if diff.state in ("added", "removed") else "")
        + "</h2>"
    )
    body = [f'<div class="muted">{html.escape(_why(diff).replace("`", ""))}</div>']
    if judged and judged.status != "no change":
        body.append(f"<p>{html.escape(judged.detail)}</p>")
    if diff.error:
        body.append(f'<p class="muted">{html.escape(diff.error[:800])}</p>')
    if comparison is not None:
        matched = (comparison.rows_base or 0) - comparison.only_base
        same = max(matched - comparison.changed_rows, 0) if comparison.compared_by == "key" else matched
        body.append(
            _bar(
                [
                    ("same", same, "same"),
                    ("chg", comparison.changed_rows, "changed"),
                    ("gone", comparison.only_base, "only in base"),
                    ("new", comparison.only_head, "only in head"),
                ]
            )
        )
        body.append(
            '<div class="legend muted">'
            f'<span><i class="same"></i>{_n(same)} same</span>'
            f'<span><i class="chg"></i>{_n(comparison.changed_rows)} changed</span>'
            f'<span><i class="gone"></i>{_n(comparison.only_base)} only in base</span>'
            f'<span><i class="new"></i>{_n(comparison.only_head)} only in head</span>'
            f"<span>key {html.escape(', '.join(comparison.key) or 'none')} ({html.escape(comparison.compared_by)})"
            "</span></div>"
        )
        if comparison.note:
            body.append(f'<p class="muted">{html.escape(comparison.note)}</p>')
        for side, gone_or_new in (("base", comparison.only_base_examples), ("head", comparison.only_head_examples)):
            if gone_or_new:
                shown = ", ".join(f"<code>{html.escape(_key(e))}</code>" for e in gone_or_new)
                body.append(f'<p class="ex">only in {side}: {shown}</p>')
        for shift in comparison.shifts:
            body.append(
                f'<p class="ex"><code>{html.escape(shift["column"])}</code> shifted: {html.escape(_shift(shift))}</p>'
            )
        schema = comparison.schema
        if schema.changed:
            items = [f"+ {c} {t}" for c, t in schema.added] + [f"− {c} {t}" for c, t in schema.removed]
            items += [f"{c}: {old} → {new}" for c, old, new in schema.retyped]
            body.append(f'<p class="ex">schema: {html.escape("; ".join(items))}</p>')
        if comparison.columns:
            rows = []
            for change in comparison.columns:
                share = change.changed / matched if matched else 0
                cell = "<br>".join(
                    f"{html.escape(_key(e['key']))}: {_e(e['base'])} → {_e(e['head'])}" for e in change.examples
                )
                if change.transitions and change.transitions[0]["rows"] > 1:
                    cell += "<br>" + ", ".join(
                        f"{_e(t['base'])} → {_e(t['head'])} ×{t['rows']}" for t in change.transitions
                    )
                if change.mean_abs_delta is not None:
                    cell += f"<br>mean |Δ| {_num(change.mean_abs_delta)}, max {_num(change.max_abs_delta)}"
                rows.append(
                    f"<tr><td><code>{html.escape(change.column)}</code>{' (masked)' if change.masked else ''}</td>"
                    f'<td>{change.changed:,}<div class="bar"><span style="width:{100 * share:.1f}%"></span></div></td>'
                    f'<td class="ex">{cell}</td></tr>'
                )
            body.append("<table><tr><th>column</th><th>rows changed</th><th>examples: base → head</th></tr>")
            body.append("".join(rows) + "</table>")
    return f'<section class="card {cls}">{head}{"".join(body)}</section>'


def render_html(run: DiffRun, verdict: Verdict) -> str:
    seconds = sum(v for k, v in run.timings.items() if not k.startswith("dbt_"))
    tiles = [
        ("selected", len(run.models)),
        ("changed", len(run.changed)),
        ("need an acknowledgement", len(verdict.failing)),
        ("exposures reached", len(run.selection.exposures)),
    ]
    tile_html = "".join(
        f'<div class="tile"><b>{n}</b><span class="muted">{html.escape(t)}</span></div>' for t, n in tiles
    )
    cards = "".join(_card(d, verdict) for d in run.models) or "<p>No dbt model is modified by this change.</p>"
    exposures = ""
    if run.selection.exposures:
        exposures = (
            "<p>Reaches " + ", ".join(f"<code>{html.escape(e)}</code>" for e in run.selection.exposures) + "</p>"
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Data diff</title><style>{_CSS}</style></head><body>"
        f"<header><h1>Data diff</h1><p>{html.escape(run.base_label)} → {html.escape(run.head_label)} · "
        f"{html.escape(run.data_label)} · {seconds:.1f} s</p></header>"
        f'<main><div class="tiles">{tile_html}</div>{exposures}{cards}'
        '<p class="muted">Values of PII columns are masked as in the masked copies below prod.</p></main>'
        "</body></html>\n"
    )


def write(run: DiffRun, verdict: Verdict, out_dir: Path, stem: str = "data-diff") -> dict[str, Path]:
    """data-diff.md, data-diff.json and data-diff.html in out_dir (build/gate/ in the gate)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = {}
    for suffix, render in (("md", render_markdown), ("json", render_json), ("html", render_html)):
        path = out_dir / f"{stem}.{suffix}"
        path.write_text(render(run, verdict), encoding="utf-8")
        written[suffix] = path
    return written
