"""Personal data that can be erased (PIPL; issue 13, item 5), on the real procedure.

Names, phones, addresses and medical details are kept beside the audit log and committed to it by salted
hashes: erasing a person deletes them everywhere while every chain, the Merkle tree and the signed
checkpoints stay valid, replay still reproduces the history, and the projections check does not call the
erasure tampering. A value edited beside the log, or deleted without an erasure record, is tampering.
"""

from __future__ import annotations

import json
import zlib

from sqlalchemy import inspect, select, text

from engine import forms
from engine.audit import personal, verify_bundle
from engine.core import clock, db
from engine.core.tables import AuditEvent, PersonalData, User
from engine.helpdesk import request_filter, text_search
from engine.helpdesk.tables import HelpRequest
from engine.runtime import replay
from tests.scenarios import driver as d
from tests.scenarios.test_4_1_help_request import close_by_phone
from tests.scenarios.test_4_2_emergency_patient import call_120_steps
from webapp.cli import main
from webapp.tables import Draft

ZHANG = {"caller_name": "张三丰", "phone": "13812345678", "address": "7栋3单元1502", "description": "父亲胸口疼痛喘不上气"}
PATIENT = {"patient_address": "7栋3单元1502室", "patient_phone": "13812345679", "patient_condition": "胸痛伴大汗，疑似心梗"}
LI = {"caller_name": "李四海", "phone": "13987654321", "address": "2栋1单元301", "description": "卫生间漏水到楼下"}
SECRETS = [*ZHANG.values(), *PATIENT.values()]


def _run(capsys, *argv) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def _zhang_emergency() -> str:
    """A hotline call about a patient, worked to the end: start data and the inquiry form hold personal data;
    help_request's scripts note the receipt time and compute deadlines from dates (now(), add_duration)."""
    iid = d.start_request("hotline", **ZHANG)
    d.intake(iid, "a", priority="P1")
    d.do(iid, "inquiry", "assistant", help_mode="call_120", is_major=False, **PATIENT)
    call_120_steps(iid)
    d.do(iid, "ordinary_report", "cs_supervisor", reviewed=True)
    close_by_phone(iid)
    return iid


def _li_repair() -> str:
    iid = d.start_request("hotline", **LI)
    d.intake(iid, "g")
    return iid


def _found(value: str, everything: str) -> bool:
    """As typed, or as JSON writes it with non-ASCII escaped (the stored state, JSON columns)."""
    return value in everything or json.dumps(value)[1:-1] in everything


def _readable(value) -> str:
    """A column's value as a searcher reads it: bytes inflated when they are zlib (a finished instance's
    packed state, ``instances.state_packed``), so a value erased from the text but kept in the bytes is found."""
    if isinstance(value, bytes | memoryview):
        try:
            return zlib.decompress(bytes(value)).decode()
        except zlib.error:
            return bytes(value).decode(errors="replace")
    return str(value)


def _every_text_in_the_database(url: str) -> str:
    """Every row of every table, as text: what a search of the database would find."""
    chunks = []
    with db.get_engine(url).connect() as conn:
        for table in inspect(conn).get_table_names():
            if table == "alembic_version":
                continue
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(" ".join(_readable(v) for v in row))
    return "\n".join(chunks)


def test_the_log_holds_commitments_not_the_values(procedure):
    iid = _zhang_emergency()
    with db.read_session() as session:
        payloads = " ".join(session.scalars(select(AuditEvent.payload).where(AuditEvent.chain == iid)))
        stored = {(r.field, json.loads(r.value)) for r in session.scalars(select(PersonalData)
                                                                          .where(PersonalData.chain == iid))}
        started = json.loads(session.scalar(select(AuditEvent.payload).where(AuditEvent.chain == iid,
                                                                             AuditEvent.kind == "started")))
    for value in SECRETS:
        assert not _found(value, payloads)
    assert {("caller_name", ZHANG["caller_name"]), ("patient_condition", PATIENT["patient_condition"])} <= stored
    assert personal.is_marker(started["data"]["phone"]) and started["data"]["channel"] == "hotline"
    with db.read_session() as session:  # the replay and the auditor's view read the values back
        result = replay.replay(session, iid)
    assert result.ok and result.erased == 0
    assert result.steps[0].data["caller_name"] == ZHANG["caller_name"]


