"""Erasing a person's personal data from the web app's side too: the engine erases what it holds
(:mod:`engine.helpdesk.erasure`), and the form drafts saved for those requests' tasks (and by the resident),
and the resident's failed sign-ins, go with it.

Used by ``liyuan audit erase`` and the admin page 个人信息删除, in the caller's transaction. No Flask here.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from engine.helpdesk import erasure
from webapp.tables import Draft, LoginFailure


def erase(session: Session, person: str, actor: str, reason: str = "") -> erasure.Erased:
    result = erasure.erase_person(session, person, actor, reason)
    if result.task_ids:  # what staff typed into those tasks' forms and saved without submitting
        session.execute(delete(Draft).where(Draft.task_id.in_(result.task_ids)))
    if result.user is not None:  # a signup resident's username is their phone number
        session.execute(delete(LoginFailure).where(LoginFailure.username == result.user.lower()))
        session.execute(delete(Draft).where(Draft.username == result.user))
    return result
