"""The audit report as one self-contained HTML page for regulators and auditors.

Everything is inline (CSS, SVG charts drawn here, no script) so the file can be archived, mailed
and opened offline, and a Content-Security-Policy forbids loading or running anything. Every value
taken from the report is escaped: node URLs, messages and addresses come from parties under audit.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any

W = 760  # chart viewBox width; the page scales it
# Paul Tol's "muted" scheme: distinguishable with the common colour-vision deficiencies.
PALETTE = (
    "#332288",
    "#88CCEE",
    "#117733",
    "#DDCC77",
    "#CC6677",
    "#44AA99",
    "#882255",
    "#999933",
    "#AA4499",
)
OTHERS = "#999999"
BUCKETS = 120  # time/block buckets: keeps the SVG small however long the chain is
TIME_STEPS = (
    1,
    5,
    15,
    30,
    60,
    300,
    900,
    1800,
    3600,
    10800,
    21600,
    43200,
    86400,
    172800,
    604800,
    2592000,
    7776000,
    31536000,
)


def _e(value: Any) -> str:
    return escape("—" if value is None else str(value), quote=True)


def _num(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.3g}"


def _utc(unix: float | None, fmt: str = "%Y-%m-%d %H:%M:%S UTC") -> str:
    try:
        return "—" if unix is None else datetime.fromtimestamp(unix, UTC).strftime(fmt)
    except (OverflowError, ValueError, OSError):  # a forged header time is itself a finding
        return str(unix)


def _short(address: str | None) -> str:
    return f"{address[:6]}…{address[-4:]}" if address and len(address) > 14 else address or "—"


def _dur(seconds: float) -> str:
    unit, div = _unit(seconds)
    return f"{seconds / div:.3g} {unit}"


def _unit(seconds: float) -> tuple[str, float]:
    """The unit that keeps axis numbers readable for a span of this many seconds."""
    for unit, div in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * div:
            return unit, div
    return "s", 1.0


# ---------------------------------------------------------------------------- scales and axes


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return float(next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw * (1 - 1e-9)))


def _nice_max(value: float) -> float:
    step = _nice_step(value / 5)
    return max(step, math.ceil(value / step) * step)


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    step = _nice_step((hi - lo) / count)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _time_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    years = 31536000 * _nice_step((hi - lo) / 31536000 / 6)  # forged times span aeons
    step = next((s for s in TIME_STEPS if (hi - lo) / s <= 6), int(years))
    fmt = "%Y-%m-%d" if step >= 86400 else "%m-%d %H:%M" if step >= 60 else "%H:%M:%S"
    first = math.ceil(lo / step) * step
    return [(t, _utc(t, fmt)) for t in range(first, int(hi) + 1, step)]


def _widen(lo: float, hi: float, least: float) -> tuple[float, float]:
    """Centre a too-narrow domain (one data point would even divide by zero) in `least`."""
    mid = (lo + hi) / 2
    return (mid - least / 2, mid + least / 2) if hi - lo < least else (lo, hi)


@dataclass(frozen=True)
class _Plot:
    x0: float
    x1: float
    y0: float
    y1: float
    height: int = 270
    left: int = 64
    top: int = 34
    bottom: int = 40

    def x(self, value: float) -> float:
        return round(self.left + (value - self.x0) / (self.x1 - self.x0) * (W - self.left - 28), 1)

    def y(self, value: float) -> float:
        span = self.height - self.top - self.bottom
        return round(self.height - self.bottom - (value - self.y0) / (self.y1 - self.y0) * span, 1)

    def axes(
        self,
        xticks: Iterable[tuple[float, str]],
        xlabel: str,
        ylabel: str,
        yticks: Iterable[tuple[float, str]] | None = None,
    ) -> str:
        """Axes with tick labels; y ticks default to whole numbers (every y axis counts)."""
        if yticks is None:
            yticks = [(v, _num(v)) for v in _ticks(self.y0, self.y1) if v.is_integer()]
        base, right = self.height - self.bottom, W - 28
        out = [
            f'<line class="ax" x1="{self.left}" y1="{base}" x2="{right}" y2="{base}"/>',
            f'<line class="ax" x1="{self.left}" y1="{self.top}" x2="{self.left}" y2="{base}"/>',
        ]
        for value, label in xticks:
            x = self.x(value)
            anchor = "end" if x > right - 30 else "middle"  # keep the last label inside
            out.append(
                f'<line class="ax" x1="{x}" y1="{base}" x2="{x}" y2="{base + 4}"/>'
                f'<text x="{x}" y="{base + 16}" text-anchor="{anchor}">{_e(label)}</text>'
            )
        for value, label in yticks:
            y = self.y(value)
            out.append(
                f'<line class="grid" x1="{self.left}" y1="{y}" x2="{right}" y2="{y}"/>'
                f'<text x="{self.left - 6}" y="{y + 4}" text-anchor="end">'
                f"{_e(label)}</text>"
            )
        out.append(
            f'<text x="{(self.left + right) / 2}" y="{base + 32}" '
            f'text-anchor="middle">{_e(xlabel)}</text>'
        )
        out.append(f'<text x="14" y="{self.top - 10}">{_e(ylabel)}</text>')
        return "".join(out)


def _svg(key: str, title: str, desc: str, height: int, body: str) -> str:
    ids = f"chart-{key}-t chart-{key}-d"
    return (
        f'<svg id="chart-{key}" viewBox="0 0 {W} {height}" role="img" aria-labelledby="{ids}">'
        f'<title id="chart-{key}-t">{_e(title)}</title>'
        f'<desc id="chart-{key}-d">{_e(desc)}</desc>'
        f'<text class="ct" x="{W / 2}" y="18" text-anchor="middle">{_e(title)}</text>'
        f"{body}</svg>"
    )


def _no_data(key: str, title: str) -> str:
    text = f'<text class="nodata" x="{W / 2}" y="90" text-anchor="middle">No data / データなし'
    return _svg(key, title, "No data.", 140, text + "</text>")


def _figure(svg: str, caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>"


def _timed(anchors: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted((a for a in anchors if a.get("time") is not None), key=lambda a: a["time"])


# ---------------------------------------------------------------------------- charts


def _anchors_chart(anchors: Sequence[Mapping[str, Any]], head_time: int | None) -> str:
    title = "Anchors per municipality over time / 自治体別アンカー累積数"
    timed = _timed(anchors)
    if not timed:
        return _figure(_no_data("anchors", title), "No anchors on chain.")
    by_key: dict[str, list[float]] = defaultdict(list)
    for anchor in timed:
        by_key[anchor.get("lg_code") or _short(anchor["node"])].append(anchor["time"])
    ranked = sorted(by_key, key=lambda k: (-len(by_key[k]), k))
    series = [(k, by_key[k], PALETTE[i], 1) for i, k in enumerate(ranked[: len(PALETTE)])]
    if rest := ranked[len(PALETTE) :]:
        # The sum of many small municipalities would dwarf the named lines: plot their mean.
        merged = sorted(t for k in rest for t in by_key[k])
        series.append((f"others, mean of {len(rest)}", merged, OTHERS, len(rest)))
    x0, x1 = _widen(timed[0]["time"], max(timed[-1]["time"], head_time or 0), 60)
    rows = math.ceil(len(series) / 4)  # legend rows under the x axis
    top = _nice_max(max(len(s[1]) / s[3] for s in series))
    plot = _Plot(x0, x1, 0, top, height=270 + 18 * rows, bottom=40 + 18 * rows)
    body = [plot.axes(_time_ticks(x0, x1), "time (UTC)", "anchors")]
    for index, (label, times, colour, per) in enumerate(series):
        total = f"{len(times):,}" + (" total" if per > 1 else "")
        body.append(
            f'<path class="series" data-series="{_e(label)}" stroke="{colour}" '
            f'd="{_step_path(plot, times, per)}"><title>{_e(label)}: {total}</title>'
            "</path>"
        )
        lx, ly = 70 + (index % 4) * 170, plot.y(0) + 52 + 18 * (index // 4)
        body.append(
            f'<rect x="{lx}" y="{ly - 9}" width="14" height="10" fill="{colour}"/>'
            f'<text x="{lx + 19}" y="{ly}">{_e(label)} ({total})</text>'
        )
    caption = f"{len(timed):,} anchors from {len(by_key)} municipalities; lines are cumulative."
    desc = f"Cumulative anchors per municipality over time. {caption}"
    return _figure(_svg("anchors", title, desc, plot.height, "".join(body)), caption)


def _step_path(plot: _Plot, times: Sequence[float], per: int) -> str:
    """A cumulative step line (count / per), keeping only the last count per pixel column."""
    last: dict[int, tuple[float, float]] = {}
    for count, when in enumerate(times, 1):
        x = plot.x(when)
        last[int(x)] = (x, count / per)
    steps = "".join(f"H{x}V{plot.y(count)}" for x, count in last.values())
    return f"M{plot.x(plot.x0)},{plot.y(0)}{steps}H{plot.x(plot.x1)}"


def _batch_chart(anchors: Sequence[Mapping[str, Any]]) -> str:
    title = "Batch sizes: entries per anchor / アンカーあたりの件数"
    timed = _timed(anchors)
    if not timed:
        return _figure(_no_data("batches", title), "No anchors on chain.")
    sizes = sorted(a["batch_size"] for a in timed)
    median, top = statistics.median(sizes), sizes[-1]
    x0, x1 = _widen(timed[0]["time"], timed[-1]["time"], 60)
    plot = _Plot(x0, x1, 0, _nice_max(top))
    buckets: list[list[int]] = [[] for _ in range(BUCKETS)]
    for anchor in timed:
        buckets[min(BUCKETS - 1, int((anchor["time"] - x0) / (x1 - x0) * BUCKETS))].append(
            anchor["batch_size"]
        )
    marks = []
    for index, values in enumerate(buckets):
        if not values:
            continue
        x = plot.x(x0 + (index + 0.5) * (x1 - x0) / BUCKETS)
        if min(values) < max(values):
            marks.append(
                f'<line x1="{x}" y1="{plot.y(min(values))}" x2="{x}" y2="{plot.y(max(values))}"/>'
            )
        marks.append(f'<circle cx="{x}" cy="{plot.y(statistics.median(values))}" r="3"/>')
    ym = plot.y(median)
    body = (
        plot.axes(_time_ticks(x0, x1), "time (UTC)", "entries")
        + f'<g class="series" stroke="{PALETTE[0]}" fill="{PALETTE[0]}">{"".join(marks)}</g>'
        + f'<line class="mark" x1="{plot.left}" y1="{ym}" x2="{W - 28}" y2="{ym}"/>'
        + f'<text class="note" x="{W - 30}" y="{ym - 4}" text-anchor="end">'
        f"median {_num(median)}</text>"
    )
    desc = f"Entries per anchor over time; median {_num(median)}, max {_num(top)}."
    caption = (
        f"Median {_num(median)}, max {_num(top)} entries per anchor "
        f"({len(sizes):,} anchors). Dots: median per time slice; lines: min–max in it."
    )
    return _figure(_svg("batches", title, desc, plot.height, body), caption)


def _delay_chart(anchors: Sequence[Mapping[str, Any]]) -> str:
    title = "Anchoring delay: seal to block / アンカー遅延"
    delays = sorted(
        float(a["delay_seconds"]) for a in anchors if a.get("delay_seconds") is not None
    )
    if not delays:
        return _figure(_no_data("delay", title), "No anchor has a known delay.")
    unit, div = _unit(delays[-1])
    values = [d / div for d in delays]
    lo = min(0.0, values[0])
    width = _nice_step((values[-1] - lo) / 30)
    hist = Counter(math.floor((v - lo) / width) for v in values)
    bins = max(hist) + 1
    plot = _Plot(lo, lo + bins * width, 0, _nice_max(max(hist.values())))
    bars = "".join(
        f'<rect class="bar" x="{plot.x(lo + i * width)}" y="{plot.y(n)}" '
        f'width="{max(1.0, round(plot.x(lo + width) - plot.x(lo) - 1, 1))}" '
        f'height="{round(plot.y(0) - plot.y(n), 1)}"><title>{n}</title></rect>'
        for i, n in sorted(hist.items())
    )
    median, p90 = statistics.median(delays), delays[math.ceil(0.9 * len(delays)) - 1]
    marks = "".join(
        f'<line class="mark" x1="{plot.x(v / div)}" y1="{plot.top}" x2="{plot.x(v / div)}" '
        f'y2="{plot.y(0)}"/><text class="note" x="{plot.x(v / div) + 4}" y="{plot.top + 12 + dy}">'
        f"{name} {_dur(v)}</text>"
        for name, v, dy in (("median", median, 0), ("p90", p90, 14))
    )
    xticks = [(v, _num(v)) for v in _ticks(plot.x0, plot.x1)]
    body = plot.axes(xticks, f"delay ({unit})", "anchors") + (
        f'<g class="series" fill="{PALETTE[2]}">{bars}</g>{marks}'
    )
    desc = f"Histogram of {len(delays)} anchoring delays; median {_dur(median)}, p90 {_dur(p90)}."
    omitted = len(anchors) - len(delays)
    caption = f"Median {_dur(median)}, p90 {_dur(p90)}, max {_dur(delays[-1])}" + (
        f"; {omitted} anchors without a known delay are omitted." if omitted else "."
    )
    return _figure(_svg("delay", title, desc, plot.height, body), caption)


def _signer_chart(chain: Mapping[str, Any], names: Mapping[str, str]) -> str:
    title = "Signer rotation: who sealed which blocks / 署名者の推移"
    sealing, history = chain.get("sealing") or [], chain.get("signer_history") or []
    if not sealing:
        return _figure(_no_data("signers", title), "No sealed blocks beyond genesis.")
    signers = list(
        dict.fromkeys([s for h in history for s in h["signers"]] + [s["signer"] for s in sealing])
    )
    blocks = [s["block"] for s in sealing]
    x0, x1 = _widen(min(blocks), max(blocks) + 1, 1)
    row = 22
    plot = _Plot(x0, x1, 0, 1, height=74 + row * len(signers), left=190)
    xticks = [(v, _num(v)) for v in _ticks(x0, x1) if v.is_integer()]
    body = [plot.axes(xticks, "block number", "", yticks=[])]
    body += _membership_bands(plot, history, signers, row)
    body += _density_rows(plot, sealing, signers, row, names)
    for change in history[1:]:
        x = plot.x(change["block"])
        tip = f"block {change['block']}: {len(change['signers'])} signers"
        body.append(
            f'<line class="change" x1="{x}" y1="{plot.top - 4}" x2="{x}" '
            f'y2="{plot.y(0)}"><title>{_e(tip)}</title></line>'
        )
    desc = (
        f"{len(sealing)} sealed blocks by {len(signers)} signers; "
        f"{len(history) - 1} signer set changes marked as dashed lines."
    )
    caption = (
        "Dark = share of blocks sealed in that slice; pale band = authorised signer; "
        "dashed red line = signer set changed."
    )
    return _figure(_svg("signers", title, desc, plot.height, "".join(body)), caption)


def _membership_bands(
    plot: _Plot, history: Sequence[Mapping[str, Any]], signers: list[str], row: int
) -> list[str]:
    ends = [h["block"] for h in history[1:]] + [plot.x1]
    out = []
    for entry, end in zip(history, ends, strict=True):
        x, x_end = plot.x(max(entry["block"], plot.x0)), plot.x(min(end, plot.x1))
        out += [
            f'<rect class="band" x="{x}" y="{plot.top + signers.index(s) * row + 2}" '
            f'width="{max(0.0, round(x_end - x, 1))}" height="{row - 4}"/>'
            for s in entry["signers"]
        ]
    return out


def _density_rows(
    plot: _Plot,
    sealing: Sequence[Mapping[str, Any]],
    signers: list[str],
    row: int,
    names: Mapping[str, str],
) -> list[str]:
    """One row per signer; adjacent slices of equal (quantised) share merge into one rect."""
    count = min(BUCKETS, len(sealing))
    slot = (plot.x1 - plot.x0) / count
    sealed: dict[str, Counter[int]] = defaultdict(Counter)
    totals: Counter[int] = Counter()
    for seal in sealing:
        index = min(count - 1, int((seal["block"] - plot.x0) / slot))
        sealed[seal["signer"]][index] += 1
        totals[index] += 1
    peak = max(n / totals[i] for c in sealed.values() for i, n in c.items())
    out = []
    for position, signer in enumerate(signers):
        y, shares = plot.top + position * row, sealed[signer]
        levels = [
            0 if not shares[i] else math.ceil(4 * shares[i] / totals[i] / peak)
            for i in range(count)
        ]
        rects, start = [], 0
        for i in range(1, count + 1):
            if i == count or levels[i] != levels[start]:
                if levels[start]:
                    x, end = plot.x(plot.x0 + start * slot), plot.x(plot.x0 + i * slot)
                    rects.append(
                        f'<rect x="{x}" y="{y + 5}" width="{round(end - x, 1)}" '
                        f'height="{row - 10}" opacity="{levels[start] / 4}"/>'
                    )
                start = i
        label = f"{names.get(signer, '')} {_short(signer)} ({sum(shares.values()):,})".strip()
        out.append(
            f'<g class="series" data-series="{_e(signer)}" fill="{PALETTE[0]}">'
            f"<title>{_e(signer)}: {sum(shares.values()):,} blocks</title>"
            f'<text class="label" x="{plot.left - 6}" y="{y + row / 2 + 4}" '
            f'text-anchor="end">{_e(label)}</text>{"".join(rects)}</g>'
        )
    return out


# ---------------------------------------------------------------------------- page sections


def _table(key: str, head: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Cells must already be HTML (escaped by the caller)."""
    thead = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    body = body or f'<tr><td colspan="{len(head)}">None / なし</td></tr>'
    return f'<table id="{key}"><thead><tr>{thead}</tr></thead><tbody>{body}</tbody></table>'


