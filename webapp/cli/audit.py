"""``liyuan audit …``: the signing key, verification of the whole log, replay of one instance.

``verify`` is what an auditor runs with someone who can write the database as the adversary: the chains,
then the Merkle tree against every signed checkpoint (the database's and the published file's), and with
``--projections`` every row reports read, recomputed from the log. Exit 1 names what was altered.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from engine.audit import history, personal, signing, tree, tree_verify
from engine.core import db


def cmd_keygen(args) -> int:
    path = Path(args.file) if args.file else signing.key_file()
    try:
        public = signing.keygen(path, overwrite=args.force)
    except FileExistsError:
        print(f"{path} 已存在：不覆盖现有签名密钥（确需更换请加 --force，并妥善保留旧公钥）", file=sys.stderr)
        return 1
    print(f"签名密钥已写入 {path}（权限 0600，切勿放入数据库或备份到同一位置）")
    print(f"public key (base64): {signing.public_b64(public)}")
    print(f"key id: {signing.key_id(public)}")
    return 0


def cmd_rotate_key(args) -> int:
    from engine.audit import keys

    with db.transaction() as session:
        record = keys.rotate(session, signing.key_file(), args.actor)
    print(f"签名密钥已轮换：{record['old_key_id']} → {record['new_key_id']}（轮换记录由新旧两把密钥共同签署，"
          f"已写入检查点文件与审计日志；旧密钥保留为 {signing.key_file().name}.retired-{record['old_key_id']}）")
    print(f"new public key (base64): {record['new_public_key']}")
    return 0


def cmd_restored(args) -> int:
    from engine.audit import keys

    try:
        with db.transaction() as session:
            record = keys.restored(session, args.actor)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"已签署恢复记录：数据库恢复到检查点（树大小 {record['tree_size']}，根 {record['root']}）；"
          "此后 liyuan audit verify 将把此前发布的更大检查点视为被合法恢复舍弃的历史")
    return 0


def _public_key(args):
    text = args.public_key or os.environ.get("LIYUAN_AUDIT_PUBLIC_KEY")
    if text:
        return signing.load_public(text)
    key = signing.private_key()
    return key.public_key() if key is not None else None


def cmd_verify(args) -> int:
    public = _public_key(args)
    file_rows = tree.published(Path(args.checkpoints) if args.checkpoints else None)
    with db.read_session() as session:
        count, breaks = history.verify(session, args.chain)
        report = tree_verify.verify(session, public, file_rows) if args.chain is None else None
        personal_problems = personal.verify(session) if args.chain is None else []
        diffs = []
        if args.projections:
            from engine.helpdesk import projections_check

            diffs = projections_check.verify(session, progress=_progress_for(args), jobs=_jobs(args))
    for brk in breaks:
        print(f"BROKEN {brk}")
    failed = bool(breaks)
    for problem in personal_problems:
        print(f"TAMPERED {problem}")
    failed |= bool(personal_problems)
    notes = []
    if report is not None:
        for problem in report.problems:
            print(f"TAMPERED {problem}")
        failed |= bool(report.problems)
        if public is None:
            print("未配置签名公钥（LIYUAN_AUDIT_PUBLIC_KEY 或签名密钥）：只校验了哈希链与树的完整性，未核对已签名检查点",
                  file=sys.stderr)
        else:
            notes.append(f"tree: {report.leaves} leaves, {report.checkpoints} signed checkpoint(s), "
                         f"signed up to {report.signed_up_to}")
        if report.superseded:
            notes.append(f"note: {report.superseded} published checkpoint(s) belong to history discarded by a "
                         "signed lawful restore")
    for diff in diffs:
        print(f"PROJECTION {diff}")
    failed |= bool(diffs)
    if not failed:
        print(f"ok: {count} audit row(s) verified" + (", projections recomputed from the log" if args.projections else ""))
    for note in notes:
        print(note)
    return 1 if failed else 0


def cmd_fill_step_timings(args) -> int:
    """The step timings of tasks completed before migration 0062, written from the log (see
    :func:`engine.helpdesk.projections_check.fill_step_timings`)."""
    from engine.helpdesk import projections_check

    with db.transaction() as session:
        if projections_check.steps_since(session) is None:
            print("无需补写：每个已完成的办理环节都应已有用时记录（verify --projections 逐条核对）")
            return 0
        written = projections_check.fill_step_timings(session, progress=_progress_for(args))
    print(f"已按审计日志补写 {written} 条环节用时记录；此后 verify --projections 核对每一个已完成的环节")
    return 0


def _jobs(args) -> int:
    from engine.core import parallel

    return args.jobs if args.jobs is not None else parallel.default_jobs()


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"应为正整数，收到 {text!r}")
    return value


def _progress_for(args):
    """The progress bar on stderr: when stderr is a terminal, or asked for with --progress."""
    return _progress if args.progress or sys.stderr.isatty() else None


def _progress(done: int, total: int, started: float) -> None:
    import time

    elapsed = time.monotonic() - started
    eta = f"剩余约 {elapsed / done * (total - done):.0f} 秒" if done else "正在估算剩余时间"
    rate = f"{done / elapsed:.0f} 个/秒" if done and elapsed > 0 else ""
    bar = "#" * int(30 * done / max(total, 1))
    print(f"\r[{bar:<30}] {done}/{total}  已用 {elapsed:.0f} 秒  {eta}  {rate}   ",
          end="" if done < total else "\n", file=sys.stderr, flush=True)


def cmd_export(args) -> int:
    import json

    from engine import audit

    with db.read_session() as session:
        bundle = audit.export_bundle(session, args.instance_id)
    if bundle is None:
        print(f"找不到实例 {args.instance_id}", file=sys.stderr)
        return 1
    Path(args.file).write_text(json.dumps(bundle, ensure_ascii=False, indent=1), encoding="utf-8")
    cp = bundle["checkpoint"]
    print(f"bundle written: {args.file} ({len(bundle['events'])} event(s), "
          + (f"checkpoint tree size {cp['tree_size']})" if cp else "NO signed checkpoint covers them)"))
    print(f"check it anywhere with: python {Path(audit.verify_bundle.__file__).name} {args.file}")
    return 0 if cp else 1


def cmd_replay(args) -> int:
    if args.all:
        return _replay_all(args)
    if getattr(args, "bundle", None):
        return cmd_replay_bundle(args)
    if not args.instance_id:
        print("请给出实例编号，或用 --all 重放全部实例、--bundle 文件 重放导出的审计包", file=sys.stderr)
        return 2
    from engine.runtime import replay

    with db.read_session() as session:
        result = replay.replay(session, args.instance_id)
    print(f"instance {result.instance_id}: hash chain {'intact' if result.chain_ok else 'BROKEN'}")
    for step in result.steps:
        mark = "ok " if step.matches else "MISMATCH"
        print(f"  #{step.seq:<4} {step.at}  {step.actor:<14} {step.kind:<15} {step.element_id or '':<24} {mark}")
    if result.error:
        print(f"  replay error: {result.error}")
    if result.erased:
        print(f"  个人信息已删除，按占位值回放（{result.erased} 项依法删除的个人信息以“{personal.ERASED}”代入；"
              "状态指纹不含个人信息的取值，仍逐步比对）")
    print("replay reproduces the recorded history" if result.ok else "replay does NOT reproduce the recorded history")
    return 0 if result.ok else 1


def cmd_erase(args) -> int:
    """Erase a person's personal data on a lawful request; the log keeps only the salted commitments."""
    from engine.core.errors import InvalidData
    from webapp import personal_erasure

    try:
        with db.transaction() as session:
            result = personal_erasure.erase(session, args.person, args.actor, args.reason or "")
    except InvalidData as exc:
        print("；".join(exc.errors.values()), file=sys.stderr)
        return 1
    print(f"已依法删除个人信息：{len(result.instances)} 条求助记录中的 {result.refs} 项个人信息"
          + (f"，住户账号 {result.user} 的姓名与电话（账号已停用）" if result.user else "")
          + "；审计日志中只保留了哈希承诺与删除记录，哈希链和已签名检查点不受影响")
    for iid in result.instances:
        print(f"  已删除：{iid}")
    for iid in result.legacy:
        print(f"  未能删除：{iid}（该记录所用流程版本早于个人信息分离，个人信息写在审计日志本身中，删除会破坏哈希链）")
    return 0


