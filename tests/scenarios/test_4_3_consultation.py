"""4.3 咨询的求助处理: written (4.3.1) and oral (4.3.2) consultations, answered by the 物业助理 or escalated to
客服部主管 (reply by phone, in writing, or relayed), a company written reply when needed, and 4.3.4 confidential
matters kept from the customer."""

from __future__ import annotations

from engine import identity
from engine.core import db
from tests.scenarios import driver as d
from webapp import policy


def start_consultation(channel: str, consult_form: str, *, confidential: bool = False) -> str:
    iid = d.start_request(channel, "d", process="consultation", description="咨询车位租赁规定")
    assert d.ready(iid) == {"register": "物业助理"}
    d.do(iid, "register", "assistant", consult_form=consult_form, question="地下车位可以转租吗？",
         confidential=confidential)
    return iid


def seen_by(username: str, data: dict) -> dict:
    with db.read_session() as session:
        return policy.visible_data(identity.get_user(session, username), data)


def test_4_3_1_written_consultation_registered_and_answered_by_the_assistant(procedure):
    iid = start_consultation("hotline", "written")
    assert d.ready(iid) == {"answer_written": "物业助理"}
    d.do(iid, "answer_written", "assistant", answered=True, answer="可以转租，需到客服中心备案")
    final = d.assert_finished(iid)
    assert final["answered"] is True and "supervisor_answer" not in final
    assert not any(el == "supervisor_reply" for _, el, _ in d.audit_kinds(iid))


def test_4_3_1_written_consultation_escalated_supervisor_replies_in_writing_company_replies_confidential(procedure):
    iid = start_consultation("online", "written", confidential=True)
    d.do(iid, "answer_written", "assistant", answered=False)
    # cannot be handled -> 客服部主管, with a 10-minute reply deadline (4.1.2.a)
    assert d.ready(iid) == {"supervisor_reply": "客服部主管"}
    assert d.task_row(iid, "supervisor_reply").sla_key == "supervisor_reply"
    assert d.inbox_elements("assistant", iid) == []
    d.do(iid, "supervisor_reply", "cs_supervisor", reply_method="written", need_company_written_reply=True,
         supervisor_answer="涉及与开发商的合同条款，由公司书面答复", confidential=True)
    assert d.ready(iid) == {"company_reply": "公司经理"}
    d.do(iid, "company_reply", "manager", company_reply="车位转租须经公司书面同意", replied_by="钱经理")
    final = d.assert_finished(iid)
    assert final["reply_method"] == "written" and final["company_reply"] == "车位转租须经公司书面同意"
    assert d.clocks(iid) == {"supervisor_reply": "met"}
    # 4.3.4 confidential: staff read the replies, the resident does not
    assert seen_by("cs_supervisor", final)["supervisor_answer"]
    hidden = seen_by("customer", final)
    assert "supervisor_answer" not in hidden and "company_reply" not in hidden and "question" not in hidden


def test_4_3_1_written_consultation_escalated_supervisor_replies_by_phone(procedure):
    iid = start_consultation("hotline", "written")
    d.do(iid, "answer_written", "assistant", answered=False)
    d.advance(minutes=6)
    d.do(iid, "supervisor_reply", "cs_supervisor", reply_method="phone", need_company_written_reply=False,
         supervisor_answer="已电话答复：可以转租", confidential=False)
    final = d.assert_finished(iid)
    assert final["reply_method"] == "phone" and "company_reply" not in final
    assert seen_by("customer", final)["supervisor_answer"] == "已电话答复：可以转租"


def test_4_3_2_oral_consultation_answered_at_once(procedure):
    iid = start_consultation("hotline", "oral")
    assert d.ready(iid) == {"answer_oral": "物业助理"}
    d.do(iid, "answer_oral", "assistant", answered=True, answer="快递可寄存在门岗，免费保管三天")
    final = d.assert_finished(iid)
    assert final["consult_form"] == "oral" and final["courteous"] is True


def test_4_3_2_oral_consultation_escalated_supervisor_reply_relayed_by_the_assistant(procedure):
    iid = start_consultation("hotline", "oral")
    d.do(iid, "answer_oral", "assistant", answered=False)
    d.do(iid, "supervisor_reply", "cs_supervisor", reply_method="via_assistant", need_company_written_reply=False,
         supervisor_answer="装修押金在验收合格后七个工作日内退还", confidential=False)
    assert d.ready(iid) == {"relay": "物业助理"}  # 经请示客服部主管后予以回复
    d.do(iid, "relay", "assistant", relayed=True)
    final = d.assert_finished(iid)
    assert final["relayed"] is True and final["reply_method"] == "via_assistant"


def test_4_3_2_no_pretending_an_answer_answered_needs_the_answer_text(procedure):
    iid = start_consultation("hotline", "oral")
    assert d.attempt(iid, "answer_oral", "assistant", answered=True, omit=("answer",)) == {"answer": "请填写此项"}
    assert d.attempt(iid, "answer_oral", "assistant", answered=False, courteous=False) == {
        "courteous": "必须确认此项"}  # 4.3.3 patient and polite
    d.do(iid, "answer_oral", "assistant", answered=False)
    assert d.ready(iid) == {"supervisor_reply": "客服部主管"}
