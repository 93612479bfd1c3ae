"""What a data team's Python reader (fastavro) makes of postbackd's Avro.

Run by scripts/fastavro.sh in a virtualenv with fastavro:
  fingerprint FILE.avsc...  prints "FILE 0x<16 hex digits>" per schema: the
                            CRC-64-AVRO fingerprint of its Parsing Canonical
                            Form, as fastavro computes it
  decode FILE.avsc          reads single-object messages, one hex line each, on
                            stdin; checks each header's fingerprint is the
                            schema's, decodes the body and prints it as JSON
  decode-confluent URL      reads Confluent-framed messages, one hex line each,
                            on stdin; fetches each schema id's schema from the
                            registry at URL (GET URL/schemas/ids/ID), decodes
                            the body after the 5-byte header and prints it as
                            JSON, as a data team's consumer does
"""
import io
import json
import sys
import urllib.request

import fastavro
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form


def spec_fingerprint(schema):
    # fastavro gives the 8 bytes as hex in the order the single-object
    # header stores them (little-endian); print them as the number.
    digest = bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))
    return int.from_bytes(digest, "little"), digest


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[1] == "fingerprint":
        for path in argv[2:]:
            with open(path) as f:
                n, _ = spec_fingerprint(json.load(f))
            print(f"{path} 0x{n:016x}")
        return 0
    if argv[1] == "decode":
        with open(argv[2]) as f:
            raw = json.load(f)
        _, digest = spec_fingerprint(raw)
        schema = parse_schema(raw)
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            b = bytes.fromhex(line)
            if b[:2] != b"\xc3\x01" or b[2:10] != digest:
                print(f"not a single-object message of this schema: header {b[:10].hex()}, want c301{digest.hex()}", file=sys.stderr)
                return 1
            record = fastavro.schemaless_reader(io.BytesIO(b[10:]), schema)
            print(json.dumps(record, default=str, sort_keys=True))
        return 0
    if argv[1] == "decode-confluent":
        schemas = {}
        for line in sys.stdin:
            line = line.strip()
            if not line:
                continue
            b = bytes.fromhex(line)
            if len(b) < 5 or b[0] != 0:
                print(f"not a confluent-framed message: {b[:5].hex()}", file=sys.stderr)
                return 1
            sid = int.from_bytes(b[1:5], "big")
            if sid not in schemas:
                with urllib.request.urlopen(f"{argv[2]}/schemas/ids/{sid}", timeout=30) as r:
                    schemas[sid] = parse_schema(json.loads(json.load(r)["schema"]))
            record = fastavro.schemaless_reader(io.BytesIO(b[5:]), schemas[sid])
            print(json.dumps(record, default=str, sort_keys=True))
        return 0
    print(f"unknown command {argv[1]}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
