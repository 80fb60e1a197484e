"""Users, roles and the lane-to-role mapping, password hashing (argon2) and the demo users.

Public face: the ``users`` module's names below; lanes in the diagrams are role names.
"""

from engine.identity.users import (
           DEMO_USERS,
           ROLE_BY_CODE,
           ROLE_BY_NAME,
           ROLES,
           IdentityError,
           Role,
           add_user,
           ensure_demo_users,
           get_user,
           hash_password,
           lane_role,
           list_users,
           roles_for_lanes,
           verify_password,
)

__all__ = ["DEMO_USERS", "ROLE_BY_CODE", "ROLE_BY_NAME", "ROLES", "IdentityError", "Role", "add_user",
           "ensure_demo_users", "get_user", "hash_password", "lane_role", "list_users", "roles_for_lanes",
           "verify_password"]
