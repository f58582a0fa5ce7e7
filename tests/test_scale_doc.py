"""docs/scale-out.md quotes bench/results/scale.json through bench.scale_doc: the page's generated
blocks are what the file says, and rendering rewrites only them."""

from __future__ import annotations

import json

from bench import scale_doc


def test_the_page_is_what_scale_json_says() -> None:
    page = scale_doc.PAGE.read_text()
    assert page.count("<!-- end of generated block -->") == len(scale_doc.SECTIONS)
    assert scale_doc.render(page, json.loads(scale_doc.SOURCE.read_text())) == page, "run python -m bench.report"


def test_render_replaces_only_the_blocks() -> None:
    r = json.loads(scale_doc.SOURCE.read_text())
    page = ("# before\n<!-- generated: measured (x) -->\nstale 1,234\n<!-- end of generated block -->\n"
            "after\n<!-- generated: candidates (x) -->\n<!-- end of generated block -->\n")
    out = scale_doc.render(page, r)
    assert out.startswith("# before\n") and "\nafter\n" in out and "stale" not in out
    assert f"batches of {r['events']['batch']}:** {r['runs'][0]['decisions_per_s']:,.0f}, " in out
    assert f"answered from {r['kill']['recovery_s']:.2f} s" in out
    assert f"{r['candidates'][-1]['retries_per_decision']:.2f}**" in out
    assert scale_doc.render(out, r) == out
