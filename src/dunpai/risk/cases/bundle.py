"""Evidence bundles on disk: export a case's evidence, verify that not one byte changed.

Layout (format ``dunpai-evidence-bundle/1``)::

    DIR/manifest.json     case, signer (key id, Ed25519 public key, fingerprint), the evidence chain
                          (every item's header and hash) and every file's SHA-256 and size
    DIR/manifest.sig      base64 Ed25519 signature of manifest.json's exact bytes
    DIR/items/NNNN-...    one file per evidence item (its content, byte for byte as chained)
    DIR/extra/...         the police report, customer notices, case summary (listed and hashed too)

``verify_bundle`` names every problem: a file changed, missing or added, the manifest edited (the
signature no longer matches), a broken chain, or a signer that is not the trusted key.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dunpai.core.errors import StateError
from dunpai.keys import InvalidSignature
from dunpai.risk.cases.evidence import EvidenceItem, chain_problems, sha256_hex
from dunpai.risk.cases.signing import EvidenceSigner, fingerprint, verify_signature

BUNDLE_FORMAT = "dunpai-evidence-bundle/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass(frozen=True)
class BundleReport:
    ok: bool
    problems: tuple[str, ...]
    case_id: str | None = None
    files_checked: int = 0
    signer_fingerprint: str | None = None
    key_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "problems": list(self.problems), "case_id": self.case_id,
                "files_checked": self.files_checked, "signer_fingerprint": self.signer_fingerprint,
                "key_id": self.key_id}


@dataclass(frozen=True)
class BundleInput:
    case_id: str
    tenant: str
    items: Sequence[tuple[EvidenceItem, bytes]]
    extra: Mapping[str, bytes] = field(default_factory=dict)
    case: Mapping[str, Any] = field(default_factory=dict)


def export_bundle(data: BundleInput, out: Path, signer: EvidenceSigner, exported_by: str, exported_at: str) -> Path:
    """Write the bundle into ``out`` (created; must be empty). Returns the manifest's path."""
    if out.exists() and any(out.iterdir()):
        raise StateError("the bundle directory is not empty", path=str(out))
    problems = chain_problems(data.case_id, [it for it, _ in data.items])
    if problems:
        raise StateError("the stored evidence chain is broken; not exporting", chain=problems)
    (out / "items").mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    chain: list[dict[str, Any]] = []
    for item, content in data.items:
        if sha256_hex(content) != item.content_sha256:
            raise StateError("stored evidence content does not match its hash", seq=item.seq)
        rel = f"items/{item.file_name()}"
        (out / rel).write_bytes(content)
        files.append({"path": rel, "sha256": item.content_sha256, "size": len(content)})
        chain.append({**item.header(), "path": rel})
    for name, content in sorted(data.extra.items()):
        rel = f"extra/{name}"
        if "/" in name or name.startswith("."):
            raise StateError("extra file names must be plain names", name=name)
        (out / "extra").mkdir(exist_ok=True)
        (out / rel).write_bytes(content)
        files.append({"path": rel, "sha256": sha256_hex(content), "size": len(content)})
    public = signer.public_key()
    manifest = {
        "format": BUNDLE_FORMAT, "case_id": data.case_id, "tenant": data.tenant, "case": dict(data.case),
        "exported_at": exported_at, "exported_by": exported_by,
        "signer": {"algorithm": "ed25519", "key_id": signer.key_id, "public_key": public.hex(),
                   "fingerprint": fingerprint(public)},
        "chain": {"head": chain[-1]["item_hash"] if chain else None, "items": chain},
        "files": sorted(files, key=lambda f: f["path"]),
    }
    body = (json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()
    (out / MANIFEST).write_bytes(body)
    (out / SIGNATURE).write_text(base64.b64encode(signer.sign(body)).decode() + "\n", encoding="ascii")
    return out / MANIFEST


def _listed_files(root: Path) -> set[str]:
    found = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            found.add((Path(dirpath) / name).relative_to(root).as_posix())
    return found


def verify_bundle(root: Path, trusted_key: bytes | None = None) -> BundleReport:
    """Check signature, every file's hash and size, that no file was added, and the chain."""
    problems: list[str] = []
    manifest_path = root / MANIFEST
    if not root.is_dir():
        return BundleReport(False, (f"{root}: not a directory",))
    if not manifest_path.is_file():
        return BundleReport(False, (f"{MANIFEST}: missing",))
    body = manifest_path.read_bytes()
    try:
        manifest = json.loads(body)
        if manifest.get("format") != BUNDLE_FORMAT:
            raise ValueError("format")
        signer = manifest["signer"]
        public = bytes.fromhex(signer["public_key"])
        listed = {f["path"]: f for f in manifest["files"]}
        chain_items = manifest["chain"]["items"]
    except (ValueError, KeyError, TypeError):
        return BundleReport(False, (f"{MANIFEST}: not a readable {BUNDLE_FORMAT} manifest (edited?)",))
    case_id = manifest.get("case_id")
    fp = fingerprint(public)
    sig_path = root / SIGNATURE
    if not sig_path.is_file():
        problems.append(f"{SIGNATURE}: missing")
    else:
        try:
            verify_signature(public, body, base64.b64decode(sig_path.read_text(encoding="ascii").strip(),
                                                             validate=True))
        except (InvalidSignature, binascii.Error, UnicodeDecodeError, ValueError):
            problems.append(f"{MANIFEST}: the signature does not match (the manifest or {SIGNATURE} was edited)")
    if trusted_key is not None and trusted_key != public:
        problems.append(f"{MANIFEST}: signed by key {fp}, which is not the trusted key {fingerprint(trusted_key)}")
    on_disk = _listed_files(root) - {MANIFEST, SIGNATURE}
    for path, f in sorted(listed.items()):
        p = root / path
        if path not in on_disk or not p.is_file() or p.is_symlink():
            problems.append(f"{path}: missing (removed)")
            continue
        content = p.read_bytes()
        if len(content) != f["size"] or sha256_hex(content) != f["sha256"]:
            problems.append(f"{path}: content changed (SHA-256 {sha256_hex(content)[:16]}…, "
                            f"manifest says {str(f['sha256'])[:16]}…)")
    for path in sorted(on_disk - set(listed)):
        problems.append(f"{path}: added (not in the manifest)")
    try:
        items = [EvidenceItem(str(case_id), int(c["seq"]), c["kind"], c["name"], c["media_type"],
                              c["content_sha256"], int(c["size"]), c["prev_hash"], c["item_hash"], c["added_by"],
                              c["added_at"]) for c in chain_items]
        problems.extend(f"{MANIFEST}: {p}" for p in chain_problems(str(case_id), items))
        for c in chain_items:
            f = listed.get(c["path"])
            if f is None or f["sha256"] != c["content_sha256"]:
                problems.append(f"{MANIFEST}: evidence item {c['seq']} does not match its file {c['path']}")
        if items and manifest["chain"].get("head") != items[-1].item_hash:
            problems.append(f"{MANIFEST}: the chain head does not match the last item")
    except (KeyError, TypeError, ValueError):
        problems.append(f"{MANIFEST}: the evidence chain is unreadable (edited?)")
    return BundleReport(not problems, tuple(problems), case_id, len(listed), fp, signer.get("key_id"))
