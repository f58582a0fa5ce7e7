"""A reveal of customer personal data is audited and decided as a staff-access event (S3 input)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from dunpai.core.config import load_settings
from dunpai.risk.pii import CustomerPii, RevealRequest
from dunpai.risk.runtime import open_pii, open_service


def test_each_reveal_becomes_a_staff_access_decision(tmp_path: Path) -> None:
    service = open_service(load_settings(overrides={"data_dir": str(tmp_path)}))
    try:
        vault, reveal = open_pii(service)
        vault.put(CustomerPii("cust-42", "branch-01", "李明", "450102199001011234", "13800000000", "南宁市青秀区"),
                  actor="onboarding")
        with service.db.connect() as conn:
            raw = conn.execute(text("SELECT * FROM pii_customers")).fetchall()
        assert "李明" not in repr(raw) and "450102199001011234" not in repr(raw)
        shown = reveal.reveal(RevealRequest(employee_id="emp-7", role="teller", branch_id="branch-01",
                                            customer_id="cust-42", purpose="counter_service",
                                            fields=("name", "phone"), business_ref="visit-1"))
        assert shown.values["name"] == "李明"
        with service.db.connect() as conn:
            kinds = [r[0] for r in conn.execute(text("SELECT event_type FROM risk_events"))]
        assert kinds == ["staff_access"]
    finally:
        service.close()
