#!/usr/bin/python3
"""FastAPI + uvicorn + PyTorch serving the same network as `keel serve`, for bench/serve_bench.sh.

Usage:
    /usr/bin/python3 bench/fastapi_server.py --model bench/out/churn.keel --port 8000 \
        [--workers N] [--loop asyncio|uvloop] [--http h11|httptools]
or, as serve_bench.sh starts it, with uvicorn's own command line:
    KEEL_BENCH_MODEL=bench/out/churn.keel /usr/bin/python3 -m uvicorn fastapi_server:app \
        --app-dir bench --port 8000 --workers 1 --no-access-log

Endpoints: POST /v2/models/{name}/infer (Open Inference Protocol v2, the request keel takes)
and GET /v2/health/ready. {name} is the artifact's base name (churn.keel -> churn).

The same network, really: the model is read from the keel artifact itself (docs/artifact.md):
the fixed header, the tensor table, the JSON manifest, and the f32 `params` tensor, with the
file's SHA-256 checked. The manifest's graph is rebuilt node by node as torch modules
(nn.Linear for `linear`, with keel's W [in, out] transposed into torch's [out, in];
nn.Embedding for `embed`; nn.SiLU / nn.ReLU; concat; dropout is the identity at inference),
taking every weight from `params` at the offsets keel lays them out at (node order, each
parameter padded to a multiple of 16 floats). The per-column embedding layer `fe`, which keel
trains as a block-diagonal matrix, is run here as the dense 267 x 244 product it is stored as
(its off-block weights are zero); keel's one-row path multiplies only the blocks.

Request handling, per request (an `async def` handler, so the work runs on the event loop
with no thread hop; torch.set_num_threads(1), since one row gains nothing from more):
  1. FastAPI reads the body and pydantic (v1) validates it into InferenceRequest: an `inputs`
     list of {name: str, shape: [int], datatype: str, data: list, parameters: dict?}, with
     `id`, `parameters` and `outputs` optional. `data` is a list of any JSON values
     (flattened when nested); it is not checked against `datatype` element by element.
  2. Each input's shape must be [n] or [n, 1], its element count must match, every tensor
     the same n; an unknown input name is refused (400).
  3. keel's transforms, as the manifest gives them, in plain Python per value:
     - numeric: JSON null, or a string among the schema's missing-value tokens, is missing;
       other strings are read with float(). The score is the linear interpolation between
       the two knots around the value (end scores outside, `fill` when missing), then the
       piecewise-linear bins over the same edges keel picks from the knots (all 0 when
       missing), then the missing indicator;
     - boolean: JSON true/false, or the spellings keel_parse_bool accepts (1/0, t/f, y/n,
       yes/no, true/false in any case); anything else is missing (the schema's
       on_invalid: missing): 0.5 and the indicator;
     - categorical: a dictionary from the schema's categories to the transform's code_map;
       unknown -> 0, missing -> 1. A number sent for a category is looked up by str().
     Text and timestamp features are not implemented (the churn model has none): the server
     refuses to load such a model rather than serve something different.
  4. torch.tensor of the dense features (float32) and category indices (int64); the forward
     pass under torch.no_grad(); the manifest's calibration (Platt: sigmoid(a z + b)) or
     softmax; the label is the most probable class (the first on ties).
  5. The OIP v2 response as a dict, serialised by FastAPI (jsonable_encoder + json.dumps).
     Probabilities are float32 values printed as Python floats (0.9873981475830078 where
     keel writes the shortest float32 text, 0.98739815).
What it does not do that keel serve does: the schema's full validation with per-value error
messages (a numeric string that does not parse here is a 400 with Python's message; keel's
rules for on_invalid: reject, ranges and allowed values are not applied), request limits
and load shedding, the prediction log, Prometheus metrics, hot reload of the model, and the
KServe v1 and MLflow protocols. Those are all extra work on keel's side.
"""
import argparse
import bisect
import hashlib
import json
import math
import os
import struct
import sys
from typing import Any, Dict, List, Optional

import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel
from torch import nn

MAGIC = b"\x89KEEL\r\n\n"
DTYPES = {0: (torch.float32, 4), 1: (torch.float64, 8), 2: (torch.int32, 4), 3: (torch.int64, 8),
          4: (torch.uint8, 1)}


