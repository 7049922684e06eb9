"""The HTML audit report: verdict, findings order, escaping, charts, size and well-formedness."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from typing import Any

import pytest

from audit.html import render_html

T0 = 1_790_000_000
VOID = {"meta", "input", "br", "hr", "img", "link"}
SIGNERS = [f"0x{i:040x}" for i in range(1, 6)]


def report(
    *, blocks: int = 40, anchors: int = 12, municipalities: int = 3, findings: Any = ()
) -> dict[str, Any]:
    """A report shaped like AuditReport.to_json(), with deterministic pseudo-random data."""
    rng = random.Random(7)
    nodes = [
        {
            "address": f"0x{0xA0 + i:040x}",
            "lg_code": f"{131016 + i}",
            "status": "active",
            "url": f"http://127.0.0.1:{8000 + i}",
            "anchors": 0,
            "latest_seq": None,
            "latest_tree_size": None,
            "log": "checked",
            "leaves_checked": 0,
        }
        for i in range(municipalities)
    ]
    rows: list[dict[str, Any]] = []
    weights = [1 / (i + 1) for i in range(municipalities)]  # a few busy cities, many small towns
    gap = max(1, blocks // max(anchors, 1))
    for k in range(anchors if nodes else 0):
        (node,) = rng.choices(nodes, weights)
        size, block = rng.randint(1, 200), 1 + k * gap
        node["leaves_checked"] += size
        rows.append(
            {
                "node": node["address"],
                "lg_code": node["lg_code"],
                "seq": node["anchors"],
                "tree_size": node["leaves_checked"],
                "root": "0x" + "ab" * 32,
                "block": block,
                "time": T0 + block,
                "tx_hash": "0x" + "cd" * 32,
                "batch_size": size,
                "withdrawn": False,
                "delay_seconds": None if k % 10 == 9 else rng.lognormvariate(2, 0.5),
            }
        )
        node["latest_seq"], node["latest_tree_size"] = node["anchors"], node["leaves_checked"]
        node["anchors"] += 1
    sealing = [
        {
            "block": b,
            "time": T0 + b,
            "signer": SIGNERS[b % (4 if b < blocks // 2 else 5)],
            "in_turn": True,
        }
        for b in range(1, blocks)
    ]
    history = [{"block": 0, "time": T0, "signers": SIGNERS[:4]}]
    if blocks > 2:
        history.append({"block": blocks // 2, "time": T0 + blocks // 2, "signers": SIGNERS})
    by_signer: dict[str, int] = {}
    for seal in sealing:
        by_signer[seal["signer"]] = by_signer.get(seal["signer"], 0) + 1
    found = list(findings)
    return {
        "format": "municipal-notary-audit/1",
        "generated_at": "2026-11-23T21:30:00Z",
        "duration_seconds": 12.3,
        "inputs": {
            "rpc_url": "http://127.0.0.1:8545",
            "registry": "0x" + "11" * 20,
            "nodes_file": None,
            "period": 1,
            "epoch": 30000,
        },
        "verdict": "findings" if found else "clean",
        "summary": {
            "blocks": blocks,
            "anchors": len(rows),
            "nodes": len(nodes),
            "signers": 5,
            "findings": len(found),
            "leaves_checked": sum(n["leaves_checked"] for n in nodes),
        },
        "chain": {
            "chain_id": 31337,
            "genesis_hash": "0x" + "00" * 32,
            "head_number": blocks - 1 if blocks else None,
            "head_hash": "0x" + "ff" * 32 if blocks else None,
            "head_time": T0 + blocks if blocks else None,
            "signer_history": history if blocks else [],
            "blocks_by_signer": by_signer,
            "sealing": sealing,
        },
        "registry": {
            "address": "0x" + "11" * 20,
            "code_matches_lock": True,
            "code_hash": "0x" + "22" * 32,
            "expected_code_hash": "0x" + "22" * 32,
        },
        "nodes": nodes,
        "anchors": rows,
        "findings": found,
    }


def finding(code: str, severity: str, message: str = "something happened") -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "message": message,
        "node": "0x" + "a0" * 20,
        "lg_code": "131016",
        "block": 7,
        "seq": 2,
    }


class Balance(HTMLParser):
    """Fails on any end tag that does not close the innermost open element."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"


def well_formed(page: str) -> None:
    parser = Balance()
    parser.feed(page)
    parser.close()
    assert parser.stack == []


def chart(page: str, key: str) -> ET.Element:
    match = re.search(rf'<svg id="chart-{key}".*?</svg>', page, re.S)
    assert match, f"chart {key} missing"
    return ET.fromstring(match.group(0))  # noqa: S314 -- our own output, not untrusted XML


def series(svg: ET.Element) -> list[ET.Element]:
    return [e for e in svg.iter() if "series" in e.get("class", "").split()]


def text(svg: ET.Element) -> str:
    return " ".join(t for e in svg.iter() for t in (e.text, e.tail) if t)


def test_clean_report_says_no_findings_in_green() -> None:
    page = render_html(report())
    assert 'class="verdict ok"' in page and "No findings / 指摘なし" in page
    assert "Findings / 指摘事項" not in page and 'class="verdict bad"' not in page
    assert "2026-11-23T21:30:00Z" in page and "http://127.0.0.1:8545" in page
    well_formed(page)


