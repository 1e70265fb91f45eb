"""Python's huggingface_hub against the Hugging Face cache ddim writes, and the other way round.

Not run by the tests (they never start Python); run by hand to check that the cache layout is the
one huggingface_hub reads and writes. Two modes:

  read  CACHE REPO FILE...      huggingface_hub, offline, on a cache ddim filled: every FILE resolves
                                through refs/main to the snapshot ddim wrote, with the same bytes,
                                `scan_cache_dir` reports the repo without warnings, and
                                `snapshot_download(local_files_only=True, allow_patterns=FILE...)`
                                returns the same snapshot folder.
  fill  CACHE REPO ENDPOINT PATTERN...
                                huggingface_hub's own `snapshot_download` from ENDPOINT (the tests'
                                Hub-like server on 127.0.0.1) into CACHE, for ddim to read offline.

Prints one JSON object; exit code 1 if a check fails.
"""

import hashlib
import json
import os
import sys


def read(cache, repo, files):
    os.environ["HF_HUB_OFFLINE"] = "1"
    from huggingface_hub import hf_hub_download, scan_cache_dir, snapshot_download

    out = {"files": {}, "ok": True}
    for f in files:
        p = hf_hub_download(repo, f, cache_dir=cache, local_files_only=True)
        with open(p, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        out["files"][f] = {"path": p, "sha256": digest}
    info = scan_cache_dir(cache)
    out["scan_warnings"] = [str(w) for w in info.warnings]
    repos = [r for r in info.repos if r.repo_id == repo]
    out["scan_repo"] = (
        {
            "refs": sorted(ref for rev in repos[0].revisions for ref in rev.refs),
            "nb_files": sum(rev.nb_files for rev in repos[0].revisions),
            "size_on_disk": repos[0].size_on_disk,
        }
        if repos
        else None
    )
    snap = snapshot_download(repo, cache_dir=cache, local_files_only=True, allow_patterns=list(files))
    out["snapshot"] = snap
    out["ok"] = not out["scan_warnings"] and out["scan_repo"] is not None
    return out


def fill(cache, repo, endpoint, patterns):
    os.environ["HF_HUB_DISABLE_XET"] = "1"
    from huggingface_hub import snapshot_download

    snap = snapshot_download(repo, cache_dir=cache, endpoint=endpoint, allow_patterns=list(patterns))
    return {"snapshot": snap, "ok": True}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "read":
        result = read(sys.argv[2], sys.argv[3], sys.argv[4:])
    elif mode == "fill":
        result = fill(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(result, indent=1))
    sys.exit(0 if result["ok"] else 1)
