"""The clause check (issue 14, item 2): an edit whose timer waits longer than the 工作规程 allows on an element
carrying that clause, or that removes a clause's step, is a warning naming the element; the procedure as
written has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.helpdesk import clause_check

BPMN = Path(__file__).resolve().parents[2] / "bpmn"
HELP = (BPMN / "help_request.bpmn").read_bytes()


def _edit(old: str, new: str) -> bytes:
    text = HELP.decode("utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new).encode("utf-8")


@pytest.mark.parametrize("path", sorted(BPMN.glob("*.bpmn")), ids=lambda p: p.stem)
def test_the_procedure_as_written_keeps_its_clauses(path):
    assert clause_check.check(path.read_bytes(), path.read_bytes()) == []


def test_a_timer_longer_than_its_clause_allows_is_a_warning_on_its_element():
    longer = _edit('<bpmn:timeDuration>"PT10M"</bpmn:timeDuration>', '<bpmn:timeDuration>"PT15M"</bpmn:timeDuration>')
    (warning,) = clause_check.check(longer, HELP, file="help_request.bpmn")
    assert warning.element_id == "b_take" and warning.line > 0
    assert "15分钟" in warning.message and "条款 4.1.2.a" in warning.message and "10分钟" in warning.message
    shorter = _edit('<bpmn:timeDuration>"PT10M"</bpmn:timeDuration>', '<bpmn:timeDuration>"PT5M"</bpmn:timeDuration>')
    assert clause_check.check(shorter, HELP) == []


def test_a_deadline_counted_from_receipt_is_checked_too():
    later = _edit('add_duration(received_at, "PT48H")', 'add_duration(received_at, "PT72H")')
    (warning,) = clause_check.check(later, HELP)
    assert warning.element_id == "b_plan" and "条款 T2.3" in warning.message and "48小时" in warning.message


def test_a_step_of_a_clause_removed_is_a_warning():
    dropped = _edit('<spiffworkflow:property name="clause" value="O3.2,O4,O4.2,T2.1,4.1.2.a,3.3"/>',
                    '<spiffworkflow:property name="clause" value="O3.2,O4,T2.1,4.1.2.a,3.3"/>')
    (warning,) = clause_check.check(dropped, HELP)
    assert warning.element_id == "take_job" and "O4.2" in warning.message and "不再标注" in warning.message
    assert clause_check.check(dropped) == []  # a first version has nothing to depart from