def read_artifact(path):
    """Returns (manifest dict, {tensor name: 1-D torch tensor}, sha256 hex of the file)."""
    with open(path, "rb") as f:
        b = f.read()
    if len(b) < 80 or b[:8] != MAGIC:
        raise ValueError("%s: not a keel artifact" % path)
    if hashlib.sha256(b[:-32]).digest() != b[-32:]:
        raise ValueError("%s: checksum mismatch" % path)
    version, flags, header_len, m_off, m_len, n_tensors = struct.unpack_from("<IIQQQQ", b, 8)
    if version != 1 or flags != 0:
        raise ValueError("%s: artifact version %d, flags %d not supported" % (path, version, flags))
    off, tensors = 48, {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<I", b, off)
        name = b[off + 4:off + 4 + name_len].decode("ascii")
        off += 4 + name_len
        dtype, rank = struct.unpack_from("<II", b, off)
        off += 8 + 8 * rank
        data_off, nbytes = struct.unpack_from("<QQ", b, off)
        off += 16
        tdt, size = DTYPES[dtype]
        tensors[name] = torch.frombuffer(bytearray(b[data_off:data_off + nbytes]), dtype=tdt) \
            if nbytes else torch.empty(0, dtype=tdt)
    manifest = json.loads(b[m_off:m_off + m_len].decode("utf-8"))
    if manifest.get("format") != "keel-model":
        raise ValueError("%s: not a model artifact" % path)
    return manifest, tensors, hashlib.sha256(b).hexdigest()


class KeelNet(nn.Module):
    """The manifest's graph as torch modules, evaluated in node order up to io.logits."""

    def __init__(self, manifest, params):
        super().__init__()
        g, io = manifest["graph"], manifest["io"]
        nodes = g["nodes"]
        self.logits = io["logits"]
        offsets, at = {}, 0
        for i, nd in enumerate(nodes):
            if nd["op"] == "param":
                offsets[i] = at
                at += (nd["rows"] * nd["cols"] + 15) & ~15
        if at != params.numel():
            raise ValueError("params holds %d floats, the graph needs %d" % (params.numel(), at))

        def param(i):
            nd = nodes[i]
            n = nd["rows"] * nd["cols"]
            return params[offsets[i]:offsets[i] + n].view(nd["rows"], nd["cols"]).clone()

        # Only the nodes the logits depend on (the loss and its inputs are left out).
        need, stack = set(), [self.logits]
        while stack:
            i = stack.pop()
            if i not in need:
                need.add(i)
                stack.extend(nodes[i]["inputs"])
        self.steps = []  # (node id, kind, module index or None, input node ids)
        self.mods = nn.ModuleList()
        for i, nd in enumerate(nodes):
            if i not in need:
                continue
            op, ins = nd["op"], nd["inputs"]
            if op in ("param",):
                continue
            if op == "input":
                if i != io["dense"]:
                    raise ValueError("unsupported input node %r" % nd["name"])
                self.steps.append((i, "dense", None, ins))
            elif op == "index":
                self.steps.append((i, "index", None, ins))
            elif op == "linear":
                w = param(ins[1])
                lin = nn.Linear(w.shape[0], w.shape[1], bias=len(ins) == 3)
                lin.weight.data.copy_(w.t())
                if len(ins) == 3:
                    lin.bias.data.copy_(param(ins[2]).view(-1))
                self.mods.append(lin)
                self.steps.append((i, "module", len(self.mods) - 1, ins[:1]))
            elif op in ("silu", "relu"):
                self.mods.append(nn.SiLU() if op == "silu" else nn.ReLU())
                self.steps.append((i, "module", len(self.mods) - 1, ins))
            elif op == "dropout":
                self.steps.append((i, "alias", None, ins))
            elif op == "embed":
                t = param(ins[1])
                emb = nn.Embedding(t.shape[0], t.shape[1])
                emb.weight.data.copy_(t)
                self.mods.append(emb)
                self.steps.append((i, "embed", len(self.mods) - 1, [ins[0], nd["iattr"]]))
            elif op == "concat":
                self.steps.append((i, "concat", None, ins))
            else:
                raise ValueError("op %r is not implemented in this benchmark server" % op)
        self.eval()

    def forward(self, dense, index):
        val = {}
        for i, kind, m, ins in self.steps:
            if kind == "dense":
                val[i] = dense
            elif kind == "index":
                val[i] = index
            elif kind == "module":
                val[i] = self.mods[m](val[ins[0]])
            elif kind == "alias":
                val[i] = val[ins[0]]
            elif kind == "embed":
                val[i] = self.mods[m](val[ins[0]][:, ins[1]])
            else:
                val[i] = torch.cat([val[j] for j in ins], dim=1)
        return val[self.logits]


BOOL_WORDS = {"1": 1, "t": 1, "y": 1, "yes": 1, "true": 1, "0": 0, "f": 0, "n": 0, "no": 0,
              "false": 0}


class Features:
    """keel's transforms (src/data/transform.c) for numeric, boolean and categorical columns."""

    def __init__(self, manifest):
        schema = manifest["schema"]
        self.missing = set(schema.get("missing", []))
        cols = {c["name"]: c for c in schema["columns"]}
        self.inputs = [c["name"] for c in schema["columns"][:-1] if c.get("role") == "feature"]
        self.feats = []  # (kind, column, details, dense or index slot)
        dense = index = 0
        for t in manifest["transforms"]:
            kind, col = t["kind"], t["column"]
            if kind == "numeric":
                knots, scores = t["knots"], t["scores"]
                nb = t.get("bins", 0)
                edges = [knots[(j * (len(knots) - 1) + nb // 2) // nb] for j in range(nb + 1)] \
                    if nb else []
                self.feats.append(("numeric", col, (knots, scores, t["fill"], edges,
                                                    t["indicator"]), dense))
                dense += 1 + nb + (1 if t["indicator"] else 0)
            elif kind == "boolean":
                self.feats.append(("boolean", col, t["indicator"], dense))
                dense += 1 + (1 if t["indicator"] else 0)
            elif kind == "categorical":
                cats = cols[col].get("categories", [])
                self.feats.append(("categorical", col, dict(zip(cats, t["code_map"])), index))
                index += 1
            else:
                raise ValueError("%s features are not implemented in this benchmark server" % kind)
        self.n_dense, self.n_index = dense, index

    def is_missing(self, v):
        return v is None or (isinstance(v, str) and v in self.missing)

    @staticmethod
    def score(knots, scores, fill, x):
        if not knots:
            return fill
        if not x > knots[0]:
            return scores[0]
        if x >= knots[-1]:
            return scores[-1]
        lo = bisect.bisect_right(knots, x) - 1
        t = (x - knots[lo]) / (knots[lo + 1] - knots[lo])
        return scores[lo] + t * (scores[lo + 1] - scores[lo])

    def rows(self, columns, n):
        """columns: {name: list of n values} -> (dense float32 [n, d], index int64 [n, k])."""
        dense = [[0.0] * self.n_dense for _ in range(n)]
        index = [[0] * self.n_index for _ in range(n)]
        for kind, col, det, slot in self.feats:
            vals = columns.get(col)
            for r in range(n):
                v = vals[r] if vals is not None else None
                if kind == "numeric":
                    knots, scores, fill, edges, ind = det
                    out = dense[r]
                    miss = self.is_missing(v)
                    if not miss:
                        x = v if isinstance(v, (int, float)) and not isinstance(v, bool) \
                            else float(v)
                        miss = math.isnan(x)
                    if miss:
                        out[slot] = fill
                    else:
                        out[slot] = self.score(knots, scores, fill, x)
                        for b in range(len(edges) - 1):
                            e0, e1 = edges[b], edges[b + 1]
                            out[slot + 1 + b] = 1.0 if x >= e1 else (
                                0.0 if x <= e0 else (x - e0) / (e1 - e0))
                    if ind:
                        out[slot + len(edges) - (1 if edges else 0) + 1] = 1.0 if miss else 0.0
                elif kind == "boolean":
                    if isinstance(v, bool):
                        b = int(v)
                    elif isinstance(v, str) and not self.is_missing(v):
                        b = BOOL_WORDS.get(v.lower(), -1)
                    else:
                        b = -1
                    dense[r][slot] = 0.5 if b < 0 else float(b)
                    if det:
                        dense[r][slot + 1] = 1.0 if b < 0 else 0.0
                else:
                    if self.is_missing(v):
                        index[r][slot] = 1
                    else:
                        index[r][slot] = det.get(v if isinstance(v, str) else str(v), 0)
        return (torch.tensor(dense, dtype=torch.float32),
                torch.tensor(index, dtype=torch.int64))


class RequestInput(BaseModel):
    name: str
    shape: List[int]
    datatype: str
    parameters: Optional[Dict[str, Any]] = None
    data: List[Any]


class RequestOutput(BaseModel):
    name: str
    parameters: Optional[Dict[str, Any]] = None


class InferenceRequest(BaseModel):
    id: Optional[str] = None
    parameters: Optional[Dict[str, Any]] = None
    inputs: List[RequestInput]
    outputs: Optional[List[RequestOutput]] = None


def flatten(data):
    out = []
    for v in data:
        if isinstance(v, list):
            out.extend(flatten(v))
        else:
            out.append(v)
    return out


class Served:
    def __init__(self, path):
        manifest, tensors, sha = read_artifact(path)
        self.name = os.path.basename(path)
        if self.name.endswith(".keel"):
            self.name = self.name[:-5]
        self.version = sha[:12]  # what keel serve reports for a model served from a file
        self.net = KeelNet(manifest, tensors["params"])
        self.features = Features(manifest)
        self.known = set(self.features.inputs)
        target, cal = manifest["target"], manifest["calibration"]
        self.task = target["task"]
        self.classes = target.get("classes", [])
        self.cal = cal
        self.mean, self.scale = target.get("mean", 0.0), target.get("scale", 1.0)

    def finish(self, logits):
        """Calibrated probabilities [n, k], as keel_model_finish."""
        if self.task == "binary":
            s = logits[:, 0].double()
            if self.cal["kind"] == "platt":
                s = self.cal["a"] * s + self.cal["b"]
            return torch.stack([torch.sigmoid(-s), torch.sigmoid(s)], dim=1).float()
        scale = 1.0 / self.cal["t"] if self.cal["kind"] == "temperature" else 1.0
        return torch.softmax(logits.double() * scale, dim=1).float()

    def infer(self, req):
        columns, n = {}, None
        for i, t in enumerate(req.inputs):
            if t.name not in self.known:
                raise HTTPException(400, "inputs[%d].name: %r is not an input of the model"
                                    % (i, t.name))
            if len(t.shape) not in (1, 2) or (len(t.shape) == 2 and t.shape[1] != 1):
                raise HTTPException(400, "inputs[%d].shape: expected [n] or [n, 1]" % i)
            data = flatten(t.data)
            if len(data) != t.shape[0]:
                raise HTTPException(400, "inputs[%d].data: %d values, shape needs %d"
                                    % (i, len(data), t.shape[0]))
            if n is not None and t.shape[0] != n:
                raise HTTPException(400, "inputs[%d].shape: every tensor needs one value per row"
                                    % i)
            n = t.shape[0]
            columns[t.name] = data
        try:
            dense, index = self.features.rows(columns, n)
        except (TypeError, ValueError) as e:
            raise HTTPException(400, str(e))
        with torch.no_grad():
            logits = self.net(dense, index)
        if self.task == "regression":
            pred = (logits[:, 0].double() * self.scale + self.mean).tolist()
            outputs = [{"name": "prediction", "datatype": "FP64", "shape": [n], "data": pred}]
        else:
            proba = self.finish(logits)
            labels = [self.classes[j] for j in torch.argmax(proba, dim=1).tolist()]
            outputs = [{"name": "label", "datatype": "BYTES", "shape": [n], "data": labels},
                       {"name": "probabilities", "datatype": "FP32",
                        "shape": [n, len(self.classes)], "data": proba.view(-1).tolist()}]
        out = {"model_name": self.name, "model_version": self.version}
        if req.id is not None:
            out["id"] = req.id
        out["outputs"] = outputs
        return out


torch.set_num_threads(1)
app = FastAPI()
# Loaded at import, in every uvicorn worker; not when this file runs as the launcher.
served = Served(os.environ.get("KEEL_BENCH_MODEL", "bench/out/churn.keel")) \
    if __name__ != "__main__" else None


@app.get("/v2/health/ready")
async def ready():
    return {"ready": True}


@app.post("/v2/models/{model_name}/infer")
async def infer(model_name: str, req: InferenceRequest):
    if model_name != served.name:
        raise HTTPException(404, "no model %r is served here" % model_name)
    return served.infer(req)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bench/out/churn.keel")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--loop", default="auto")
    ap.add_argument("--http", default="auto")
    a = ap.parse_args()
    os.environ["KEEL_BENCH_MODEL"] = os.path.abspath(a.model)
    import uvicorn
    uvicorn.run("fastapi_server:app", app_dir=os.path.dirname(os.path.abspath(__file__)),
                host=a.host, port=a.port, workers=a.workers, loop=a.loop, http=a.http,
                access_log=False, log_level="warning")


if __name__ == "__main__":
    sys.exit(main())
