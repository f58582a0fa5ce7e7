"""The incident-response facade: cases, account actions, disputes, evidence bundles, the police
report and notices, composed over one set of dependencies. Transport (API, console, CLI) calls this.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from dunpai.audit import AuditPort
from dunpai.core.errors import StateError
from dunpai.risk.cases.accounts import AccountStates
from dunpai.risk.cases.actions import ActionService
from dunpai.risk.cases.bundle import BundleInput, export_bundle
from dunpai.risk.cases.common import (
    ANALYSTS,
    Actor,
    Deps,
    EventSink,
    Explainer,
    Notifier,
    RecordingNotifier,
    iso,
    require,
)
from dunpai.risk.cases.disputes import DisputeService
from dunpai.risk.cases.liability import DEFAULT_RULES, LiabilityRule
from dunpai.risk.cases.notices import DEFAULT_BANK, Bank
from dunpai.risk.cases.report import render_pdf, report_data
from dunpai.risk.cases.service import CaseService
from dunpai.risk.cases.signing import EvidenceSigner


class Incidents:
    def __init__(self, db: Engine, audit: AuditPort, *, signer: EvidenceSigner | None = None,
                 events: EventSink | None = None, explainer: Explainer | None = None,
                 notifier: Notifier | None = None, clock: Callable[[], float] | None = None,
                 liability_rules: Sequence[LiabilityRule] = DEFAULT_RULES, bank: Bank = DEFAULT_BANK) -> None:
        kwargs: dict[str, Any] = {"clock": clock} if clock is not None else {}
        self.deps = Deps(db, audit, events=events, explainer=explainer,
                         notifier=notifier or RecordingNotifier(), bank=bank, **kwargs)
        self.db = db
        self.audit = audit
        self.signer = signer
        self.cases = CaseService(self.deps)
        self.actions = ActionService(self.deps)
        self.disputes = DisputeService(self.deps, liability_rules)
        self.accounts = AccountStates(db)

    @classmethod
    def for_risk(cls, risk: Any, audit: AuditPort, **kwargs: Any) -> Incidents:
        """Over a ``RiskService``: its database, ``submit`` for labels and staff-access events,
        ``explain`` for decision evidence."""
        return cls(risk.db, audit, events=risk, explainer=risk, **kwargs)

    # -- reports and bundles -----------------------------------------------------------------------

    def police_report(self, actor: Actor, case_id: str, lang: str = "zh") -> bytes:
        require(actor, *ANALYSTS)
        detail = self.cases.detail(actor, case_id)
        events = self.cases.case_events(actor, case_id)
        pdf = render_pdf(report_data(detail, events, self.deps.clock()), lang, self.deps.bank.name)
        self.audit.append(actor.name, "case.report", f"{actor.tenant}/case/{case_id}", {"lang": lang})
        return pdf

    def notices(self, actor: Actor, case_id: str) -> list[dict[str, Any]]:
        return list(self.cases.detail(actor, case_id)["notices"])

    def export_evidence(self, actor: Actor, case_id: str, out: Path, *, with_report: bool = True) -> Path:
        """Collect the case's evidence, then write the signed bundle (with the police report in
        Chinese and English and the customer notices as extra files) into ``out``."""
        if self.signer is None:
            raise StateError("no evidence signer is configured")
        self.cases.collect_evidence(actor, case_id)
        detail = self.cases.detail(actor, case_id)
        items = self.cases.evidence(actor, case_id)
        extra: dict[str, bytes] = {"case.json": (json.dumps(detail, ensure_ascii=False, indent=1, sort_keys=True)
                                                 + "\n").encode()}
        if with_report:
            extra["police-report.zh.pdf"] = self.police_report(actor, case_id, "zh")
            extra["police-report.en.pdf"] = self.police_report(actor, case_id, "en")
        if detail["notices"]:
            extra["notices.json"] = (json.dumps(detail["notices"], ensure_ascii=False, indent=1) + "\n").encode()
        now = self.deps.clock()
        manifest = export_bundle(BundleInput(case_id, actor.tenant, items, extra, detail["case"]), out, self.signer,
                                 actor.name, iso(now))
        self.audit.append(actor.name, "evidence.export", f"{actor.tenant}/case/{case_id}",
                          {"items": len(items), "files": len(items) + len(extra), "key_id": self.signer.key_id})
        return manifest
