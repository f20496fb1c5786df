#!/usr/bin/env python3
"""Print a protobuf schema as a sorted table of facts, one per line:

  message actr.RpcEnvelope
  field actr.RpcEnvelope 1 route_key string required
  oneof actr.RpcEnvelope.payload 3 error
  enum actr.Direction 1 DIRECTION_REQUEST
  extension google.protobuf.MethodOptions 50001 actr.payload_type enum:actr.PayloadType optional

  schema_table.py DESCRIPTOR_SET [PACKAGE...]

DESCRIPTOR_SET is `protoc --include_imports --descriptor_set_out`; only
the named packages are printed (default: actr signaling webrtc). Two
schemas are wire- and name-compatible when their tables are equal. Used
by test/interop/schema.sh against the Rust system's table
(test/interop/upstream-schema.txt)."""
import sys

from google.protobuf import descriptor_pb2

F = descriptor_pb2.FieldDescriptorProto
TYPES = {v: k[5:].lower() for k, v in F.Type.items()}
LABELS = {v: k[6:].lower() for k, v in F.Label.items()}


def ftype(f):
    t = TYPES[f.type]
    if t in ("message", "enum", "group"):
        return t + ":" + f.type_name.lstrip(".")
    return t


def walk_msg(prefix, m, out):
    name = prefix + "." + m.name
    out.append("message " + name)
    for f in m.field:
        out.append("field %s %d %s %s %s" % (name, f.number, f.name, ftype(f),
                                             LABELS[f.label]))
        if f.HasField("oneof_index") and not f.proto3_optional:
            out.append("oneof %s.%s %d %s" % (
                name, m.oneof_decl[f.oneof_index].name, f.number, f.name))
        if f.HasField("default_value"):
            out.append("default %s %d %s" % (name, f.number, f.default_value))
    for r in m.reserved_range:
        out.append("reserved %s %d-%d" % (name, r.start, r.end - 1))
    for e in m.enum_type:
        walk_enum(name, e, out)
    for n in m.nested_type:
        if not n.options.map_entry:
            walk_msg(name, n, out)


def walk_enum(prefix, e, out):
    name = prefix + "." + e.name
    out.append("enum " + name)
    for v in e.value:
        out.append("value %s %d %s" % (name, v.number, v.name))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    fds = descriptor_pb2.FileDescriptorSet()
    with open(sys.argv[1], "rb") as fh:
        fds.ParseFromString(fh.read())
    pkgs = set(sys.argv[2:] or ["actr", "signaling", "webrtc"])
    out = []
    for fd in fds.file:
        if fd.package not in pkgs:
            continue
        for m in fd.message_type:
            walk_msg(fd.package, m, out)
        for e in fd.enum_type:
            walk_enum(fd.package, e, out)
        for x in fd.extension:
            out.append("extension %s %d %s.%s %s %s" % (
                x.extendee.lstrip("."), x.number, fd.package, x.name,
                ftype(x), LABELS[x.label]))
    for line in sorted(set(out)):
        print(line)


if __name__ == "__main__":
    main()
