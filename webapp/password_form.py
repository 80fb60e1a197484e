"""The new-password fields every form that sets a password shares (sign-up, changing it, a reset by code):
the rules of ``engine.identity.passwords`` and the repeat, checked one way with one set of messages."""

from __future__ import annotations

from engine import identity


def new_password_errors(form, *, username: str, phone: str | None = None) -> dict[str, str]:
    """Messages beside ``password`` / ``password2`` for the posted ``form``; {} when the new password is good."""
    password = form.get("password", "")
    problem = identity.password_problem(password, username=username, phone=phone)
    if problem:
        return {"password": problem}
    if password != form.get("password2", ""):
        return {"password2": "两次输入的密码不一致"}
    return {}
