"""The book's 15 features, computed by keyed steps driven by label events, equal the book's pandas
definition (``rolling('Nd')`` windows; terminal risk over windows ending 7 days back)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dunpai.risk.backtest.book_steps import BOOK_FEATURES
from dunpai.risk.backtest.handbook import HandbookData
from dunpai.risk.backtest.replay import build_engine, replay


def _book_reference(tx: pd.DataFrame) -> pd.DataFrame:
    """The book's own transformation (ch. 3), as an independent oracle."""
    out = tx[["TRANSACTION_ID"]].copy()
    out["book_weekend"] = (tx.TX_DATETIME.dt.day_of_week >= 5).astype(float)
    out["book_night"] = (tx.TX_DATETIME.dt.hour <= 6).astype(float)
    parts = []
    for _, g in tx.groupby("CUSTOMER_ID"):
        g = g.sort_values("TX_DATETIME").set_index("TX_DATETIME")
        f = pd.DataFrame({"TRANSACTION_ID": g.TRANSACTION_ID.to_numpy()})
        for w in (1, 7, 30):
            s = g.TX_AMOUNT.rolling(f"{w}D").sum().to_numpy()
            n = g.TX_AMOUNT.rolling(f"{w}D").count().to_numpy()
            f[f"book_cust_nb_tx_{w}d"], f[f"book_cust_avg_amount_{w}d"] = n, s / n
        parts.append(f)
    cust = pd.concat(parts)
    parts = []
    for _, g in tx.groupby("TERMINAL_ID"):
        g = g.sort_values("TX_DATETIME").set_index("TX_DATETIME")
        f = pd.DataFrame({"TRANSACTION_ID": g.TRANSACTION_ID.to_numpy()})
        fd, nd = g.TX_FRAUD.rolling("7D").sum().to_numpy(), g.TX_FRAUD.rolling("7D").count().to_numpy()
        for w in (1, 7, 30):
            fw = g.TX_FRAUD.rolling(f"{7 + w}D").sum().to_numpy() - fd
            nw = g.TX_FRAUD.rolling(f"{7 + w}D").count().to_numpy() - nd
            f[f"book_term_nb_tx_{w}d"] = nw
            with np.errstate(invalid="ignore", divide="ignore"):
                f[f"book_term_risk_{w}d"] = np.nan_to_num(fw / nw)
        parts.append(f)
    term = pd.concat(parts)
    return out.merge(cust, on="TRANSACTION_ID").merge(term, on="TRANSACTION_ID").set_index("TRANSACTION_ID")


def test_book_features_match_the_books_definition(small: HandbookData) -> None:
    tx = small.transactions
    got = replay(small, build_engine()).features
    got.index = tx.TRANSACTION_ID.to_numpy()
    want = _book_reference(tx).loc[got.index]
    assert tx.TX_FRAUD.sum() > 0
    for name in BOOK_FEATURES:
        ref = tx.set_index("TRANSACTION_ID").TX_AMOUNT.loc[got.index] if name == "book_amount" else want[name]
        np.testing.assert_allclose(got[name].to_numpy(), ref.to_numpy(), rtol=1e-9, atol=1e-9, err_msg=name)
    # The terminal risk is not trivially zero on this slice.
    assert got["book_term_risk_30d"].max() > 0
