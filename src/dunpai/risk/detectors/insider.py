"""Insider data theft (case S3): staff pulling customer data in bulk to sell it.

Volume against the employee's own history (``emp_volume_ratio``) and against the peer group's normal
day (``staff_peer_p99`` from the ``InsiderEnricher``); queries without matching business; off-hours
work; customers outside the employee's branch; customer ids scanned in sequence.
"""

from __future__ import annotations

from collections.abc import Mapping

from dunpai.core.i18n import Text
from dunpai.risk.detectors.base import Detector, SignalSpec

STAFF = ("staff_access",)


def _peer_outlier(f: Mapping[str, float]) -> bool:
    p99 = f["staff_peer_p99"]
    return p99 > 0 and f["emp_count_24h"] > max(3.0 * p99, 100.0)


INSIDER = Detector("insider", (
    SignalSpec(
        "sig_bulk_queries", "insider.bulk_queries",
        Text("查询量远超本人历史水平", "query volume far above the employee's own history"),
        STAFF, lambda f: f["emp_count_1h"] > 80 or (f["emp_volume_ratio"] > 6 and f["emp_count_24h"] > 150),
    ),
    SignalSpec(
        "sig_peer_outlier", "insider.peer_outlier",
        Text("查询量远超同岗位同事的正常水平", "query volume far above what peers in the same role do in a day"),
        STAFF, _peer_outlier,
    ),
    SignalSpec(
        "sig_no_business", "insider.no_business",
        Text("大量查询无对应业务（无申请、客户未到场）",
             "many queries with no matching business (no application, no customer present)"),
        STAFF, lambda f: f["emp_no_business_24h"] > 20,
    ),
    SignalSpec(
        "sig_business_forged", "insider.business_forged",
        Text("查询所附业务编号与该客户的任何申请或到访记录不符",
             "the query cites a business reference that matches no application or visit of this customer"),
        STAFF, lambda f: f["staff_business_forged"] > 0,
    ),
    SignalSpec(
        "sig_off_hours", "insider.off_hours",
        Text("非工作时间查询客户信息", "customer data queried outside working hours"),
        STAFF, lambda f: f["emp_off_hours_24h"] > 10,
    ),
    SignalSpec(
        "sig_out_of_branch", "insider.out_of_branch",
        Text("大量查询非本网点客户", "many queries of customers outside the employee's branch"),
        STAFF, lambda f: f["emp_out_of_branch_24h"] > 20,
    ),
    SignalSpec(
        "sig_sequential_scan", "insider.sequential_scan",
        Text("按客户编号顺序批量查询", "customer ids queried in sequence (scanning)"),
        STAFF, lambda f: f["emp_seq_run"] >= 10,
    ),
))