def cmd_replay_bundle(args) -> int:
    """``replay --bundle FILE``: the exported bundle replayed with no database (its pinned files, its events)."""
    import json

    from engine.runtime import bundle_replay

    try:
        bundle = json.loads(Path(args.bundle).read_text(encoding="utf-8"))
        result = bundle_replay.replay_bundle(bundle)
    except (OSError, ValueError) as exc:  # unreadable file, not JSON, not a bundle (BundleError)
        print(f"无法重放审计包 {args.bundle}：{exc}", file=sys.stderr)
        return 2
    print(f"bundle {args.bundle}: instance {result.instance_id}, hash chain {'intact' if result.chain_ok else 'BROKEN'}")
    for step in result.steps:
        mark = "ok " if step.matches else "MISMATCH"
        print(f"  #{step.seq:<4} {step.at}  {step.actor:<14} {step.kind:<15} {step.element_id or '':<24} {mark}")
    bad = result.first_mismatch
    if bad is not None:
        print(f"第 {bad.seq} 条（{bad.kind} {bad.element_id or ''}）重放后的状态与记录不符：该步记录的输入被改动过，"
              "或不是它所记录的状态的来源")
    if result.error:
        print(f"  replay error: {result.error}")
    if result.erased:
        print(f"  个人信息已删除，按占位值回放（{result.erased} 项依法删除的个人信息以“{personal.ERASED}”代入）")
    if not result.chain_ok:
        print("哈希链不完整：请先用 verify_bundle.py 核验该审计包")
    print("replay reproduces the recorded history" if result.ok else "replay does NOT reproduce the recorded history")
    return 0 if result.ok else 1


