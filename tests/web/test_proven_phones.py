"""Proven phone numbers (issue 12): a number typed at sign-up links no hotline call until its owner proves it
with a one-time code (read here from the outbox SMS row, as the resident would read their phone) or a 物业助理
confirms the person.

The attack: someone signs up with a neighbour's number to read the neighbour's hotline requests (names, address,
medical details) and rate them. Here the squatter gets nothing, and the real owner can still sign up, prove the
number, and has it moved to them.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update

from engine import identity, notify
from engine.audit import history
from engine.core import clock, db
from engine.core.tables import User
from engine.helpdesk import phone_links, projections_check, queries
from engine.helpdesk.tables import HelpRequest
from tests.web.conftest import PASSWORD, RESIDENT_PHONE, record_call, task_ids

NEIGHBOUR = "13600000007"
SQUATTER_OWN = "13500000005"
PW = "lychee-garden-7"


def _signup(app, phone: str, name: str):
    client = app.test_client()
    res = client.post("/signup", data={"phone": phone, "display_name": name, "password": PW, "password2": PW})
    assert res.status_code == 302 and res.location.endswith("/account/phone"), res.get_data(as_text=True)
    return client


def _latest_code(phone: str) -> str:
    with db.read_session() as session:
        body = session.scalars(select(notify.OutboxMessage.body).where(
            notify.OutboxMessage.event == "code", notify.OutboxMessage.to_phone == phone)
            .order_by(notify.OutboxMessage.id.desc())).first()
    assert body is not None, f"no code sent to {phone}"
    return re.search(r"\d{6}", body).group(0)


def _prove(client, phone: str) -> None:
    res = client.post("/account/phone/send", data={"phone": phone})
    assert res.status_code == 302, res.get_data(as_text=True)
    res = client.post("/account/phone/verify", data={"code": _latest_code(phone)})
    assert res.status_code == 302 and res.location.endswith("/portal"), res.get_data(as_text=True)


def _user(username: str) -> User:
    with db.read_session() as session:
        user = identity.get_user(session, username)
        session.expunge(user)
        return user


def _owner(iid: str) -> str | None:
    with db.read_session() as session:
        return session.scalar(select(HelpRequest.customer_username).where(HelpRequest.instance_id == iid))


def _wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_a_squatter_with_a_neighbours_number_sees_and_rates_nothing_and_the_owner_takes_it(app, client_for):
    squatter = _signup(app, NEIGHBOUR, "冒名者")
    assistant = client_for("assistant")
    first = record_call(assistant, caller_name="邻居刘阿姨", phone=NEIGHBOUR, address="5栋1单元302",
                        description="家中老人行动不便，需上门协助")
    assert _owner(first) is None  # the squatter's claim links nothing
    assert squatter.get("/portal").location.endswith("/account/phone")
    assert squatter.get(f"/portal/requests/{first}").status_code != 200
    with db.read_session() as session:
        assert queries.tasks_assigned_to(session, NEIGHBOUR) == []  # no 确认/评价 task to rate it with
        assert queries.list_requests(session, customer=NEIGHBOUR) == []
    # The squatter cannot prove it: the code goes to the neighbour's phone; guessing fails.
    assert squatter.post("/account/phone/send", data={"phone": NEIGHBOUR}).status_code == 302
    res = squatter.post("/account/phone/verify", data={"code": _wrong(_latest_code(NEIGHBOUR))})
    assert res.status_code == 422 and "验证码不正确" in res.get_data(as_text=True)
    assert _user(NEIGHBOUR).phone is None

    # The real owner can still sign up with their number, proves it and it moves to them.
    clock.advance(minutes=1, seconds=1)
    owner = _signup(app, NEIGHBOUR, "刘阿姨")
    owner_name = f"{NEIGHBOUR}-2"
    _prove(owner, NEIGHBOUR)
    assert _user(owner_name).phone == NEIGHBOUR and not _user(owner_name).must_prove_phone
    assert _user(NEIGHBOUR).pending_phone is None  # the squatter lost the claim
    assert _owner(first) == owner_name  # the call made before the proof joins the owner, never the squatter
    with db.read_session() as session:
        kinds = [(e.kind, e.element_id) for e in history.events(session, "management")]
    assert ("phone_proven", owner_name) in kinds and ("phone_claim_lost", NEIGHBOUR) in kinds

    later = record_call(assistant, caller_name="刘阿姨", phone=NEIGHBOUR, address="5栋1单元302", description="门锁坏了")
    assert _owner(later) == owner_name
    page = owner.get("/portal").get_data(as_text=True)
    assert "门锁坏了" in page
    assert owner.get(f"/portal/requests/{later}").status_code == 200
    assert squatter.get(f"/portal/requests/{later}").status_code != 200
    # The owner signs in with the proven number even though their username carries a suffix.
    res = app.test_client().post("/login", data={"username": NEIGHBOUR, "password": PW})
    assert res.status_code == 302 and res.location.endswith("/portal")


def test_existing_accounts_prove_their_number_at_the_next_sign_in(app, client_for):
    with db.transaction() as session:  # what migration 0018 does to residents who signed up before proof
        session.execute(update(User).where(User.username == RESIDENT_PHONE)
                        .values(pending_phone=RESIDENT_PHONE, phone=None, must_prove_phone=True))
    client = app.test_client()
    res = client.post("/login", data={"username": RESIDENT_PHONE, "password": PASSWORD})
    assert res.status_code == 302 and res.location.endswith("/account/phone")
    assert client.get("/portal").location.endswith("/account/phone")
    page = client.get("/account/phone").get_data(as_text=True)
    assert "验证手机号码" in page and RESIDENT_PHONE in page
    unlinked = record_call(client_for("assistant"), phone=RESIDENT_PHONE)
    assert _owner(unlinked) is None
    _prove(client, RESIDENT_PHONE)
    assert client.get("/portal").status_code == 200
    assert _owner(record_call(client_for("assistant"), phone=RESIDENT_PHONE)) == RESIDENT_PHONE
    res = app.test_client().post("/login", data={"username": RESIDENT_PHONE, "password": PASSWORD})
    assert res.location.endswith("/portal")  # once proven, never asked again


def test_a_household_links_each_residents_own_number(app, client_for):
    wife, husband = _signup(app, "13600000011", "李女士"), _signup(app, "13600000012", "李先生")
    _prove(wife, "13600000011")
    clock.advance(seconds=5)
    _prove(husband, "13600000012")
    assistant = client_for("assistant")
    hers = record_call(assistant, phone="13600000011", caller_name="李女士", address="7栋2单元801", description="阳台漏水")
    his = record_call(assistant, phone="13600000012", caller_name="李先生", address="7栋2单元801", description="门禁卡失灵")
    assert (_owner(hers), _owner(his)) == ("13600000011", "13600000012")
    assert "阳台漏水" in wife.get("/portal").get_data(as_text=True)
    assert "门禁卡失灵" in husband.get("/portal").get_data(as_text=True)
    assert husband.get(f"/portal/requests/{hers}").status_code == 404


def test_a_number_proven_by_another_account_is_not_taken_by_a_code(app):
    intruder = _signup(app, RESIDENT_PHONE, "另一人")
    assert intruder.post("/account/phone/send", data={"phone": RESIDENT_PHONE}).status_code == 302
    res = intruder.post("/account/phone/verify", data={"code": _latest_code(RESIDENT_PHONE)})
    assert res.status_code == 422 and "该号码已由其他账户验证" in res.get_data(as_text=True)
    assert _user(RESIDENT_PHONE).phone == RESIDENT_PHONE


def test_a_staff_member_confirms_a_person_and_it_is_audited(app, client_for):
    resident = _signup(app, "13600000021", "孙老伯")
    assistant = client_for("assistant")
    page = assistant.get("/phones?q=13600000021").get_data(as_text=True)
    assert "孙老伯" in page and "13600000021" in page
    res = assistant.post("/phones/13600000021/confirm", data={})
    assert res.status_code == 302 and _user("13600000021").phone is None  # not without ticking 已核实本人
    assistant.post("/phones/13600000021/confirm", data={"checked": "yes"})
    assert _user("13600000021").phone == "13600000021"
    with db.read_session() as session:
        proven = [history.payload_of(e) | {"actor": e.actor} for e in history.events(session, "management")
                  if e.kind == "phone_proven"]
    assert proven[-1] == {"username": "13600000021", "phone": "13600000021", "how": "staff", "actor": "assistant",
                          "linked": []}
    assert resident.get("/portal").status_code == 200
    assert _owner(record_call(assistant, phone="13600000021")) == "13600000021"
    assert resident.get("/phones").status_code == 403  # residents cannot confirm anyone
    assert client_for("engineer").post("/phones/13600000021/confirm", data={"checked": "yes"}).status_code == 403


def test_wrong_and_expired_codes_are_refused_in_chinese(app):
    client = _signup(app, "13600000031", "赵女士")
    assert client.post("/account/phone/verify", data={"code": "123456"}).status_code == 422  # none sent yet
    client.post("/account/phone/send", data={"phone": "13600000031"})
    code = _latest_code("13600000031")
    res = client.post("/account/phone/verify", data={"code": _wrong(code)})
    assert res.status_code == 422 and "验证码不正确" in res.get_data(as_text=True)
    res = client.post("/account/phone/verify", data={"code": ""})
    assert res.status_code == 422 and "请填写验证码" in res.get_data(as_text=True)
    clock.advance(minutes=10, seconds=1)
    res = client.post("/account/phone/verify", data={"code": code})
    assert res.status_code == 422 and "验证码已失效，请重新获取" in res.get_data(as_text=True)
    assert _user("13600000031").phone is None
    res = client.post("/account/phone/send", data={"phone": "12345"})
    assert res.status_code == 422 and "请输入11位手机号码" in res.get_data(as_text=True)


def test_five_wrong_codes_use_the_code_up(app):
    client = _signup(app, "13600000041", "钱先生")
    client.post("/account/phone/send", data={"phone": "13600000041"})
    code = _latest_code("13600000041")
    for _ in range(5):
        assert client.post("/account/phone/verify", data={"code": _wrong(code)}).status_code == 422
    res = client.post("/account/phone/verify", data={"code": code})
    assert res.status_code == 422 and "验证码错误次数过多" in res.get_data(as_text=True)
    assert _user("13600000041").phone is None


def test_codes_are_sent_at_most_once_a_minute(app):
    client = _signup(app, "13600000051", "周女士")
    assert client.post("/account/phone/send", data={"phone": "13600000051"}).status_code == 302
    res = client.post("/account/phone/send", data={"phone": "13600000051"})
    assert res.status_code == 429 and "验证码发送过于频繁，请一分钟后再试" in res.get_data(as_text=True)
    with db.read_session() as session:
        sent = session.scalars(select(notify.OutboxMessage.id).where(notify.OutboxMessage.to_phone == "13600000051"))
        assert len(list(sent)) == 1
    clock.advance(minutes=1, seconds=1)
    assert client.post("/account/phone/send", data={"phone": "13600000051"}).status_code == 302


def test_a_resident_who_has_not_proven_their_number_can_still_reset_the_password_by_sms(app):
    _signup(app, "13600000061", "吴先生")
    assert app.test_client().post("/password/reset", data={"account": "13600000061"}).status_code == 302
    code = _latest_code("13600000061")
    new = "another-lychee-9"
    res = app.test_client().post("/password/reset/confirm", data={"account": "13600000061", "code": code,
                                                                  "password": new, "password2": new})
    assert res.status_code == 302 and res.location.endswith("/login")


def test_changing_a_proven_number_keeps_the_old_one_until_the_new_one_is_proven(app, client_for):
    client = client_for(RESIDENT_PHONE)
    assert client.post("/account/phone/send", data={"phone": "13600000071"}).status_code == 302
    assert client.get("/portal").status_code == 200  # not sent back to the proving page
    assert _owner(record_call(client_for("assistant"), phone=RESIDENT_PHONE)) == RESIDENT_PHONE
    assert _owner(record_call(client_for("assistant"), phone="13600000071")) is None
    res = client.post("/account/phone/verify", data={"code": _latest_code("13600000071")})
    assert res.status_code == 302
    assert _user(RESIDENT_PHONE).phone == "13600000071"
    assert _owner(record_call(client_for("assistant"), phone="13600000071")) == RESIDENT_PHONE


def _linked_events(iid: str) -> list[dict]:
    with db.read_session() as session:
        return [history.payload_of(e) | {"actor": e.actor} for e in history.events(session, iid)
                if e.kind == phone_links.LINKED]


def test_calls_recorded_before_the_number_was_proven_join_the_account_once_it_is_proven(app, client_for):
    """A resident called the hotline before signing up, and again after signing up but before proving the
    number: both calls join the account when the code proves the number — and not a moment earlier."""
    assistant = client_for("assistant")
    before_signup = record_call(assistant, caller_name="郑阿姨", phone="13600000081", address="8栋1单元101",
                                description="电梯异响")
    resident = _signup(app, "13600000081", "郑阿姨")
    before_proof = record_call(assistant, caller_name="郑阿姨", phone="13600000081", address="8栋1单元101",
                               description="楼道堆放杂物")
    other = record_call(assistant, phone="13600000082", description="别人的来电")
    assert (_owner(before_signup), _owner(before_proof)) == (None, None)  # a claim links nothing
    assert resident.get(f"/portal/requests/{before_signup}").status_code != 200

    resident.post("/account/phone/send", data={"phone": "13600000081"})
    res = resident.post("/account/phone/verify", data={"code": _latest_code("13600000081")}, follow_redirects=True)
    assert "此前以该号码登记的 2 条来电求助已关联到账户" in res.get_data(as_text=True)
    assert (_owner(before_signup), _owner(before_proof), _owner(other)) == ("13600000081", "13600000081", None)
    page = resident.get("/portal").get_data(as_text=True)
    assert "电梯异响" in page and "楼道堆放杂物" in page and "别人的来电" not in page
    assert resident.get(f"/portal/requests/{before_signup}").status_code == 200
    assert _linked_events(before_signup) == [{"customer_username": "13600000081", "phone": "13600000081",
                                              "how": "code", "actor": "13600000081"}]
    with db.read_session() as session:
        proof = [history.payload_of(e) for e in history.events(session, "management") if e.kind == "phone_proven"]
    assert sorted(proof[-1]["linked"]) == sorted([before_signup, before_proof])

    # The request goes on (the engineer's task); the link stays, and the projection check reads it as sound.
    engineer = client_for("engineer")
    [tid] = [t for t in task_ids(engineer.get("/inbox").get_data(as_text=True)) if _instance_of(t) == before_signup]
    assert engineer.post(f"/tasks/{tid}", data={"result": "调整导轨", "fixed": "true", "action": "submit"}).status_code == 302
    assert _owner(before_signup) == "13600000081"
    with db.read_session() as session:
        assert [d for d in projections_check.verify(session) if d.instance_id in (before_signup, before_proof)] == []


def test_a_staff_confirmation_links_the_earlier_calls_too(app, client_for):
    assistant = client_for("assistant")
    earlier = record_call(assistant, caller_name="孔老伯", phone="13600000091", description="看不懂缴费单")
    _signup(app, "13600000091", "孔老伯")
    res = assistant.post("/phones/13600000091/confirm", data={"checked": "yes"}, follow_redirects=True)
    assert "此前以该号码登记的 1 条来电求助已关联到账户" in res.get_data(as_text=True)
    assert _owner(earlier) == "13600000091"
    assert _linked_events(earlier)[0]["how"] == "staff" and _linked_events(earlier)[0]["actor"] == "assistant"


def test_a_proven_number_moves_to_its_new_owner_on_a_staff_confirmation_not_on_a_code(app, client_for):
    """The carrier reissued 陈先生's old number to 林女士: her code does not take it from his account, a
    物业助理 who has checked her does; his account keeps the requests already his, new calls are hers."""
    assistant = client_for("assistant")
    his = record_call(assistant, phone=RESIDENT_PHONE, description="陈先生以前的来电")
    assert _owner(his) == RESIDENT_PHONE
    newcomer = _signup(app, RESIDENT_PHONE, "林女士")
    newcomer_name = f"{RESIDENT_PHONE}-2"
    newcomer.post("/account/phone/send", data={"phone": RESIDENT_PHONE})
    res = newcomer.post("/account/phone/verify", data={"code": _latest_code(RESIDENT_PHONE)})
    assert res.status_code == 422 and "请联系物业助理核实" in res.get_data(as_text=True)
    assert "现由 13800000001 验证" in assistant.get(f"/phones?q={RESIDENT_PHONE}").get_data(as_text=True)

    res = assistant.post(f"/phones/{newcomer_name}/confirm", data={"checked": "yes"}, follow_redirects=True)
    assert "该号码原由 13800000001 验证，现已转给此住户" in res.get_data(as_text=True)
    assert (_user(newcomer_name).phone, _user(RESIDENT_PHONE).phone) == (RESIDENT_PHONE, None)
    assert _owner(his) == RESIDENT_PHONE  # what was his stays his
    assert _owner(record_call(assistant, phone=RESIDENT_PHONE, description="林女士的来电")) == newcomer_name
    with db.read_session() as session:
        moved = [history.payload_of(e) for e in history.events(session, "management") if e.kind == "phone_moved"]
    assert moved == [{"phone": RESIDENT_PHONE, "from": RESIDENT_PHONE, "to": newcomer_name}]


def _instance_of(task_id: str) -> str:
    from engine.core.tables import TaskRow

    with db.read_session() as session:
        return session.get(TaskRow, task_id).instance_id


def test_a_number_an_admin_sets_on_a_new_account_links_its_earlier_calls_and_is_audited(app, client_for):
    """An administrator adding a resident with their number vouches for the person, as a 物业助理's
    confirmation does: the same path links the calls recorded under the number before, ends other accounts'
    unproven claims on it, and the ``management`` chain says which administrator did it."""
    assistant = client_for("assistant")
    earlier = record_call(assistant, caller_name="韩奶奶", phone="13600000111", description="想办理老人卡")
    squatter = _signup(app, "13600000111", "冒名者")  # only a claim: it must end, not win
    admin = client_for("admin")
    res = admin.post("/admin/users", data={"username": "hanlaoren", "display_name": "韩奶奶", "password": PW,
                                           "phone": "１３６００００01１１", "roles": ["customer"]},  # full-width digits
                     follow_redirects=True)
    assert res.status_code == 200
    assert "已添加用户 韩奶奶（hanlaoren），此前以该号码登记的 1 条来电求助已关联到账户" in res.get_data(as_text=True)
    assert _owner(earlier) == "hanlaoren"
    assert (_user("hanlaoren").phone, _user("hanlaoren").must_prove_phone) == ("13600000111", False)
    assert _user("13600000111").pending_phone is None
    assert _linked_events(earlier) == [{"customer_username": "hanlaoren", "phone": "13600000111", "how": "admin",
                                        "actor": "admin"}]
    with db.read_session() as session:
        management = [(e.kind, e.actor, history.payload_of(e)) for e in history.events(session, "management")]
        assert history.verify(session, earlier)[1] == []
    assert ("phone_proven", "admin", {"username": "hanlaoren", "phone": "13600000111", "how": "admin",
                                      "linked": [earlier]}) in management
    assert ("phone_claim_lost", "admin", {"username": "13600000111", "phone": "13600000111",
                                          "proven_by": "hanlaoren"}) in management
    assert squatter.get(f"/portal/requests/{earlier}").status_code != 200
    assert _owner(record_call(assistant, phone="13600000111", description="后来的来电")) == "hanlaoren"
