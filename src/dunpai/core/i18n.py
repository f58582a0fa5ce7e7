"""Bilingual text. Chinese first: every customer- and analyst-facing string exists in zh-CN and en."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Text:
    """A message in Simplified Chinese and English."""

    zh: str
    en: str

    def format(self, **values: Any) -> Text:
        return Text(self.zh.format(**values), self.en.format(**values))

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Text:
        return cls(zh=data["zh"], en=data["en"])

    def join(self, other: Text, sep: tuple[str, str] = ("", " ")) -> Text:
        return Text(self.zh + sep[0] + other.zh, self.en + sep[1] + other.en)