def _witness_urls(url: str) -> tuple[str, str]:
    base = url.rstrip("/")
    if not base.endswith("/checkpoints"):
        base += "/audit/checkpoints"
    return base, base[: -len("/checkpoints")] + "/consistency"


def _fetch(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - the URL the auditor gave
        return response.read()


def cmd_witness(args) -> int:
    """``witness --url URL``: fetch a server's signed checkpoints and check them against a local copy."""
    import json
    import urllib.parse

    from engine.audit import witness
    from engine.core import config

    checkpoints_url, consistency_url = _witness_urls(args.url)
    host = urllib.parse.urlsplit(checkpoints_url).netloc.replace(":", "_") or "server"
    copy = Path(args.copy) if args.copy else config.var_dir() / "witness" / f"{host}.jsonl"
    public_key = args.public_key or os.environ.get("LIYUAN_AUDIT_PUBLIC_KEY")
    try:
        remote = [json.loads(line) for line in _fetch(checkpoints_url).decode().splitlines() if line.strip()]
        local = ([json.loads(line) for line in copy.read_text(encoding="utf-8").splitlines() if line.strip()]
                 if copy.exists() else [])
    except (OSError, ValueError) as exc:
        print(f"无法取得或读取检查点：{exc}", file=sys.stderr)
        return 2

    def proof_of(first: int, second: int) -> list[str]:
        return json.loads(_fetch(f"{consistency_url}?first={first}&second={second}"))["proof"]

    found = witness.check(local, remote, proof_of, public_key)
    if public_key is None:
        print("未给出签名公钥（--public-key 或 LIYUAN_AUDIT_PUBLIC_KEY）：未核对检查点签名", file=sys.stderr)
    for restore in found.restores:
        print(restore)
    for problem in found.problems:
        print(f"不一致：{problem}")
    if found.problems:
        print(f"本地副本 {copy} 未更新：请保留它作为证据")
        return 1
    copy.parent.mkdir(parents=True, exist_ok=True)
    with copy.open("a", encoding="utf-8") as fh:  # append only: what the witness saw is never rewritten
        fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in found.new)
    checkpoints = [r for r in found.new if "record" not in r]
    newest = (checkpoints or [r for r in local if "record" not in r] or [{}])[-1]
    print(f"ok: 服务器的检查点与本地副本一致（本地原有 {len(local)} 行，新增 {len(checkpoints)} 个检查点"
          + (f"、{len(found.new) - len(checkpoints)} 条恢复记录" if len(found.new) > len(checkpoints) else "") + "）"
          + (f"；最新树大小 {newest['tree_size']}，根 {newest['root']}" if newest else ""))
    return 0


