"""The official list of local-government codes (全国地方公共団体コード), shipped as package data
in `audit/data/lg_codes.csv` (source and date in `audit/data/SOURCE.md`).

The registry checks a code's form (check digit: `protocol.leaf.is_valid_lg_code`) only; the audit
checks registered codes against this list."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final

DATA_FILE: Final = "lg_codes.csv"


@dataclass(frozen=True, slots=True)
class LocalGovernment:
    code: int
    prefecture: str
    city: str
    """Empty for a prefecture."""

    @property
    def name(self) -> str:
        return self.prefecture + self.city


@cache
def official_codes() -> dict[int, LocalGovernment]:
    """Code → local government, for all 47 prefectures and 1,741 municipalities."""
    text = resources.files("audit").joinpath("data", DATA_FILE).read_text(encoding="utf-8")
    return {
        int(row["code"]): LocalGovernment(int(row["code"]), row["prefecture"], row["city"])
        for row in csv.DictReader(text.splitlines())
    }


def lookup(code: int) -> LocalGovernment | None:
    return official_codes().get(code)