def test_findings_are_listed_errors_first_with_the_count_in_the_verdict() -> None:
    found = [
        finding("head-withdrawn", "warning"),
        finding("inconsistent-heads", "error"),
        finding("node-url-missing", "warning"),
        finding("sequence-gap", "error"),
    ]
    page = render_html(report(findings=found))
    assert 'class="verdict bad"' in page and "4 findings / 指摘 4 件" in page
    assert "2 errors, 2 warnings" in page
    table = page[page.index('<table id="findings"') :]
    table = table[: table.index("</table>")]
    codes = re.findall(r"<code>([a-z-]+)</code>", table)
    assert codes == ["inconsistent-heads", "sequence-gap", "head-withdrawn", "node-url-missing"]
    assert table.count("<tr>") == 5  # header + 4
    well_formed(page)


def test_untrusted_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>'
    sample = report(findings=[finding("leaves-mismatch", "error", evil)])
    sample["nodes"][0]["url"] = 'http://x/"><img src=x onerror=alert(1)>'
    sample["nodes"][0]["lg_code"] = "<b>1</b>"
    sample["anchors"][0]["lg_code"] = "<b>1</b>"
    page = render_html(sample)
    assert evil not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<img" not in page and "<b>1</b>" not in page
    well_formed(page)


def test_page_loads_nothing_from_outside() -> None:
    page = render_html(report(blocks=200, anchors=50))
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "@import" not in page and "url(" not in page
    assert "<script" not in page and "default-src 'none'" in page  # CSP: no load, no script


def test_each_chart_draws_its_series() -> None:
    page = render_html(report(blocks=60, anchors=30, municipalities=3))
    assert len(series(chart(page, "anchors"))) == 3
    assert {p.get("data-series") for p in series(chart(page, "anchors"))} == {
        "131016",
        "131017",
        "131018",
    }
    assert len(series(chart(page, "batches"))) == 1
    delay = chart(page, "delay")
    assert len(series(delay)) == 1 and "median" in text(delay) and "p90" in text(delay)
    signers = chart(page, "signers")
    assert len(series(signers)) == 5  # one row per signer, the added one included
    assert len([e for e in signers.iter() if e.get("class") == "change"]) == 1
    for key in ("anchors", "batches", "delay", "signers"):
        svg = chart(page, key)
        assert svg.find("title") is not None and svg.find("desc") is not None
    assert "3 anchors without a known delay are omitted" in page


def test_many_municipalities_fold_into_others() -> None:
    page = render_html(report(anchors=400, municipalities=20))
    lines = series(chart(page, "anchors"))
    assert len(lines) == 10 and lines[-1].get("data-series") == "others, mean of 11"


@pytest.mark.parametrize("blocks", [0, 1, 2])
def test_empty_chain_and_no_anchors_say_no_data(blocks: int) -> None:
    sample = report(blocks=blocks, anchors=0, municipalities=0)
    page = render_html(sample)
    assert "No findings" in page
    for key in ("anchors", "batches", "delay"):
        assert "No data" in text(chart(page, key))
    assert ("No data" in text(chart(page, "signers"))) == (blocks <= 1)
    well_formed(page)


def test_one_anchor_and_no_delays() -> None:
    sample = report(blocks=3, anchors=1, municipalities=1)
    sample["anchors"][0]["delay_seconds"] = None
    page = render_html(sample)
    assert len(series(chart(page, "anchors"))) == 1 and len(series(chart(page, "batches"))) == 1
    assert "No data" in text(chart(page, "delay"))
    well_formed(page)


def test_large_chain_stays_small_and_parses() -> None:
    sample = report(blocks=10_001, anchors=1_000, municipalities=30)
    assert len(sample["chain"]["sealing"]) == 10_000
    page = render_html(sample)
    assert len(page.encode()) < 300_000
    for key in ("anchors", "batches", "delay", "signers"):
        chart(page, key)
    well_formed(page)


def test_registry_mismatch_is_shown() -> None:
    sample = report()
    sample["registry"]["code_matches_lock"] = False
    sample["registry"]["code_hash"] = "0x" + "99" * 32
    page = render_html(sample)
    assert "No / 不一致" in page and "0x" + "99" * 32 in page


def test_tables_list_every_node_and_signer_change() -> None:
    page = render_html(report(blocks=60, anchors=30, municipalities=3))
    nodes = page[page.index('<table id="nodes"') :]
    assert nodes[: nodes.index("</table>")].count("<tr>") == 1 + 3
    assert "http://127.0.0.1:8001" in nodes and "Yes / 一致" in page
    history = page[page.index('<table id="history"') :]
    history = history[: history.index("</table>")]
    assert history.count("<tr>") == 1 + 2 and "genesis" in history and "+<code" in history


def test_forged_times_and_odd_delays_still_render() -> None:
    sample = report(blocks=30, anchors=10)
    sample["anchors"][-1]["time"] = 2**64 - 1  # a forged block timestamp is a finding, not a crash
    sample["anchors"][0]["delay_seconds"] = -5.0
    sample["chain"]["head_time"] = 2**64 - 1
    page = render_html(sample)
    assert len(series(chart(page, "anchors"))) >= 1 and str(2**64 - 1) in page
    well_formed(page)
