"""Charts written next to the JSON results: PNG (matplotlib) and HTML (Plotly; its bundled
``plotly.min.js`` is written once beside the pages, so they work offline, as banks run).

Each chart compares what the results file holds: the engine model against the book's baselines on
the same test rows (PR and ROC curves, card precision at k), alerts per day, per-scenario recall.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import plotly.graph_objects as go
from sklearn.metrics import precision_recall_curve, roc_curve

Curve = tuple[np.ndarray, np.ndarray]


def _thin(x: np.ndarray, y: np.ndarray, n: int = 2000) -> Curve:
    if len(x) <= n:
        return x, y
    idx = np.unique(np.linspace(0, len(x) - 1, n).astype(int))
    return x[idx], y[idx]


def _write(fig_plt: Any, fig_html: go.Figure, out: Path, stem: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    png, html = out / f"{stem}.png", out / f"{stem}.html"
    fig_plt.savefig(png, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig_plt)
    fig_html.write_html(html, include_plotlyjs="directory", full_html=True, auto_open=False)
    return [png, html]


def pr_roc(y: np.ndarray, scores: Mapping[str, np.ndarray], out: Path, stem: str, title: str) -> list[Path]:
    """Precision-recall and ROC curves of several scorers on the same rows."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    html = go.Figure()
    for name, s in scores.items():
        p, r, _ = precision_recall_curve(y, s)
        rx, py_ = _thin(r, p)
        ax1.plot(rx, py_, label=name)
        f, t, _ = roc_curve(y, s)
        fx, ty = _thin(f, t)
        ax2.plot(fx, ty, label=name)
        html.add_trace(go.Scatter(x=rx, y=py_, name=f"{name} PR", mode="lines"))
        html.add_trace(go.Scatter(x=fx, y=ty, name=f"{name} ROC", mode="lines", xaxis="x2", yaxis="y2"))
    ax1.set(xlabel="recall", ylabel="precision", title=f"{title}: precision-recall")
    ax2.set(xlabel="false-positive rate", ylabel="true-positive rate", title=f"{title}: ROC")
    ax2.plot([0, 1], [0, 1], color="grey", lw=0.5)
    ax1.legend(fontsize=8)
    ax2.legend(fontsize=8)
    html.update_layout(title=title, xaxis={"domain": [0, 0.45], "title": "recall"},
                       yaxis={"title": "precision"}, xaxis2={"domain": [0.55, 1], "title": "FPR"},
                       yaxis2={"anchor": "x2", "title": "TPR"})
    return _write(fig, html, out, stem)


def card_precision_at_k(curves: Mapping[str, Mapping[int, float]], out: Path, stem: str, title: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(6, 4.5))
    html = go.Figure()
    for name, curve in curves.items():
        ks = sorted(curve)
        vals = [curve[k] for k in ks]
        ax.plot(ks, vals, marker="o", label=name)
        html.add_trace(go.Scatter(x=ks, y=vals, name=name, mode="lines+markers"))
    ax.set(xlabel="k (cards alerted per day)", ylabel="card precision at k", title=title, xscale="log")
    ax.legend(fontsize=8)
    html.update_layout(title=title, xaxis={"title": "k", "type": "log"}, yaxis={"title": "card precision at k"})
    return _write(fig, html, out, stem)


def bars(groups: Sequence[str], series: Mapping[str, Sequence[float]], out: Path, stem: str, title: str,
         ylabel: str) -> list[Path]:
    """Grouped bars: one group per category, one bar per series."""
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(groups) + 3), 4.5))
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    html = go.Figure()
    for i, (name, values) in enumerate(series.items()):
        ax.bar(x + i * width, values, width, label=name)
        html.add_trace(go.Bar(x=list(groups), y=list(values), name=name))
    ax.set_xticks(x + width * (len(series) - 1) / 2, groups, rotation=20, ha="right", fontsize=8)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    html.update_layout(title=title, barmode="group", yaxis={"title": ylabel})
    return _write(fig, html, out, stem)


def daily(days: Sequence[str], series: Mapping[str, Sequence[float]], out: Path, stem: str, title: str,
          ylabel: str) -> list[Path]:
    fig, ax = plt.subplots(figsize=(10, 4))
    html = go.Figure()
    for name, values in series.items():
        ax.plot(range(len(days)), values, label=name, lw=1)
        html.add_trace(go.Scatter(x=list(days), y=list(values), name=name, mode="lines"))
    step = max(len(days) // 12, 1)
    ax.set_xticks(range(0, len(days), step), [days[i] for i in range(0, len(days), step)], rotation=30,
                  fontsize=7)
    ax.set(ylabel=ylabel, title=title)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    html.update_layout(title=title, yaxis={"title": ylabel})
    return _write(fig, html, out, stem)
