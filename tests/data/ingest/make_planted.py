"""Regenerates planted.csv (run from the repo root: python tests/data/ingest/make_planted.py).

Planted defects (asserted in tests/integration/test_ingest_warehouse.py), 3 symbols x 60 XNYS sessions:
row checks -> quarantine: unparseable_date 1, missing_ohlc 1 (a blank close), unparseable_number 1,
non_positive_price 1, ohlc_inconsistent 1, negative_volume 1 (these five CCC rows share their dates with good CCC
rows, so they are resolved at once), duplicate_conflict 2 (BBB session 40 twice); an exact duplicate (AAA session
50) collapses. Series checks: spike_reverted 1 (BBB session 25, kept in bars and flagged uncorroborated),
stale_price 1 (BBB sessions 9..15), split 2 (AAA 3:1 at session 40 with a smooth adjusted close; CCC 2:1
at session 30 with split_coefficient 2), missing_session 3 (AAA sessions 20, 21 absent; BBB session 40
left without a bar by the conflict), non_session_date 1 (CCC on Saturday 2024-01-06).
"""

import numpy as np
import pandas as pd

from marketdata.calendar import sessions


def main() -> None:
    rng = np.random.default_rng(3)
    days = sessions("2024-01-02", "2024-04-30")[:60]
    rows = []
    def bar(sym, d, c, adj=None, coef=1.0, prev=None):
        o = prev if prev is not None else c
        hi = max(o, c) * 1.004
        lo = min(o, c) * 0.996
        return dict(timestamp=d.strftime("%Y-%m-%d"), symbol=sym, close=f"{c:.4f}", open=f"{o:.4f}", high=f"{hi:.4f}",
                    low=f"{lo:.4f}", volume=str(int(rng.integers(100000, 200000))),
                    adjusted_close=f"{(adj if adj is not None else c):.4f}", dividend_amount="0.0000",
                    split_coefficient=f"{coef:.1f}")
    series = {}
    for sym, p0 in [("AAA", 90.0), ("BBB", 40.0), ("CCC", 120.0)]:
        r = rng.normal(0, 0.01, len(days))
        series[sym] = p0 * np.exp(np.cumsum(r))
    # BBB: stale run of 6 identical closes at sessions 10..15
    series["BBB"][10:16] = series["BBB"][9]
    # CCC: 2:1 split at session 30 (unadjusted close halves), split_coefficient 2 reported
    ccc_adj = series["CCC"].copy()
    series["CCC"][:30] = series["CCC"][:30]  # before split: raw price is double the post-split scale
    series["CCC"][30:] = series["CCC"][30:] / 2
    ccc_adj = ccc_adj / 2  # adjusted series: the post-split scale throughout
    # AAA: 3:1 split at session 40 without a coefficient, adjusted close smooth
    aaa_adj = series["AAA"].copy()
    series["AAA"][40:] = series["AAA"][40:] / 3
    aaa_adj = aaa_adj / 3
    # BBB: a bad tick at session 25 (+60%), back the next session
    series["BBB"][25] = series["BBB"][25] * 1.6
    drop = {("AAA", 20), ("AAA", 21)}  # two missing sessions for AAA
    for sym in series:
        prev = None
        for i, d in enumerate(days):
            c = series[sym][i]
            adj = aaa_adj[i] if sym == "AAA" else ccc_adj[i] if sym == "CCC" else c
            coef = 2.0 if (sym == "CCC" and i == 30) else 1.0
            if (sym, i) not in drop:
                o = None if prev is None else (prev if sym != "BBB" or i not in range(10, 17) else c)
                if (sym, i) in (("AAA", 40), ("CCC", 30), ("BBB", 25), ("BBB", 26)):
                    o = c  # open at the new scale on a split day / at the tick
                rows.append(bar(sym, d, c, adj, coef, o))
            prev = c
    def d(i):
        return days[i].strftime("%Y-%m-%d")

    base = dict(symbol="CCC", close="100", open="100", high="101", low="99", volume="1000", adjusted_close="50",
                dividend_amount="0", split_coefficient="1.0")
    extra = [
        dict(base, timestamp="2024-13-45"),                      # unparseable_date
        dict(base, timestamp=d(5), close=""),                    # missing_ohlc (a blank close; a blank high is a NULL)
        dict(base, timestamp=d(6), low="98.x"),                  # unparseable_number
        dict(base, timestamp=d(7), close="-1", open="-1", low="-2"),  # non_positive_price
        dict(base, timestamp=d(8), high="99.5"),                 # ohlc_inconsistent
        dict(base, timestamp=d(9), volume="-5"),                 # negative_volume
    ]
    # duplicate_conflict: BBB session 40 appears twice with different closes (both rejected -> a missing session)
    rows_df = pd.DataFrame(rows)
    dup = rows_df[(rows_df.symbol == "BBB") & (rows_df.timestamp == d(40))].iloc[0].to_dict()
    dup2 = dict(dup, close=f"{float(dup['close']) * 1.01:.4f}", high=f"{float(dup['high']) * 1.02:.4f}")
    # exact duplicate of AAA session 50: collapses, not quarantined
    exact = rows_df[(rows_df.symbol == "AAA") & (rows_df.timestamp == d(50))].iloc[0].to_dict()
    # non_session_date: a bar on Saturday 2024-01-06 for CCC
    sat = dict(rows_df[(rows_df.symbol == "CCC") & (rows_df.timestamp == d(3))].iloc[0].to_dict(), timestamp="2024-01-06")
    out = pd.concat([rows_df, pd.DataFrame(extra + [dup2, exact, sat])], ignore_index=True)
    out = out.sample(frac=1.0, random_state=1)  # any row order
    out.to_csv("tests/data/ingest/planted.csv", index=False)
    print(len(out))


if __name__ == "__main__":
    main()
