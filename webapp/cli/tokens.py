"""``liyuan tokens list | revoke ID``: the API tokens from a shell, as on the admin page /admin/tokens.

Revoking here is audited like on the page (actor: ``--actor``, default the shell user).
"""

from __future__ import annotations

import os
import sys

from engine.core import clock, db


def _t(value) -> str:
    local = clock.to_local(value)
    return local.strftime("%Y-%m-%d %H:%M") if local else "-"


def cmd_list(args) -> int:
    from webapp.api import tokens  # here, not at import: the other commands never load Flask

    with db.read_session() as session:
        rows = tokens.listing(session, include_inactive=args.all)
    if not rows:
        print("没有有效的访问令牌" if not args.all else "没有访问令牌")
    for t in rows:
        print(f"#{t.id:<6} {t.username:<16} 签发 {_t(t.created_at)}  到期 {_t(t.expires_at)}  "
              f"{t.address or '-':<15} {t.status_name}")
    return 0


def cmd_revoke(args) -> int:
    from webapp.api import tokens

    with db.transaction() as session:
        done = tokens.revoke(session, args.token_id, actor=args.actor)
    if not done:
        print(f"访问令牌 #{args.token_id} 不存在或已撤销", file=sys.stderr)
        return 1
    print(f"已撤销访问令牌 #{args.token_id}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("tokens", help="API access tokens: list, revoke")
    tsub = p.add_subparsers(dest="tokens_command", required=True)
    ls = tsub.add_parser("list", help="valid tokens (--all: the latest 200 of any state)")
    ls.add_argument("--all", action="store_true")
    ls.set_defaults(func=cmd_list)
    rv = tsub.add_parser("revoke", help="revoke one token by its number")
    rv.add_argument("token_id", type=int)
    rv.add_argument("--actor", default=os.environ.get("USER", "cli"))
    rv.set_defaults(func=cmd_revoke)