def _replay_all(args) -> int:
    import time

    from engine.runtime import replay_all

    if args.instance_id is not None:
        print("--all 与实例 id 不能同时给出", file=sys.stderr)
        return 1
    started = time.monotonic()
    outcomes = replay_all.replay_all(jobs=_jobs(args), progress=_progress_for(args))
    bad = [o for o in outcomes if not o.ok]
    for outcome in bad:
        print(f"MISMATCH 实例 {outcome.instance_id}：{outcome.problem}")
    steps = sum(o.steps for o in outcomes)
    print(f"{len(outcomes) - len(bad)} 个实例重放与记录一致，{len(bad)} 个不一致"
          f"（共重放 {steps} 步，用时 {time.monotonic() - started:.1f} 秒）")
    return 1 if bad else 0


def register(sub) -> None:
    p = sub.add_parser("audit", help="audit log")
    asub = p.add_subparsers(dest="audit_command", required=True)
    key = asub.add_parser("keygen", help="create the Ed25519 key that signs checkpoints (a 0600 file)")
    key.add_argument("--file", help="default: $LIYUAN_AUDIT_KEY_FILE or var/audit-signing.key")
    key.add_argument("--force", action="store_true", help="replace an existing key")
    key.set_defaults(func=cmd_keygen)
    rot = asub.add_parser("rotate-key", help="replace the signing key, by a record both keys sign")
    rot.add_argument("--actor", default=os.environ.get("USER", "cli"))
    rot.set_defaults(func=cmd_rotate_key)
    res = asub.add_parser("restored", help="after restoring a backup: sign 'restored to checkpoint N'")
    res.add_argument("--actor", default=os.environ.get("USER", "cli"))
    res.set_defaults(func=cmd_restored)
    ver = asub.add_parser("verify", help="chains, the Merkle tree against signed checkpoints, [projections]")
    ver.add_argument("--chain", help="only this chain's hashes")
    ver.add_argument("--public-key", help="base64 Ed25519 public key (default: $LIYUAN_AUDIT_PUBLIC_KEY or the signing key's)")
    ver.add_argument("--checkpoints", help="the published checkpoint file (default: $LIYUAN_AUDIT_CHECKPOINT_FILE)")
    ver.add_argument("--projections", action="store_true",
                     help="recompute request status, priority, ratings, tasks, SLA outcomes, step timings, instance status "
                     "from the log")
    _parallel_options(ver)
    ver.set_defaults(func=cmd_verify)
    fill = asub.add_parser("fill-step-timings",
                           help="write the step timings of tasks completed before migration 0062, from the log")
    fill.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    fill.set_defaults(func=cmd_fill_step_timings)
    exp = asub.add_parser("export", help="write an instance's audit bundle for verify_bundle.py (no database needed)")
    exp.add_argument("instance_id")
    exp.add_argument("file")
    exp.set_defaults(func=cmd_export)
    era = asub.add_parser("erase", help="erase a person's personal data (PIPL); chains and checkpoints stay valid")
    era.add_argument("--person", required=True, help="the person's phone number or resident username")
    era.add_argument("--reason", default="", help="the lawful request, e.g. its reference number")
    era.add_argument("--actor", required=True, help="who erases (an administrator), recorded in the log")
    era.set_defaults(func=cmd_erase)
    rep = asub.add_parser("replay", help="re-run an instance from its audit log and compare every state")
    rep.add_argument("instance_id", nargs="?")
    rep.add_argument("--bundle", help="replay an exported audit bundle offline (no database)")
    rep.add_argument("--all", action="store_true", help="replay every instance; exit 1 if any differs")
    _parallel_options(rep)
    rep.set_defaults(func=cmd_replay)
    wit = asub.add_parser("witness", help="fetch a server's signed checkpoints and check them against a local copy")
    wit.add_argument("--url", required=True, help="the server (http://host:port) or its /audit/checkpoints URL")
    wit.add_argument("--copy", help="the witness's local copy (default: var/witness/<host>.jsonl)")
    wit.add_argument("--public-key", help="the company's published public key (base64; default $LIYUAN_AUDIT_PUBLIC_KEY)")
    wit.set_defaults(func=cmd_witness)


def _parallel_options(parser) -> None:
    parser.add_argument("--jobs", type=_positive, help="worker processes (default: min(CPU cores, 4))")
    parser.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a terminal")
