"""One page of a query, with the counts a pager needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def parse_page(value: Any) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def paginate(session: Any, stmt: Select[Any], page: int, per_page: int) -> Page[Any]:
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    number = min(max(1, page), max(1, -(-total // per_page)))
    rows = session.scalars(stmt.limit(per_page).offset((number - 1) * per_page)).all()
    return Page(items=list(rows), number=number, per_page=per_page, total=total)
