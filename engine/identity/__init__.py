"""Users, roles and the lane-to-role mapping, password hashing (argon2), the password rules, sign-in
generations (ending every session of a user), password reset codes and the demo users; departments, their
heads and the duty roster; proven phone numbers (``phones``).

Public face: the names below; lanes in the diagrams are role names (or 责任部门 / 部门主管, see
``departments``).
"""

from engine.identity import departments, phones
from engine.identity.demo import DEMO_DEPARTMENTS, ensure_demo_users
from engine.identity.departments import DEPARTMENT_BY_CODE, DEPARTMENTS, Department
from engine.identity.passwords import MAX_LENGTH as PASSWORD_MAX_LENGTH
from engine.identity.passwords import MIN_LENGTH as PASSWORD_MIN_LENGTH
from engine.identity.passwords import problem as password_problem
from engine.identity.reset import issue_reset_code, redeem_reset_code
from engine.identity.users import (
           DEMO_USERS,
           ROLE_BY_CODE,
           ROLE_BY_NAME,
           ROLES,
           IdentityError,
           Role,
           add_user,
           authenticate,
           check_password,
           end_sessions,
           get_user,
           hash_password,
           lane_role,
           list_users,
           roles_for_lanes,
           set_password,
           verify_password,
)

__all__ = ["DEMO_DEPARTMENTS", "DEMO_USERS", "DEPARTMENTS", "DEPARTMENT_BY_CODE", "PASSWORD_MAX_LENGTH",
           "PASSWORD_MIN_LENGTH", "ROLES", "ROLE_BY_CODE", "ROLE_BY_NAME", "Department", "IdentityError", "Role",
           "add_user", "authenticate", "check_password", "departments", "end_sessions", "ensure_demo_users",
           "get_user", "hash_password", "issue_reset_code", "lane_role", "list_users", "password_problem", "phones",
           "redeem_reset_code", "roles_for_lanes", "set_password", "verify_password"]