def test_a_history_whose_scripts_use_dates_replays_clean_and_an_erased_persons_requests_still_verify(
        procedure, capsys):
    zhang = _zhang_emergency()
    li = _li_repair()
    code, out = _run(capsys, "audit", "verify", "--projections")
    assert code == 0, out
    with db.transaction() as session:  # a form draft someone saved on one of the request's tasks
        task_id = json.loads(session.scalar(select(AuditEvent.payload).where(
            AuditEvent.chain == zhang, AuditEvent.kind == "task_completed")))["task_id"]
        session.add(Draft(username="assistant", task_id=task_id, data={"summary": ZHANG["description"]},
                          updated_at=clock.now()))
    code, out = _run(capsys, "audit", "erase", "--person", ZHANG["phone"], "--reason", "个人信息删除申请 2026-031",
                     "--actor", "admin")
    assert code == 0 and "1 条求助记录" in out and zhang in out, out

    code, out = _run(capsys, "audit", "verify", "--projections")
    assert code == 0, out
    assert "TAMPERED" not in out and "PROJECTION" not in out and "BROKEN" not in out
    code, out = _run(capsys, "audit", "replay", zhang)
    assert code == 0 and "个人信息已删除，按占位值回放" in out and "MISMATCH" not in out, out
    with db.read_session() as session:
        result = replay.replay(session, zhang)
    assert result.ok and result.erased > len(SECRETS)  # the hotline record repeats the caller's four
    assert result.steps[0].data["caller_name"] == personal.ERASED

    everything = _every_text_in_the_database(procedure)
    for value in SECRETS:
        assert not _found(value, everything), value
    assert _found(LI["caller_name"], everything) and LI["phone"] in everything  # nobody else's data went
    with db.read_session() as session:  # the search finds the erased request by none of its old words …
        def search(q):
            return [r.instance_id for r in request_filter.list_requests(session, request_filter.RequestFilter(q=q))]
        for value in ZHANG.values():
            assert zhang not in search(value) and zhang not in search(value[:2]), value
        assert search(LI["caller_name"]) == [li] and search(LI["phone"][-6:]) == [li]
        if procedure.startswith("sqlite"):  # … and the trigram index itself holds none of them
            for value in ZHANG.values():
                assert not session.execute(text(f"SELECT rowid FROM {text_search.FTS_TABLE} WHERE "
                                                f"{text_search.FTS_TABLE} MATCH :q"),
                                           {"q": text_search.phrase(value)}).all(), value
            session.execute(text(f"INSERT INTO {text_search.FTS_TABLE}({text_search.FTS_TABLE}, rank) "
                                 "VALUES ('integrity-check', 1)"))
    with db.read_session() as session:
        req = session.get(HelpRequest, zhang)
        for column in HelpRequest.__table__.columns:
            if column.info.get("personal"):
                assert getattr(req, column.name) == personal.ERASED, column.name
        assert (req.status, req.category, req.satisfaction) == ("closed", "a", 4)  # the KPIs still count it
        assert session.get(HelpRequest, li).phone == LI["phone"]
        [erasure] = session.scalars(select(AuditEvent).where(AuditEvent.chain == zhang,
                                                             AuditEvent.kind == personal.ERASED_KIND))
    record = json.loads(erasure.payload)
    assert erasure.actor == "admin" and record["reason"] == "个人信息删除申请 2026-031"
    assert len(record["refs"]) == result.erased  # names the references erased, not the values
    assert not any(value in erasure.payload for value in SECRETS)


def test_a_resident_is_erased_with_their_account_and_online_requests(procedure, capsys):
    with db.read_session() as session:
        before = session.scalar(select(User).where(User.username == d.CUSTOMER))
        shown_name = before.display_name
    iid = d.start_request("online", "g", caller_name=shown_name, phone="13700001111", address="5栋2单元802",
                          description="想借一把梯子")
    d.intake(iid, "g", channel="online")
    code, out = _run(capsys, "audit", "erase", "--person", d.CUSTOMER, "--actor", "admin")
    assert code == 0 and "住户账号 customer" in out, out
    with db.read_session() as session:
        user = session.scalar(select(User).where(User.username == d.CUSTOMER))
        assert (user.display_name, user.phone, user.is_active) == (personal.ERASED, None, False)
        assert session.get(HelpRequest, iid).address == personal.ERASED
    everything = _every_text_in_the_database(procedure)
    for value in ("13700001111", "5栋2单元802", "想借一把梯子", shown_name):
        assert not _found(value, everything), value
    assert _run(capsys, "audit", "verify", "--projections")[0] == 0


