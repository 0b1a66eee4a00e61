"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no exact decimal and no time zone in its timestamps; these types close the gap
so that a value read back equals the value written, on both backends.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect


class ScaledDecimal(sa.types.TypeDecorator[Decimal]):
    """An exact decimal: NUMERIC(p, s) on PostgreSQL, an integer count of 10^-s on SQLite.

    Storing SQLite decimals as scaled integers keeps sums, comparisons and equality exact
    in SQL, where a REAL column would round through binary floats.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int = 18, scale: int = 2) -> None:
        super().__init__()
        self.precision = precision
        self.scale = scale

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.BigInteger())
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(value)
        if dialect.name == "sqlite":
            return int(value.scaleb(self.scale).to_integral_value())
        return value

    def bind_processor(self, dialect: Dialect) -> Any:
        """On SQLite, `process_bind_param` as one closure with the scale at hand: a save of
        a quote's 50 lines binds 150 decimals, and SQLAlchemy's wrapping doubled each call."""
        impl = self.impl_instance.dialect_impl(dialect).bind_processor(dialect)
        if dialect.name != "sqlite" or impl is not None:
            return super().bind_processor(dialect)
        scale = self.scale

        def process(value: Any) -> int | None:
            if value is None:
                return None
            if value.__class__ is not Decimal:
                value = Decimal(value)
            return int(value.scaleb(scale).to_integral_value())

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return Decimal(int(value)).scaleb(-self.scale)
        return Decimal(value).quantize(Decimal(1).scaleb(-self.scale))

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        """On SQLite, `process_result_value` as one closure with the scale at hand (as
        `bind_processor`): a quote read with 200 lines converts 800 decimals, and
        SQLAlchemy's wrapping cost more than the conversion."""
        impl = self.impl_instance.dialect_impl(dialect).result_processor(dialect, coltype)
        if dialect.name != "sqlite" or impl is not None:
            return super().result_processor(dialect, coltype)
        return scaled_reader(-self.scale, text=False)

    @property
    def python_type(self) -> type:
        return Decimal


def scaled_reader(shift: int, *, text: bool) -> Callable[[Any], Decimal | None]:
    """A SQLite scaled integer as its decimal (`text`: exact decimal text as it reads)."""
    def read(value: Any) -> Decimal | None:
        if value is None:
            return None
        if text and value.__class__ is str:
            return Decimal(value)
        return Decimal(int(value)).scaleb(shift)

    return read


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """A point in time, always stored and returned as UTC (timestamptz on PostgreSQL)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type:
        return datetime


def json_column() -> sa.types.TypeEngine[Any]:
    """JSON on SQLite, JSONB on PostgreSQL."""
    return sa.JSON().with_variant(JSONB(), "postgresql")
