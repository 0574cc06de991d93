"""Overwrites the first bytes of one tensor in a safetensors file (for bad-input tests).

usage: poke_tensor.py FILE TENSOR HEXBYTES
"""
import json
import struct
import sys

path, name, hexbytes = sys.argv[1:4]
with open(path, "r+b") as f:
    header_len = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(header_len))
    begin = header[name]["data_offsets"][0]
    f.seek(8 + header_len + begin)
    f.write(bytes.fromhex(hexbytes))
