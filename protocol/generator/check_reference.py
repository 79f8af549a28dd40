#!/usr/bin/env python3
"""Cross-checks our schema files against Apache Kafka's message definitions.

  check_reference.py REFERENCE_DIR SCHEMA_DIR [API_NAME ...]

REFERENCE_DIR is a folder of Kafka's *Request.json / *Response.json files
(../shared/kafka-protocol/messages). Every field, type, version range,
nullable range, tag and default where our schema differs is printed, one
line each; the exit status is 1 if there is any difference or a required API
has no schema, 77 (meson's "skipped") if REFERENCE_DIR does not exist.
"""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schema import OPEN_END, SchemaError, intersect, parse_file, range_text  # noqa: E402

# Every API a Kafka client talks to a broker with (the protocol issue's list).
REQUIRED = [
    "Produce", "Fetch", "ListOffsets", "Metadata", "OffsetCommit", "OffsetFetch",
    "FindCoordinator", "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup",
    "DescribeGroups", "ListGroups", "SaslHandshake", "ApiVersions", "CreateTopics",
    "DeleteTopics", "DeleteRecords", "InitProducerId", "OffsetForLeaderEpoch",
    "AddPartitionsToTxn", "AddOffsetsToTxn", "EndTxn", "WriteTxnMarkers",
    "TxnOffsetCommit", "DescribeAcls", "CreateAcls", "DeleteAcls", "DescribeConfigs",
    "AlterConfigs", "DescribeLogDirs", "SaslAuthenticate", "CreatePartitions",
    "DeleteGroups", "ElectLeaders", "IncrementalAlterConfigs", "OffsetDelete",
    "DescribeClientQuotas", "AlterClientQuotas", "DescribeUserScramCredentials",
    "AlterUserScramCredentials", "DescribeCluster", "DescribeProducers",
    "DescribeTransactions", "ListTransactions", "ConsumerGroupHeartbeat",
    "ConsumerGroupDescribe",
]


def snake(name):
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    return s.lower()


def parse_kafka_range(text):
    if text is None or text == "none":
        return None
    if text.endswith("+"):
        return (int(text[:-1]), OPEN_END)
    if "-" in text:
        lo, hi = text.split("-")
        return (int(lo), int(hi))
    return (int(text), int(text))


def load_reference(path):
    lines = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.lstrip().startswith("//"):
                continue
            lines.append(line)
    return json.loads("".join(lines))


class Diff:
    def __init__(self):
        self.lines = []

    def add(self, where, what):
        self.lines.append(f"{where}: {what}")


def norm_default(type_name, is_array, text):
    # Kafka writes most defaults as strings, a few as bare JSON values.
    if isinstance(text, bool):
        text = "true" if text else "false"
    elif isinstance(text, (int, float)):
        text = str(text)
    if text is None or text == "":
        if is_array:
            return None
        if type_name == "string":
            return ""
        if type_name == "bool":
            return "false"
        if type_name in ("bytes", "records", "uuid") or type_name[:1].isupper():
            return None
        if type_name == "float64":
            return 0.0
        return 0
    if text == "null":
        return "null"
    if is_array:
        return text
    if type_name == "bool":
        return text.lower()
    if type_name == "float64":
        return float(text)
    if type_name in ("int8", "int16", "int32", "int64", "uint16", "uint32"):
        return int(text, 0)
    if type_name == "uuid" and text == "zero":
        return None
    return text