def _section(title: str, body: str) -> str:
    return f"<section><h2>{title}</h2>{body}</section>"


def _facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column list of label and (already escaped) value."""
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in pairs) + "</dl>"


def _badge(text: Any, tone: str) -> str:
    return f'<span class="badge {tone}">{_e(text)}</span>'


def _addr(address: str | None) -> str:
    return f'<code title="{_e(address)}">{_e(_short(address))}</code>'


def _header(report: Mapping[str, Any]) -> str:
    findings = report.get("findings") or []
    count = max(len(findings), report["summary"].get("findings", 0))
    errors = sum(f["severity"] == "error" for f in findings)
    if report["verdict"] == "clean" and not count:
        verdict = '<p class="verdict ok">✓ No findings / 指摘なし</p>'
    else:
        verdict = (
            f'<p class="verdict bad">✗ {count} findings / 指摘 {count} 件</p>'
            f'<p class="sub">{errors} errors, {count - errors} warnings</p>'
        )
    i = report["inputs"]
    facts = [
        ("Generated / 作成", _e(report["generated_at"])),
        ("RPC", _e(i["rpc_url"])),
        ("Registry / レジストリ", f"<code>{_e(i['registry'])}</code>"),
        ("Nodes file", _e(i.get("nodes_file"))),
        ("Clique period / epoch", f"{_e(i['period'])} s / {_e(i['epoch'])}"),
        ("Format", _e(report.get("format"))),
    ]
    return f"<header><h1>Chain audit report / 監査報告書</h1>{verdict}{_facts(facts)}</header>"


def _tiles(report: Mapping[str, Any]) -> str:
    s = report["summary"]
    municipalities = len({n.get("lg_code") for n in report.get("nodes") or []})
    tiles = [
        ("Blocks / ブロック", _num(s["blocks"])),
        ("Anchors / アンカー", _num(s["anchors"])),
        ("Municipalities / nodes", f"{municipalities} / {s['nodes']}"),
        ("Signers / 署名者", _num(s["signers"])),
        ("Leaves checked / 検査済み", _num(s["leaves_checked"])),
        ("Duration / 所要時間", _dur(float(report.get("duration_seconds") or 0))),
    ]
    cells = "".join(f'<div class="tile"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for k, v in tiles)
    return f'<section class="tiles">{cells}</section>'


def _findings(findings: Sequence[Mapping[str, Any]]) -> str:
    if not findings:
        return ""
    ordered = sorted(findings, key=lambda f: f["severity"] != "error")  # stable: keeps replay order
    rows = [
        (
            _badge(f["severity"], "bad" if f["severity"] == "error" else "warn"),
            f"<code>{_e(f['code'])}</code>",
            f"{_e(f.get('lg_code'))} {_addr(f.get('node')) if f.get('node') else ''}",
            _e(f.get("seq")),
            _e(f.get("block")),
            _e(f["message"]),
        )
        for f in ordered
    ]
    head = ("Severity / 重要度", "Code", "Node / 自治体", "Seq", "Block", "Message / 内容")
    return _section("Findings / 指摘事項", _table("findings", head, rows))


NODE_TONES = {"active": "ok", "checked": "ok", "suspended": "warn", "no-url": "warn"}


def _nodes(nodes: Sequence[Mapping[str, Any]]) -> str:
    rows = [
        (
            _e(n.get("lg_code")),
            _addr(n["address"]),
            _badge(n["status"], NODE_TONES.get(n["status"], "bad")),
            _e(n.get("url")),
            _num(n["anchors"]),
            f"{_e(n.get('latest_seq'))} / {_e(n.get('latest_tree_size'))}",
            _badge(n["log"], NODE_TONES.get(n["log"], "bad")),
            _num(n["leaves_checked"]),
        )
        for n in sorted(nodes, key=lambda n: (n.get("lg_code") or "", n["address"]))
    ]
    head = (
        "Municipality / 自治体コード",
        "Address",
        "Status / 状態",
        "URL",
        "Anchors",
        "Latest seq / size",
        "Log check / ログ検査",
        "Leaves checked",
    )
    return _section("Nodes / ノード", _table("nodes", head, rows))


def _registry(report: Mapping[str, Any]) -> str:
    r, c = report["registry"], report["chain"]
    match = _badge("Yes / 一致", "ok") if r["code_matches_lock"] else _badge("No / 不一致", "bad")
    facts = [
        ("Registry address", r["address"]),
        ("Deployed code hash", r["code_hash"]),
        ("Expected (lock file)", r["expected_code_hash"]),
        ("Chain ID", c.get("chain_id")),
        ("Genesis hash", c.get("genesis_hash")),
        ("Head block", c.get("head_number")),
        ("Head hash", c.get("head_hash")),
        ("Head time", _utc(c.get("head_time"))),
    ]
    body = _facts((k, f"<code>{_e(v)}</code>") for k, v in facts)
    return _section(
        "Registry code and chain / レジストリのコード検証",
        f"<p>Code matches the published lock: {match}</p>{body}",
    )


def _trust_root(trust_root: Mapping[str, Any] | None) -> str:
    """The published trust root checked (`--trust-root`): which one, and whether it holds."""
    if not trust_root:
        return ""
    ok = not [c for c in trust_root["findings"] if c != "trust-root-outdated"]
    verdict = _badge("Matches / 一致", "ok") if ok else _badge("Does not match / 不一致", "bad")
    governance = trust_root.get("governance") or {}
    facts = [
        ("File", _e(trust_root.get("file"))),
        ("Digest (SHA-256)", f"<code>{_e(trust_root['digest'])}</code>"),
        ("Issued", _utc(trust_root.get("issued_at"))),
        ("Covers up to block", _e(trust_root.get("as_of_block"))),
        ("Signer sets", _e(trust_root["signer_sets"])),
        (
            "Governance threshold",
            f"{_e(governance.get('threshold'))} of {len(governance.get('members') or [])}",
        ),
        ("Signed by", " ".join(_addr(a) for a in trust_root["signed_by"]) or "nobody"),
        ("Findings", _e(", ".join(trust_root["findings"]) or "none")),
    ]
    return _section(
        "Trust root / トラストルート", f"<p>Matches the chain: {verdict}</p>{_facts(facts)}"
    )


def _governance(governance: Mapping[str, Any]) -> str:
    """Every governance set and proposal: what was decided, by whom, and when it took effect."""
    sets = [
        (_num(g["block"]), _e(_utc(g.get("time"))), _num(g["epoch"]),
         f'{_num(g["threshold"])} of {_num(len(g["members"]))}', _dur(float(g["timelock_seconds"])),
         ", ".join(_addr(m) for m in g["members"]))
        for g in governance.get("sets") or []
    ]  # fmt: skip
    tones = {"executed": "ok", "open": "warn", "cancelled": "warn"}

    def step(s: Mapping[str, Any] | None) -> str:
        if not s:
            return "—"
        return f"{_addr(s['member'])} · block {_num(s['block'])} · {_e(_utc(s.get('time')))}"

    proposals = [
        (_num(p["id"]), _badge(p["outcome"], tones.get(p["outcome"], "bad")),
         f'{_addr(p["proposer"])}<br>block {_num(p["block"])} · {_e(_utc(p.get("time")))}',
         "<br>".join(f"<code>{_e(a)}</code>" for a in p["actions"]) + (
             f'<br><i>{_e(p["description"])}</i>' if p["description"] else ""),
         "<br>".join(step(a) for a in p["approvals"]) or "—",
         _e(_utc(p["ready_at"])) if p.get("ready_at") else "—",
         step(p.get("executed") or p.get("cancelled")))
        for p in governance.get("proposals") or []
    ]  # fmt: skip
    body = _table(
        "governance-sets",
        ("Block", "Time", "Epoch", "Threshold / 承認数", "Timelock", "Members / 構成員"),
        sets,
    ) + _table(
        "proposals",
        ("#", "Outcome / 結果", "Proposed by", "Actions / 内容", "Approvals / 承認",
         "Ready at", "Executed or cancelled"),
        proposals,
    )  # fmt: skip
    return _section("Governance / ガバナンス", body)


def _signers(chain: Mapping[str, Any], names: Mapping[str, str]) -> str:
    history = chain.get("signer_history") or []
    rows, previous = [], set[str]()
    for index, entry in enumerate(history):
        now = set(entry["signers"])
        change = " ".join(
            [f"+{_addr(a)}" for a in sorted(now - previous)]
            + [f"−{_addr(a)}" for a in sorted(previous - now)]
        )
        members = ", ".join(f"{_addr(a)} {_e(names.get(a, ''))}".strip() for a in entry["signers"])
        rows.append(
            (
                _num(entry["block"]),
                _e(_utc(entry.get("time"))),
                _num(len(now)),
                "genesis" if index == 0 else change,
                members,
            )
        )
        previous = now
    head = ("Block", "Time / 時刻", "Signers", "Change / 変更", "Signer set / 署名者")
    return _section("Signer history / 署名者の履歴", _table("history", head, rows))


CSS = """
:root{--ok:#1a7f37;--bad:#b42318;--warn:#9a6700;color:#222;
font:14px/1.45 system-ui,"Hiragino Sans","Yu Gothic","Noto Sans CJK JP",sans-serif}
body{max-width:1200px;margin:0 auto;padding:16px 24px}h1{font-size:20px;margin:0 0 8px}
h2{font-size:17px;border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:28px}
.verdict{font-size:34px;font-weight:700;margin:4px 0;padding:10px 16px;border-radius:6px;color:#fff}
.verdict.ok{background:var(--ok)}.verdict.bad{background:var(--bad)}.sub{margin:2px 0 8px}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:8px 0}
.facts dt{color:#666}.facts dd{margin:0;overflow-wrap:anywhere}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px;margin:16px 0}
.tile{border:1px solid #ddd;border-radius:6px;padding:8px 12px}
.tile b{display:block;font-size:22px}.tile span{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #e4e4e4;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td{overflow-wrap:anywhere}
.badge{padding:1px 6px;border-radius:4px;color:#fff;font-size:12px;white-space:nowrap}
.badge.ok{background:var(--ok)}.badge.bad{background:var(--bad)}.badge.warn{background:var(--warn)}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px}
figure{margin:0;border:1px solid #e4e4e4;border-radius:6px;padding:6px;break-inside:avoid}
figcaption{font-size:12px;color:#555;padding:0 6px}svg{width:100%;height:auto;display:block}
svg text{font-size:11px;fill:#333}svg .ct{font-size:13px;font-weight:600}.ax{stroke:#888}
.grid{stroke:#eee}path.series{fill:none;stroke-width:2}.mark{stroke:#000;stroke-dasharray:4 3}
svg .note{font-weight:600;paint-order:stroke;stroke:#fff;stroke-width:3}
.nodata{font-size:16px;fill:#888}.band{fill:#e8ecf3}
.change{stroke:#b42318;stroke-width:1.5;stroke-dasharray:5 3}
@media print{@page{size:A4;margin:12mm}body{max-width:none;padding:0;font-size:11px}
.charts{grid-template-columns:1fr}table{font-size:10px}h2{break-after:avoid}
tr{break-inside:avoid}*{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""

# No script at all: if escaping ever failed, injected markup still could not run or fetch.
CSP = "default-src 'none'; style-src 'unsafe-inline'"


def render_html(report: Mapping[str, Any]) -> str:
    """The whole report as one HTML document that loads nothing from anywhere."""
    chain, anchors = report["chain"], report.get("anchors") or []
    names = {n["address"]: n["lg_code"] for n in report.get("nodes") or [] if n.get("lg_code")}
    charts = (
        _anchors_chart(anchors, chain.get("head_time"))
        + _batch_chart(anchors)
        + _delay_chart(anchors)
        + _signer_chart(chain, names)
    )
    charts = _section("Charts / グラフ", f'<div class="charts">{charts}</div>')
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Audit report / 監査報告書 — {_e(report['verdict'])}</title>"
        f"<style>{CSS}</style></head><body>{_header(report)}{_tiles(report)}"
        f"{_findings(report.get('findings') or [])}{charts}"
        f"{_nodes(report.get('nodes') or [])}{_governance(report.get('governance') or {})}"
        f"{_registry(report)}{_trust_root(report.get('trust_root'))}{_signers(chain, names)}"
        "</body></html>\n"
    )
