"""Plotly figure specs (plain dicts, drawn in the page by the plotly.min.js that ships inside the
``plotly`` package): the case map, the link graph, and the dashboards. Pure: no I/O.

The map has no base tiles (banks run the console offline): card-present uses are drawn on their
coordinates, equal-distance scaled, with the places named, the route in time order and the
implied speed between consecutive uses — the geometry an analyst needs for "too far, too fast".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dunpai.web.i18n import place_name, text_of

ACTION_COLOURS = {"allow": "#2e7d32", "verify": "#f9a825", "delay": "#ef6c00", "restrict": "#c62828",
                  "freeze": "#4a148c", "": "#607d8b"}
KIND_COLOURS = {"employee": "#6a1b9a", "customer": "#1565c0", "account": "#00838f", "card": "#c62828",
                "device": "#ef6c00", "payee": "#5d4037", "terminal": "#2e7d32", "merchant": "#9e9d24"}
KIND_ORDER = ("employee", "customer", "account", "card", "device", "payee", "terminal", "merchant")
FONT = {"family": "Noto Sans CJK SC, WenQuanYi Micro Hei, sans-serif", "size": 12}


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(h))


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title, "font": {"size": 14}}, "font": FONT, "margin": {"l": 50, "r": 20, "t": 40,
                                                                                       "b": 40},
            "paper_bgcolor": "#ffffff", "plot_bgcolor": "#f7f9fb", **extra}


def case_map(events: Sequence[Mapping[str, Any]], title: str, lang: str) -> dict[str, Any]:
    """Card-present uses (coloured by decision) and the app's locations, on their coordinates."""
    uses = [e for e in events if e.get("type") == "card_present" and e.get("terminal_location")]
    apps = [e for e in events if e.get("type") in ("login", "mobile_transfer", "device") and e.get("location")]
    traces: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    links: list[tuple[tuple[float, float], tuple[float, float], str]] = []
    pts = [(float(e["terminal_location"]["lat"]), float(e["terminal_location"]["lon"])) for e in uses]
    if uses:
        traces.append({"type": "scatter", "mode": "lines", "x": [p[1] for p in pts], "y": [p[0] for p in pts],
                       "line": {"color": "#90a4ae", "width": 1.5, "dash": "dot"}, "hoverinfo": "skip",
                       "name": "路线" if lang == "zh" else "route", "showlegend": False})
        by_action: dict[str, list[int]] = {}
        for i, e in enumerate(uses):
            by_action.setdefault((e.get("decision") or {}).get("action", ""), []).append(i)
        for action, idx in by_action.items():
            traces.append({
                "type": "scatter", "mode": "markers",
                "name": f"{'刷卡' if lang == 'zh' else 'card use'}: {text_of('action', action, lang)}",
                "x": [pts[i][1] for i in idx], "y": [pts[i][0] for i in idx],
                "marker": {"size": 13, "color": ACTION_COLOURS.get(action, "#607d8b"),
                           "line": {"color": "#fff", "width": 1}},
                "text": [f"{uses[i]['event_time'][5:16].replace('T', ' ')} {uses[i].get('terminal_id', '')}<br>"
                         f"{place_name((uses[i]['terminal_location'] or {}).get('city', ''), lang)} "
                         f"{uses[i].get('txn', '')} "
                         f"¥{int(uses[i].get('amount', 0)) / 100:,.0f} ({uses[i].get('pos_entry_mode', '')})"
                         for i in idx],
                "hovertemplate": "%{text}<extra></extra>",
            })
        places: dict[str, tuple[float, float]] = {}
        for e, p in zip(uses, pts, strict=True):
            city = (e["terminal_location"] or {}).get("city")
            places.setdefault(place_name(city, lang) if city else e.get("terminal_id", ""), p)
        for name, p in places.items():
            annotations.append({"x": p[1], "y": p[0], "text": f"<b>{name}</b>", "showarrow": False, "yshift": 16,
                                "font": {"size": 13}})
        # The decisive geometry: the customer's own phone, seen shortly before, far from the card use.
        for e, p in zip(uses, pts, strict=True):
            before = [a for a in apps if a["event_time"] <= e["event_time"]]
            if not before:
                continue
            last = before[-1]
            q = (float(last["location"]["lat"]), float(last["location"]["lon"]))
            km = _km(q, p)
            if km < 20:
                continue
            hours = max((datetime.fromisoformat(e["event_time"]) - datetime.fromisoformat(last["event_time"]))
                        .total_seconds() / 3600, 1 / 60)
            links.append((q, p, f"{'手机' if lang == 'zh' else 'phone'} {last['event_time'][11:16]} → "
                                f"{'刷卡' if lang == 'zh' else 'card'} {e['event_time'][11:16]}: {km:.0f} km / "
                                f"{hours * 60:.0f} min"))
    if apps:
        traces.append({
            "type": "scatter", "mode": "markers", "name": "手机银行位置" if lang == "zh" else "app location",
            "x": [float(e["location"]["lon"]) for e in apps], "y": [float(e["location"]["lat"]) for e in apps],
            "marker": {"size": 10, "symbol": "diamond", "color": "#1565c0"},
            "text": [f"{e['event_time'][5:16].replace('T', ' ')} {e['type']} {e.get('device_id', '')}" for e in apps],
            "hovertemplate": "%{text}<extra></extra>"})
    seen_links: set[tuple[float, float]] = set()
    for q, p, label in links:
        if q in seen_links:
            continue
        seen_links.add(q)
        traces.append({"type": "scatter", "mode": "lines", "x": [q[1], p[1]], "y": [q[0], p[0]], "showlegend": False,
                       "line": {"color": "#c62828", "width": 2}, "hoverinfo": "skip"})
        annotations.append({"x": (q[1] + p[1]) / 2, "y": (q[0] + p[0]) / 2, "showarrow": False, "text": label,
                            "font": {"color": "#c62828", "size": 12}, "bgcolor": "rgba(255,255,255,0.85)"})
    lats = [p[0] for p in pts] + [float(e["location"]["lat"]) for e in apps]
    mid = sum(lats) / len(lats) if lats else 23.0
    return {"data": traces, "layout": _layout(
        title, annotations=annotations, height=440, legend={"orientation": "h", "y": -0.22},
        xaxis={"title": {"text": "经度" if lang == "zh" else "longitude"}, "zeroline": False, "gridcolor": "#e0e6ec"},
        yaxis={"title": {"text": "纬度" if lang == "zh" else "latitude"}, "zeroline": False, "gridcolor": "#e0e6ec",
               "scaleanchor": "x",
               "scaleratio": 1 / max(math.cos(math.radians(mid)), 0.2)})}


