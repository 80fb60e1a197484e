"""Users, roles and the lane-to-role mapping, password hashing (argon2) and the demo users; departments,
their heads and the duty roster.

Public face: the names below; lanes in the diagrams are role names (or 责任部门 / 部门主管, see
``departments``).
"""

from engine.identity import departments
from engine.identity.demo import DEMO_DEPARTMENTS, ensure_demo_users
from engine.identity.departments import DEPARTMENT_BY_CODE, DEPARTMENTS, Department
from engine.identity.users import (
           DEMO_USERS,
           ROLE_BY_CODE,
           ROLE_BY_NAME,
           ROLES,
           IdentityError,
           Role,
           add_user,
           get_user,
           hash_password,
           lane_role,
           list_users,
           roles_for_lanes,
           verify_password,
)

__all__ = ["DEMO_DEPARTMENTS", "DEMO_USERS", "DEPARTMENTS", "DEPARTMENT_BY_CODE", "ROLES", "ROLE_BY_CODE",
           "ROLE_BY_NAME", "Department", "IdentityError", "Role", "add_user", "departments", "ensure_demo_users",
           "get_user", "hash_password", "lane_role", "list_users", "roles_for_lanes", "verify_password"]
