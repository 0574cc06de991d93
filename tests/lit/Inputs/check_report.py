"""Checks the structure of a v4c compile report.json and prints what it found."""
import json
import sys

report = json.load(open(sys.argv[1]))
for key in ("kernels_total", "kernels_per_layer", "flops_total", "bytes_total", "kernels", "ops"):
    assert key in report, f"missing {key}"
    print(key)
kinds = sorted({k["kind"] for k in report["kernels"] if len(k["ops"]) > 1})
print("fused kinds:", " ".join(kinds))
assert report["kernels_total"] == len(report["kernels"])
assert sum(len(k["ops"]) for k in report["kernels"]) == len(report["ops"])
for k in report["kernels"]:
    for field in ("flops", "weight_bytes", "tensor_bytes", "arithmetic_intensity"):
        assert k[field] >= 0, (k, field)
assert report["flops_total"] > 0 and report["bytes_total"] > 0
print("every kernel has flops, bytes and intensity")
