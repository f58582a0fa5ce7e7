"""Detectors for the source's cases; ``DEFAULT_DETECTORS`` is what the engine runs."""

from dunpai.risk.detectors.access import ACCESS_DETECTOR
from dunpai.risk.detectors.base import Detector, SignalSpec
from dunpai.risk.detectors.counterfeit import COUNTERFEIT
from dunpai.risk.detectors.insider import INSIDER
from dunpai.risk.detectors.takeover import TAKEOVER

DEFAULT_DETECTORS: tuple[Detector, ...] = (COUNTERFEIT, TAKEOVER, INSIDER, ACCESS_DETECTOR)

__all__ = ["DEFAULT_DETECTORS", "Detector", "SignalSpec"]
