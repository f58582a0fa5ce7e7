"""The feature pipeline a trained model reads: the default steps plus the book's and the model's.

Training replays history through exactly this pipeline (``backtest/replay.py``) and the live
service builds its engine with it whenever a model is deployed (``risk/runtime.py``), so a model
always scores on the features it was trained on, computed by the same code.
"""

from __future__ import annotations

from dunpai.risk.backtest.book_steps import BookCustomerStep, BookTerminalStep
from dunpai.risk.features.layout import KeyedStep
from dunpai.risk.features.pipeline import DEFAULT_STEPS, FeaturePipeline
from dunpai.risk.models.steps import CardLabelStep, CustomerHabitStep, TerminalLabelStep

MODEL_STEPS: tuple[KeyedStep, ...] = (*DEFAULT_STEPS, BookCustomerStep(), BookTerminalStep(),
                                      CustomerHabitStep(), TerminalLabelStep(), CardLabelStep())
"""The default pipeline plus the book's and the model's steps."""


def model_pipeline() -> FeaturePipeline:
    return FeaturePipeline(MODEL_STEPS)