def link_graph(events: Sequence[Mapping[str, Any]], case_entities: Sequence[tuple[str, str]], title: str,
               lang: str, max_nodes: int = 60) -> dict[str, Any]:
    """Cards, accounts, devices, terminals, payees and employees linked by the case's events (cards
    by their masked numbers)."""
    masks = {str(e["card_id"]): str(e["card_masked"]) for e in events if e.get("card_id") and e.get("card_masked")}
    edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()

    def link(e: Mapping[str, Any], a: str, b: str) -> None:
        if e.get(f"{a}_id") and e.get(f"{b}_id"):
            edges.add(((a, str(e[f"{a}_id"])), (b, str(e[f"{b}_id"]))))

    for e in events:
        for a, b in (("customer", "account"), ("customer", "card"), ("customer", "device"), ("card", "terminal"),
                     ("account", "payee"), ("device", "payee"), ("employee", "customer"), ("card", "merchant"),
                     ("account", "card")):
            link(e, a, b)
    nodes: list[tuple[str, str]] = []
    for pair in sorted({n for edge in edges for n in edge} | set(case_entities),
                       key=lambda n: (KIND_ORDER.index(n[0]) if n[0] in KIND_ORDER else 99, n[1])):
        if len(nodes) < max_nodes:
            nodes.append(pair)
    pos: dict[tuple[str, str], tuple[float, float]] = {}
    present = [k for k in KIND_ORDER if any(n[0] == k for n in nodes)]
    for col, kind in enumerate(present):
        members = [n for n in nodes if n[0] == kind]
        for i, n in enumerate(members):
            stagger = 0.3 * (col % 2) if len(members) == 1 else 0.0  # keep straight runs of edges apart
            pos[n] = (float(col), (len(members) - 1) / 2 - i + stagger)
    ex: list[float | None] = []
    ey: list[float | None] = []
    for one, other in sorted(edges):
        if one in pos and other in pos:
            ex += [pos[one][0], pos[other][0], None]
            ey += [pos[one][1], pos[other][1], None]
    traces: list[dict[str, Any]] = [{"type": "scatter", "mode": "lines", "x": ex, "y": ey, "hoverinfo": "skip",
                                     "line": {"color": "#b0bec5", "width": 1}, "showlegend": False}]
    names = {"employee": "员工", "customer": "客户", "account": "账户", "card": "银行卡", "device": "设备",
             "payee": "收款人", "terminal": "终端", "merchant": "商户"}
    on_case = set(case_entities)
    for kind in KIND_ORDER:
        members = [n for n in nodes if n[0] == kind]
        if not members:
            continue
        traces.append({
            "type": "scatter", "mode": "markers+text", "name": names[kind] if lang == "zh" else kind,
            "x": [pos[n][0] for n in members], "y": [pos[n][1] for n in members],
            "text": [masks.get(n[1], _short(n[1])) for n in members],
            "customdata": [masks.get(n[1], n[1]) for n in members],
            "textposition": "bottom center", "textfont": {"size": 10},
            "marker": {"size": [18 if n in on_case else 11 for n in members], "color": KIND_COLOURS[kind],
                       "line": {"color": ["#000" if n in on_case else "#fff" for n in members], "width": 1.5}},
            "hovertemplate": f"{text_of('entity', kind, lang)}: %{{customdata}}<extra></extra>"})
    used = list(range(len(present)))
    rows = max((sum(1 for n in nodes if n[0] == k) for k in KIND_ORDER), default=1)
    return {"data": traces, "layout": _layout(
        title, height=max(320, 44 * rows + 90),
        showlegend=True, legend={"orientation": "h", "y": -0.05},
        xaxis={"visible": False, "range": [min(used, default=0) - 0.5, max(used, default=0) + 0.5]},
        yaxis={"visible": False, "range": [-(rows + 1) / 2, (rows + 1) / 2 - 0.2]})}