def compare_fields(ours, ref, parent_eff, valid, where, diff, ref_common):
    ref_names = [snake(f["name"]) for f in ref]
    our_names = [f.name for f in ours]
    if ref_names != our_names:
        diff.add(where, f"fields differ: ours {our_names} reference {ref_names}")
    ref_by_name = {snake(f["name"]): f for f in ref}
    for f in ours:
        r = ref_by_name.get(f.name)
        if r is None:
            continue
        w = f"{where}.{f.name}"
        rtype = r["type"]
        r_is_array = rtype.startswith("[]")
        r_elem = rtype[2:] if r_is_array else rtype
        if (r_is_array, r_elem) != (f.is_array, f.type):
            diff.add(w, f"type ours {'[]' if f.is_array else ''}{f.type} reference {rtype}")
        r_eff = intersect(parse_kafka_range(r.get("versions")), parent_eff)
        if r_eff != f.eff:
            diff.add(w, f"versions ours {range_text(f.eff)} reference {range_text(r_eff)}")
        r_null = intersect(parse_kafka_range(r.get("nullableVersions")), r_eff) if r_eff else None
        if r_null != f.eff_nullable:
            diff.add(w, f"nullable ours {range_text(f.eff_nullable)} reference {range_text(r_null)}")
        r_tag = r.get("tag")
        if r_tag != f.tag:
            diff.add(w, f"tag ours {f.tag} reference {r_tag}")
        elif r_tag is not None:
            r_tagged = intersect(parse_kafka_range(r.get("taggedVersions")), r_eff)
            if r_tagged != f.eff_tagged:
                diff.add(w, f"tagged versions ours {range_text(f.eff_tagged)} "
                            f"reference {range_text(r_tagged)}")
        if f.type != "records" and not (f.is_struct and not r.get("default")):
            d_ours = norm_default(f.type, f.is_array, f.default)
            d_ref = norm_default(r_elem, r_is_array, r.get("default"))
            if d_ours != d_ref:
                diff.add(w, f"default ours {d_ours!r} reference {d_ref!r}")
        if f.is_struct and (r_is_array, r_elem) == (f.is_array, f.type):
            children = r.get("fields")
            if children is None:
                common = ref_common.get(r_elem)
                if common is None:
                    diff.add(w, f"reference has no struct {r_elem}")
                    continue
                children = common["fields"]
                # Common structs stand alone in Kafka too: absolute versions.
                compare_fields(f.struct.fields, children, valid, valid, w, diff, ref_common)
            else:
                compare_fields(f.struct.fields, children, f.eff, valid, w, diff, ref_common)


def check_api(api, ref_dir, diff):
    for kind, msg in (("Request", api.request), ("Response", api.response)):
        path = os.path.join(ref_dir, f"{api.name}{kind}.json")
        where = f"{api.name}{kind}"
        if not os.path.exists(path):
            diff.add(where, f"no reference file {path}")
            continue
        ref = load_reference(path)
        if ref.get("apiKey") != api.key:
            diff.add(where, f"api key ours {api.key} reference {ref.get('apiKey')}")
        r_valid = parse_kafka_range(ref["validVersions"])
        if r_valid != api.valid:
            diff.add(where, f"versions ours {range_text(api.valid)} reference {range_text(r_valid)}")
        r_flex = parse_kafka_range(ref.get("flexibleVersions"))
        r_flex = None if r_flex is None else r_flex[0]
        if r_flex != api.flexible:
            diff.add(where, f"flexible from ours {api.flexible} reference {r_flex}")
        ref_common = {s["name"]: s for s in ref.get("commonStructs", [])}
        compare_fields(msg.fields, ref["fields"], api.valid, api.valid, where, diff, ref_common)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    ref_dir, schema_dir, only = argv[1], argv[2], argv[3:]
    if not os.path.isdir(ref_dir):
        print(f"check_reference: {ref_dir} does not exist; skipped")
        return 77
    diff = Diff()
    apis = {}
    for name in sorted(os.listdir(schema_dir)):
        if not name.endswith(".schema"):
            continue
        try:
            api = parse_file(os.path.join(schema_dir, name))
        except SchemaError as e:
            diff.add(name, f"schema error: {e}")
            continue
        apis[api.name] = api
    wanted = only or sorted(apis)
    for name in wanted:
        if name not in apis:
            diff.add(name, "no schema file")
            continue
        check_api(apis[name], ref_dir, diff)
    if not only:
        for name in REQUIRED:
            if name not in apis:
                diff.add(name, "required API has no schema file")
    for line in diff.lines:
        print(line)
    print(f"check_reference: {len(wanted)} APIs compared, {len(diff.lines)} differences")
    return 1 if diff.lines else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