def test_erase_refuses_staff_and_unknown_people_clearly(procedure, capsys):
    code, out = _run(capsys, "audit", "erase", "--person", "assistant", "--actor", "admin")
    assert code == 1 and "是工作人员账号" in out
    code, out = _run(capsys, "audit", "erase", "--person", "13000000000", "--actor", "admin")
    assert code == 1 and "找不到此人" in out and "Traceback" not in out


def test_a_personal_value_changed_or_deleted_beside_the_log_is_found_by_verify(procedure, capsys):
    zhang = _zhang_emergency()
    with db.get_engine(procedure).begin() as conn:  # personal_data is an ordinary table: no trigger to drop
        conn.execute(text("UPDATE personal_data SET value = :v WHERE chain = :c AND field = 'caller_name'"),
                     {"v": json.dumps("王五"), "c": zhang})
    code, out = _run(capsys, "audit", "verify")
    assert code == 1 and "个人信息被改动过" in out and zhang in out, out
    with db.get_engine(procedure).begin() as conn:
        conn.execute(text("DELETE FROM personal_data WHERE chain = :c AND field = 'phone'"), {"c": zhang})
    code, out = _run(capsys, "audit", "verify")
    assert code == 1 and "没有依法删除的审计记录：被擅自删除" in out


def test_a_personal_value_changed_in_the_stored_state_is_found_by_replay(procedure, capsys):
    iid = d.start_request("hotline", **LI)
    with db.get_engine(procedure).begin() as conn:
        state = conn.execute(text("SELECT state FROM instances WHERE id = :id"), {"id": iid}).scalar()
        old = json.dumps(LI["phone"])
        assert old in state
        conn.execute(text("UPDATE instances SET state = :s WHERE id = :id"),
                     {"s": state.replace(old, json.dumps("13900000000")), "id": iid})
    code, out = _run(capsys, "audit", "replay", iid)
    assert code == 1 and "personal data" in out


def test_the_bundle_of_an_erased_request_still_passes_the_standalone_verifier(procedure, tmp_path, capsys):
    zhang = _zhang_emergency()
    before = tmp_path / "before.json"
    assert _run(capsys, "audit", "export", zhang, str(before))[0] == 0
    bundle = json.loads(before.read_text(encoding="utf-8"))
    assert verify_bundle.verify(bundle) == []
    committed = len(bundle["personal"])
    assert committed > len(SECRETS) and verify_bundle.check_personal(bundle)[1:] == (committed, 0)
    ref = next(r for r, e in bundle["personal"].items() if e["field"] == "caller_name")
    bundle["personal"][ref]["value_json"] = json.dumps("王五", ensure_ascii=False)  # edited in the bundle
    assert any("哈希承诺不符" in p for p in verify_bundle.verify(bundle))

    assert _run(capsys, "audit", "erase", "--person", ZHANG["phone"], "--actor", "admin")[0] == 0
    after = tmp_path / "after.json"
    assert _run(capsys, "audit", "export", zhang, str(after))[0] == 0
    text_after = after.read_text(encoding="utf-8")
    for value in SECRETS:
        assert not _found(value, text_after)
    bundle = json.loads(text_after)
    assert verify_bundle.verify(bundle) == []
    assert verify_bundle.check_personal(bundle)[1:] == (0, committed)
    assert verify_bundle.main([str(after)]) == 0
    assert "已依法删除" in capsys.readouterr().out
    code, out = _run(capsys, "audit", "replay", "--bundle", str(before))  # offline, on the values it carries
    assert code == 0 and "MISMATCH" not in out, out
    code, out = _run(capsys, "audit", "replay", "--bundle", str(after))  # offline, on the placeholders
    assert code == 0 and "MISMATCH" not in out and "个人信息已删除，按占位值回放" in out, out
    bundle["personal"].pop(ref)  # a commitment neither given nor marked erased
    assert any("既未给出也未标为已删除" in p for p in verify_bundle.verify(bundle))


def test_x_personal_is_accepted_as_a_boolean_and_nothing_else():
    schema = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 20, "x-personal": True},
                                               "note": {"type": "string", "maxLength": 20}}}
    assert forms.check_schema(schema) == [] and forms.personal_fields(schema) == {"name"}
    schema["properties"]["note"]["x-personal"] = "yes"
    assert forms.check_schema(schema) == ["note: x-personal must be true or false"]
