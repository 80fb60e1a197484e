"""The help desk's own tables: the request as people see it, and the fee schedule of 有偿服务.

They share the engine's metadata (one Alembic history); the generic engine never reads them.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.core.tables import Base, Timestamp

# Columns copying a value a form marks "x-personal" (see engine.audit.personal): erased with the person.
PERSONAL = {"personal": True}


def _not_null(column: str) -> dict:
    """A partial index's condition on both databases."""
    return {"sqlite_where": text(f"{column} IS NOT NULL"), "postgresql_where": text(f"{column} IS NOT NULL")}


class HelpRequest(Base):
    """The request as people talk about it: who called, where, what, which type, how it stands."""

    __tablename__ = "requests"
    # For the month report (engine.helpdesk.month_figures): the 12-month trend read from an index alone, and
    # the requests still open at a month's end (closed_at NULL or later) found without a full scan.
    __table_args__ = (Index("ix_requests_month_figures", "created_at", "category", "satisfaction"),
                      # a department's requests (need-to-know lists; its month's trend reaches their clocks
                      # from the index alone: migration 0061)
                      Index("ix_requests_department_instance", "department", "instance_id"),
                      Index("ix_requests_closed_at", "closed_at", "created_at"),
                      # the month report's cache key: the latest change of any request, read from the index
                      Index("ix_requests_updated_at", "updated_at"),
                      # the request list (处理中 / 已办结, newest first) and a resident's own requests
                      Index("ix_requests_status_created", "status", "created_at"),
                      Index("ix_requests_customer_created", "customer_username", "created_at"),
                      # Sparse columns (almost every row NULL): partial indexes, so the planner's statistics
                      # count only the rows that name someone/something and "= ?" reads the index, not the table.
                      Index("ix_requests_complained_staff", "complained_staff", **_not_null("complained_staff")),
                      Index("ix_requests_follows_up", "follows_up", **_not_null("follows_up")))
    instance_id: Mapped[str] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    caller_name: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(32), info=PERSONAL)
    address: Mapped[str | None] = mapped_column(String(255), info=PERSONAL)
    building: Mapped[str | None] = mapped_column(String(64), index=True)
    description: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    category: Mapped[str | None] = mapped_column(String(4), index=True)
    priority: Mapped[str | None] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(32))
    customer_username: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(Timestamp, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    closed_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    rating_speed: Mapped[int | None] = mapped_column(Integer)
    rating_quality: Mapped[int | None] = mapped_column(Integer)
    rating_attitude: Mapped[int | None] = mapped_column(Integer)
    # where ``satisfaction`` came from: "resident" (their own 评价) or "callback" (the 客服部's 电话回访)
    rating_source: Mapped[str | None] = mapped_column(String(16))
    paid_cents: Mapped[int | None] = mapped_column(Integer)  # what a 有偿服务 charged (收取费用), in fen
    # Need-to-know (webapp.policy): the department the job was handed to (转交; none = 客服部 keeps it), the
    # staff member a complaint is about (被投诉人, never shown it), and a consultation marked confidential.
    department: Mapped[str | None] = mapped_column(String(32))  # indexed with instance_id (__table_args__)
    complained_staff: Mapped[str | None] = mapped_column(String(64))
    confidential: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # The earlier request this one follows up (6 反馈与跟踪: a new problem found on the way); its instance id.
    # Not a foreign key: erasing or archiving the earlier request must not block or cascade to this one.
    follows_up: Mapped[str | None] = mapped_column(String(36))


class FeeItem(Base):
    """《有偿服务收费标准》: the admin-editable fee schedule that paid services quote from."""
    __tablename__ = "fee_items"
    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class DeskSetting(Base):
    """A value the admin sets for the desk as a whole (the 24 h hotline number residents are shown), with
    who set it last; a missing row means the default in code (engine.helpdesk.hotline)."""
    __tablename__ = "desk_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    updated_by: Mapped[str] = mapped_column(String(64))


class MonthSeal(Base):
    """A month as the 公司经理 signed it (4.10 审阅签发): the figures of the month report, frozen, so a later
    change of data shows as a difference beside them instead of silently rewriting what was signed
    (:mod:`engine.helpdesk.month_seal`)."""
    __tablename__ = "month_seals"
    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # "YYYY-MM", Asia/Shanghai
    instance_id: Mapped[str] = mapped_column(String(64))  # the monthly_statistics instance it was signed in
    signed_by: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    audit_seq: Mapped[int] = mapped_column(Integer)  # the signing event's place in that instance's audit chain
    figures: Mapped[str] = mapped_column(Text)  # canonical JSON of the month's figures
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of ``figures``


class PendingPublication(Base):
    """A process owner's publish waiting for the 公司经理 (engine.helpdesk.publish_approval): the edited
    diagram and forms exactly as checked, or the earlier version to revert to, with who asked, who decided
    and the version it became."""
    __tablename__ = "pending_publications"
    __table_args__ = (Index("ix_pending_publications_status", "status", "process_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    base_version: Mapped[int] = mapped_column(Integer)  # the latest version when it was asked for
    kind: Mapped[str] = mapped_column(String(16))  # "edit" | "revert"
    revert_to: Mapped[int | None] = mapped_column(Integer, nullable=True)
    xml: Mapped[str] = mapped_column(Text, default="")
    forms: Mapped[str] = mapped_column(Text, default="{}")  # JSON {form file name: file text}
    note: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    status: Mapped[str] = mapped_column(String(16))  # pending | approved | refused | superseded
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(Timestamp, nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")  # why it was refused
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the version it was published as


class StudioScenario(Base):
    """A scenario a process owner wrote in the studio for one process (engine.helpdesk.scenarios.saved):
    the YAML text of ``bpmn/scenarios``' format, run by the studio's 试运行 and by publishing beside the
    repository's files."""
    __tablename__ = "studio_scenarios"
    process_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)  # the file name without ".yaml"
    content: Mapped[str] = mapped_column(Text)
    saved_by: Mapped[str] = mapped_column(String(64))
    saved_at: Mapped[dt.datetime] = mapped_column(Timestamp)
