"""audit.py — driving `xai audit` from Python and reading what it wrote.

The aggregation and the report are written once, in C (client/audit/);
this module does not reimplement them. It runs the `xai` command line
(run(), merge()), and reads an audit directory (load()): summary.json as a
dict, results.jsonl as a list of dicts in input order with each result's
values and standard errors as numpy arrays (k' x d for multi-target
results, d for single-target ones).

Distributed audits: run_dask() runs the shards of one audit as tasks on a
Dask distributed cluster (python3-distributed), each against the xaid
endpoint of the host its task runs on (a mapping host -> endpoint, or a
template with "{host}"), then merges the shard directories with
`xai audit merge`. The shard directories must be visible to the merging
process (a shared file system, or one machine).

docs/AUDIT.md has the command line and the file formats.
"""

import json
import os
import shutil
import socket
import subprocess
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np

from .protocol import XaiError

_HERE = os.path.dirname(os.path.abspath(__file__))


def find_xai() -> str:
    """The `xai` program: $XAI_CLI, else the build tree's, else PATH's."""
    env = os.environ.get("XAI_CLI")
    if env:
        return env
    root = os.environ.get("XAI_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(_HERE)))
    build = os.environ.get("XAI_BUILD", "build")
    for flavour in ("rel", "san"):
        p = os.path.join(root, build, flavour, "xai")
        if os.access(p, os.X_OK):
            return p
    found = shutil.which("xai")
    if found is None:
        raise XaiError("invalid_argument", "no `xai` program found (set XAI_CLI)")
    return found


def _options(opts: Mapping[str, Any]) -> List[str]:
    """Keyword options as `xai audit` flags: foo_bar=1 -> --foo-bar 1;
    True -> a bare flag; params/space dicts -> repeated --param k=v;
    target=["spam", 2] -> --target spam,2."""
    argv: List[str] = []
    for key, val in opts.items():
        if val is None or val is False:
            continue
        if key in ("params", "space"):
            for k, v in val.items():
                argv += ["--param" if key == "params" else "--space",
                         "%s=%s" % (k, v if isinstance(v, str) else json.dumps(v))]
            continue
        if key == "target" and isinstance(val, (list, tuple)):
            val = ",".join(str(v) for v in val)     # --target's list form: a,b,...
        flag = "--" + key.replace("_", "-")
        argv += [flag] if val is True else [flag, str(val)]
    return argv


def run(model: str, input: str, out: str, endpoint: Optional[str] = None,
        method: str = "occlusion", xai: Optional[str] = None, check: bool = True,
        timeout: Optional[float] = None, **opts: Any) -> subprocess.CompletedProcess:
    """Runs `xai audit --model M --method K --input FILE --out DIR ...`.
    Other options by keyword (seed=3, target="all" or a list, shard="0/2", pick=5,
    label_col="y", params={"samples": 1000}, quiet=True). Raises XaiError
    when it fails and `check` is set."""
    argv = [xai or find_xai()]
    if endpoint:
        argv += ["--endpoint", endpoint]
    argv += ["audit", "--model", model, "--method", method, "--input", input, "--out", out]
    argv += _options(opts)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise XaiError("internal_error", "xai audit exited with %d: %s"
                       % (p.returncode, p.stderr.strip()))
    return p


def merge(out: str, shard_dirs: Sequence[str], xai: Optional[str] = None) -> Dict[str, Any]:
    """`xai audit merge --out DIR SHARD_DIR...`; returns the merged summary."""
    p = subprocess.run([xai or find_xai(), "audit", "merge", "--out", out] + list(shard_dirs),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise XaiError("internal_error", "xai audit merge failed: %s" % p.stderr.strip())
    return load(out).summary


class Audit:
    """An audit directory as Python data.

    summary   summary.json (dict)
    settings  audit.json (dict): model, method, params, seed, target, ...
    results   results.jsonl lines in input order (the first line of an id),
              each a dict; a result's "values"/"stderrs" are numpy arrays
    """

    def __init__(self, path: str):
        self.path = path
        with open(os.path.join(path, "summary.json"), encoding="utf-8") as f:
            self.summary: Dict[str, Any] = json.load(f)
        with open(os.path.join(path, "audit.json"), encoding="utf-8") as f:
            self.settings: Dict[str, Any] = json.load(f)
        self.results: List[Dict[str, Any]] = read_results(os.path.join(path, "results.jsonl"))

    @property
    def errors(self) -> List[Dict[str, Any]]:
        """The lines that hold an error instead of a result."""
        return [r for r in self.results if "error" in r]

    def top(self, cls: Union[int, str, None] = None) -> List[Dict[str, Any]]:
        """The ranked tokens/features of a class (index or name), or overall."""
        if cls is None:
            return self.summary["overall"]["top"]
        for c in self.summary["classes"]:
            if cls in (c["index"], c["name"]):
                return c["top"]
        raise KeyError(cls)

    def table(self, cls: Union[int, str, None] = None) -> np.ndarray:
        """top(cls) as a numpy structured array with fields name, count,
        docs, mean_abs, se_abs, mean, se (a missing standard error is NaN)."""
        rows = self.top(cls)
        width = max([len(r["name"]) for r in rows] + [1])
        dt = np.dtype([("name", "U%d" % width), ("count", np.int64), ("docs", np.int64),
                       ("mean_abs", np.float64), ("se_abs", np.float64), ("mean", np.float64),
                       ("se", np.float64)])
        nan = float("nan")
        return np.array([(r["name"], r["count"], r["docs"], r["mean_abs"],
                          nan if r["se_abs"] is None else r["se_abs"], r["mean"],
                          nan if r["se"] is None else r["se"]) for r in rows], dtype=dt)

    def values(self) -> List[np.ndarray]:
        """Each done document's values (d, or k' x d), in input order."""
        return [r["result"]["values"] for r in self.results if "result" in r]


def read_results(path: str) -> List[Dict[str, Any]]:
    """results.jsonl as a list in input order ("n", then id), a torn last
    line skipped, a repeated id's later lines dropped — except that a result
    replaces an earlier error of its id (a --retry-errors run), as the C
    loader (xa_results_load) does."""
    seen: Dict[str, int] = {}
    out: List[Dict[str, Any]] = []
    with open(path, "rb") as f:
        data = f.read()
    for raw in data.split(b"\n")[:-1]:          # the part after the last \n is torn
        try:
            line = json.loads(raw)
        except ValueError:
            continue
        key = str(line.get("id"))
        if key in seen and not ("error" in out[seen[key]] and "error" not in line):
            continue
        res = line.get("result")
        if isinstance(res, dict):
            for k in ("values", "stderrs"):
                if res.get(k) is not None:
                    res[k] = np.asarray(res[k], dtype=np.float64)
        if key in seen:
            out[seen[key]] = line
        else:
            seen[key] = len(out)
            out.append(line)
    out.sort(key=lambda r: (r.get("n", 0), str(r.get("id"))))
    return out


def load(path: str) -> Audit:
    """Reads an audit directory written by `xai audit` or `xai audit merge`."""
    return Audit(path)


# ---- Dask ------------------------------------------------------------------

def _worker_address() -> str:
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return ""


def _endpoint_for(endpoints: Union[Mapping[str, str], str, Callable[[str], str]]) -> str:
    """The endpoint for the worker this runs on: a mapping's entry for the
    worker's address or else its host name; a template's "{host}" and
    "{worker}" filled in; a function called with the host name."""
    host, worker = socket.gethostname(), _worker_address()
    if callable(endpoints):
        return endpoints(host)
    if isinstance(endpoints, str):
        return endpoints.format(host=host, worker=worker)
    for key in (worker, host):
        if key in endpoints:
            return endpoints[key]
    raise XaiError("invalid_argument", "no xaid endpoint for worker %r on host %r" % (worker, host))


def _shard_task(i: int, n: int, endpoints: Any, model: str, input: str, out_root: str,
                opts: Dict[str, Any]) -> str:
    out = os.path.join(out_root, "shard-%d-of-%d" % (i, n))
    if callable(endpoints) or isinstance(endpoints, (str, Mapping)):
        ep = _endpoint_for(endpoints)
    else:
        ep = endpoints[i % len(endpoints)]
    run(model, input, out, endpoint=ep, shard="%d/%d" % (i, n), quiet=True, **opts)
    return out


def run_dask(client: Any, model: str, input: str, out: str, n_shards: int,
             endpoints: Union[Mapping[str, str], str, Callable[[str], str], Sequence[str]],
             shard_root: Optional[str] = None, workers: Optional[Sequence[Sequence[str]]] = None,
             **opts: Any) -> Dict[str, Any]:
    """Runs `n_shards` shards of one audit on a dask.distributed Client, then
    merges them into `out`; returns the merged summary.

    endpoints: a mapping hostname (or Dask worker address) -> xaid
    endpoint, a template such as "tcp://{host}:5555", a function of the
    hostname, or a list (shard i uses endpoints[i % len]). Each task picks
    the endpoint of the worker it runs on.
    workers: optional per-shard worker restrictions (Dask's `workers=`).
    Other keywords are `xai audit` options (method="lime", seed=1, ...)."""
    root = shard_root or out + ".shards"
    os.makedirs(root, exist_ok=True)
    futures = []
    for i in range(n_shards):
        kw = {"workers": list(workers[i]), "allow_other_workers": False} if workers else {}
        futures.append(client.submit(_shard_task, i, n_shards, endpoints, model, input, root,
                                     dict(opts), pure=False, **kw))
    dirs = client.gather(futures)
    return merge(out, dirs, xai=opts.get("xai"))
