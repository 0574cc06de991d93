"""Compares two float32 [tokens, vocab] .npy logit dumps (no numpy needed).

usage: compare_npy.py A.npy B.npy [--max-rel-l2 X] [--same-argmax]
Prints 'relative L2 R, argmax S/T' and exits 1 if a requested bound fails.
"""
import ast
import math
import struct
import sys


def load(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY", path + ": not a .npy file"
    header_len = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + header_len].decode())
    assert header["descr"] == "<f4", path + ": not float32"
    rows, cols = header["shape"]
    values = struct.unpack("<%df" % (rows * cols), data[10 + header_len:10 + header_len + 4 * rows * cols])
    return rows, cols, values


rows, cols, a = load(sys.argv[1])
rows_b, cols_b, b = load(sys.argv[2])
assert (rows, cols) == (rows_b, cols_b), "shapes differ"
num = sum((x - y) ** 2 for x, y in zip(a, b))
den = sum(y * y for y in b)
rel = math.sqrt(num / den)
argmax = lambda v, t: max(range(cols), key=lambda i: v[t * cols + i])
same = sum(argmax(a, t) == argmax(b, t) for t in range(rows))
print("relative L2 %.3g, argmax %d/%d" % (rel, same, rows))
ok = True
if "--max-rel-l2" in sys.argv:
    ok &= rel <= float(sys.argv[sys.argv.index("--max-rel-l2") + 1])
if "--same-argmax" in sys.argv:
    ok &= same == rows
sys.exit(0 if ok else 1)