def _short(key: str, keep: int = 14) -> str:
    return key if len(key) <= keep else key[:keep - 1] + "…"


def stacked_bars(x: Sequence[str], series: Mapping[str, Sequence[int]], title: str,
                 colours: Mapping[str, str] | None = None, names: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``names``: each series' name in the page's language (the keys are codes)."""
    data = [{"type": "bar", "name": (names or {}).get(name, name), "x": list(x), "y": list(ys),
             **({"marker": {"color": colours[name]}} if colours and name in colours else {})}
            for name, ys in series.items() if any(ys)]
    # The buckets are labels ("03-12", "03-12 06:00"), not times: a category axis shows them as
    # written (a date axis over a few days labels its ticks "23:59:59.9996").
    return {"data": data, "layout": _layout(title, barmode="stack", height=320, legend={"orientation": "h",
                                                                                          "y": -0.3},
                                            xaxis={"type": "category", "tickangle": -30, "automargin": True},
                                            yaxis={"rangemode": "tozero", "tickformat": ",d"})}


def log_ticks(top: float) -> dict[str, Any]:
    """Ticks of a log axis at 1, 10, 100, ... up to ``top``, written out in full (Plotly's own
    minor labels "2 5 2 5" overlap on a short axis)."""
    vals = [10**k for k in range(0, max(1, math.ceil(math.log10(max(top, 1.0)))) + 1)]
    return {"type": "log", "tickmode": "array", "tickvals": vals, "ticktext": [f"{v:,}" for v in vals],
            "range": [-0.1, math.log10(vals[-1]) + 0.05]}


def bars(x: Sequence[Any], y: Sequence[float], title: str, colour: str = "#1565c0", *,
         y_title: str = "", horizontal: bool = False, text: Sequence[str] | None = None,
         log_y: bool = False) -> dict[str, Any]:
    trace: dict[str, Any] = {"type": "bar", "marker": {"color": colour}}
    if horizontal:
        trace.update(x=list(y), y=list(x), orientation="h")
    else:
        trace.update(x=list(x), y=list(y))
    if text is not None:
        trace.update(text=list(text), textposition="auto")
    layout = _layout(title, height=320 if not horizontal else max(320, 22 * len(x) + 80))
    if horizontal:
        layout["yaxis"] = {"autorange": "reversed", "automargin": True}
        layout["xaxis"] = {"title": {"text": y_title}}
    else:
        layout["xaxis"] = {"type": "category", "automargin": True}
        layout["yaxis"] = {"title": {"text": y_title}, **(log_ticks(max(y, default=1)) if log_y else
                                                          {"rangemode": "tozero"})}
    return {"data": [trace], "layout": layout}
