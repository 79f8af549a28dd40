#!/usr/bin/env python3
"""Emits C++ codecs from our schema files. Standard library only.

  kgen.py api SCHEMA OUTDIR      -> OUTDIR/<stem>.h, <stem>.cc, <stem>_fill.h
  kgen.py table OUTDIR SCHEMA... -> OUTDIR/api_table.h, api_table.cc, all_messages.h,
                                  all_fills.h

Per message the output is one struct (the union of all versions' fields)
with decode(Reader&, version), encode(Writer&, version) and size(version).
Structs hold data and encode/decode only; <stem>_fill.h is for tests.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schema import OPEN_END, SchemaError, parse_file  # noqa: E402

CXX_KEYWORDS = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char",
    "class", "const", "continue", "default", "delete", "do", "double", "else", "enum",
    "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if",
    "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "nullptr",
    "operator", "or", "private", "protected", "public", "register", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw", "true",
    "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "while", "xor", "version", "flex", "r", "w",
}

SCALAR = {
    # type: (C++ type, reader call, writer call, fixed size)
    "bool": ("bool", "boolean", "boolean", 1),
    "int8": ("std::int8_t", "i8", "i8", 1),
    "int16": ("std::int16_t", "i16", "i16", 2),
    "int32": ("std::int32_t", "i32", "i32", 4),
    "int64": ("std::int64_t", "i64", "i64", 8),
    "uint16": ("std::uint16_t", "u16", "u16", 2),
    "uint32": ("std::uint32_t", "u32", "u32", 4),
    "float64": ("double", "f64", "f64", 8),
    "uuid": ("Uuid", "uuid", "uuid", 16),
}


def member(f):
    n = f.name
    return n + "_" if n in CXX_KEYWORDS else n


def cond(r, valid):
    """C++ condition that `version` lies in range r; '' when always true."""
    lo, hi = r
    parts = []
    if lo > valid[0]:
        parts.append(f"version >= {lo}")
    if hi != OPEN_END and hi < valid[1]:
        parts.append(f"version <= {hi}")
    return " && ".join(parts)


def elem_cpp(f):
    if f.is_struct:
        return f.type
    if f.type in SCALAR:
        return SCALAR[f.type][0]
    if f.type == "string":
        return "std::string_view"
    return "Bytes"  # bytes, records


def value_cpp(f):
    """The C++ type of a present (non-null) value of f."""
    t = elem_cpp(f)
    return f"std::vector<{t}>" if f.is_array else t


def field_cpp(f):
    t = value_cpp(f)
    if f.eff_nullable is not None:
        t = f"std::optional<{t}>"
    return t


def default_init(f):
    """Member initializer text (without braces) or '' for value-init."""
    d = f.default
    if d == "null":
        if f.eff_nullable is None:
            raise SchemaError(f"{f.where}: default=null on a field that is never nullable")
        return ""
    if f.type == "records":
        return ""  # records start as null
    if f.is_array or f.type == "bytes":
        if d not in (None, ""):
            raise SchemaError(f"{f.where}: arrays and bytes take no default but null")
        # A nullable array or bytes field starts as an empty value, not null.
        return f"{value_cpp(f)}{{}}" if f.eff_nullable else ""
    if f.is_struct:
        return f"{f.type}{{}}" if f.eff_nullable else ""
    if f.type == "string":
        if d is None or d == "":
            return 'std::string_view("")' if f.eff_nullable else ""
        return f'std::string_view("{d}")'
    if f.type == "bool":
        if d in (None, "false"):
            return "false"
        if d == "true":
            return "true"
        raise SchemaError(f"{f.where}: bad bool default {d!r}")
    if f.type == "uuid":
        if d not in (None, "zero"):
            raise SchemaError(f"{f.where}: uuid default must be zero")
        return ""
    if f.type == "float64":
        return d or "0.0"
    if d is None:
        return "0"
    try:
        v = int(d, 0)
    except ValueError:
        raise SchemaError(f"{f.where}: bad integer default {d!r}")
    ctype = SCALAR[f.type][0]
    if f.type == "int64":
        return f"std::int64_t{{{v}}}" if v >= 0 else f"std::int64_t{{{v}}}"
    return f"static_cast<{ctype}>({v})"


def default_value_expr(f):
    init = default_init(f)
    return init if init else f"{field_cpp(f)}{{}}"


def is_default_expr(f, x):
    """C++ expression: field value x equals the field default (for tagged fields)."""
    if f.default == "null":
        return f"!{x}.has_value()"
    if f.is_array:
        if f.eff_nullable:
            return f"({x}.has_value() && {x}->empty())"
        return f"{x}.empty()"
    if f.type == "uuid":
        return f"{x}.is_zero()"
    return f"({x} == {default_value_expr(f)})"


class Emitter:
    def __init__(self, api):
        self.api = api
        self.valid = api.valid
        self.flex = api.flexible

    def flex_expr(self):
        if self.flex is None:
            return "false"
        if self.flex <= self.valid[0]:
            return "true"
        return f"version >= {self.flex}"

    # ---- declarations ---------------------------------------------------
    def struct_decl(self, name, fields, structs, top, kind):
        out = []
        out.append(f"struct {name} {{")
        if top:
            a = self.api
            out.append(f"  static constexpr std::int16_t api_key = {a.key};")
            out.append(f'  static constexpr const char* api_name = "{a.name}";')
            out.append(f"  static constexpr std::int16_t min_version = {a.valid[0]};")
            out.append(f"  static constexpr std::int16_t max_version = {a.valid[1]};")
            out.append(f"  static constexpr std::int16_t first_flexible_version = "
                       f"{-1 if a.flexible is None else a.flexible};")
            out.append(f"  static constexpr bool is_request = {'true' if kind == 'request' else 'false'};")
            out.append("")
            for sname, st in structs.items():
                out.extend(("  " + l) if l else l
                           for l in self.struct_decl(sname, st.fields, {}, False, kind))
                out.append("")
        for f in fields:
            init = default_init(f)
            out.append(f"  {field_cpp(f)} {member(f)}{{{init}}};")
        out.append("  TaggedFields unknown_tags;")
        out.append("")
        out.append("  bool decode(Reader& r, std::int16_t version);")
        out.append("  void encode(Writer& w, std::int16_t version) const;")
        out.append("  std::size_t size(std::int16_t version) const;")
        out.append(f"  friend bool operator==(const {name}&, const {name}&) = default;")
        out.append("};")
        return out

    # ---- decode -----------------------------------------------------------
    def read_elem(self, f, target, nullable_now, rd="r"):
        """Statements that read one element of f's type into `target`."""
        t = f.type
        if f.is_struct:
            if nullable_now:
                # emplace(T{}), not emplace(): clang decides that a nested
                # struct with member initializers is not default-constructible
                # while its enclosing class is incomplete, and remembers it.
                return [f"if ({rd}.i8() < 0) {{", f"  {target}.reset();", "} else {",
                        f"  if (!{target}.emplace({elem_cpp(f)}{{}}).decode({rd}, version)) "
                        "return false;", "}"]
            return [f"if (!{target}.decode({rd}, version)) return false;"]
        if t in SCALAR:
            return [f"{target} = {rd}.{SCALAR[t][1]}();"]
        if t == "string":
            fn = "nullable_string" if nullable_now else "string"
        else:
            fn = "nullable_bytes" if nullable_now else "bytes"
        return [f"{target} = {rd}.{fn}(flex);"]

    def min_size(self, f):
        if f.is_struct:
            return 0 if not self.struct_always_nonempty(f) else 1
        if f.type in SCALAR:
            return SCALAR[f.type][3]
        return 1

    def struct_always_nonempty(self, f):
        # Every version of this struct has a non-tagged field, or is flexible
        # (and so has at least the tagged-field count byte).
        for v in range(f.eff[0], min(f.eff[1], self.valid[1]) + 1):
            if self.flex is not None and v >= self.flex:
                continue
            if not any(c.tag is None and c.eff[0] <= v <= c.eff[1] for c in f.struct.fields):
                return False
        return True

    def read_field(self, f, target, rd="r"):
        """Statements reading field f (already known present) into target."""
        nullable = f.eff_nullable
        ncond = cond(nullable, self.valid) if nullable else None
        if not f.is_array:
            if nullable is None:
                return self.read_elem(f, target, False, rd)
            if nullable == f.eff:
                return self.read_elem(f, target, True, rd)
            return ([f"if ({ncond}) {{"] + ["  " + s for s in self.read_elem(f, target, True, rd)]
                    + ["} else {"] + ["  " + s for s in self.read_elem(f, target, False, rd)] + ["}"])
        ms = self.min_size(f)
        if nullable is None:
            nexpr = "false"
        elif nullable == f.eff:
            nexpr = "true"
        else:
            nexpr = f"({ncond})"
        out = ["{", f"  const std::int32_t n = {rd}.array_length(flex, {nexpr}, {ms});",
               f"  if (!{rd}.ok()) return false;"]
        vec = target
        if nullable is not None:
            out.append("  if (n < 0) {")
            out.append(f"    {target}.reset();")
            out.append("  } else {")
            out.append(f"    auto& v = {target}.emplace();")
            vec = "v"
            ind = "    "
        else:
            ind = "  "
            out.append("  {")
            out.append(f"    auto& v = {target};")
            vec = "v"
            ind = "    "
        # Grow as elements decode, never to the wire's count up front: the
        # count is only checked against the bytes left at 1 byte or less per
        # element, while an element in memory may take 100 bytes or more.
        # The reserve is a page at most.
        out.append(f"{ind}{vec}.clear();")
        out.append(f"{ind}{vec}.reserve(std::min<std::size_t>(static_cast<std::size_t>(n), "
                   f"1 + 4096 / sizeof({vec}[0])));")
        out.append(f"{ind}for (std::int32_t i = 0; i < n; ++i) {{")
        out.append(f"{ind}  auto& e = {vec}.emplace_back();")
        elem_lines = self.read_elem_plain(f, "e", rd)
        out.extend(f"{ind}  {s}" for s in elem_lines)
        out.append(f"{ind}}}")
        out.append("  }")
        out.append("}")
        return out

    def read_elem_plain(self, f, target, rd):
        if f.is_struct:
            return [f"if (!{target}.decode({rd}, version)) return false;"]
        if f.type in SCALAR:
            return [f"{target} = {rd}.{SCALAR[f.type][1]}();"]
        if f.type == "string":
            return [f"{target} = {rd}.string(flex);"]
        return [f"{target} = {rd}.bytes(flex);"]

    def decode_body(self, fields):
        out = [f"[[maybe_unused]] const bool flex = {self.flex_expr()};"]
        for f in fields:
            if f.tag is not None:
                # Tagged fields exist only as tags; when a version has the field
                # but not as a tag, it is a normal field there.
                if f.eff_tagged == f.eff:
                    continue
                raise SchemaError(f"{f.where}: fields that are tagged in only some versions are not supported")
            c = cond(f.eff, self.valid)
            body = self.read_field(f, member(f))
            if c:
                out.append(f"if ({c}) {{")
                out.extend("  " + s for s in body)
                out.append("}")
            else:
                out.extend(body)
        if self.flex is not None:
            tagged = sorted((f for f in fields if f.tag is not None), key=lambda f: f.tag)
            out.append("if (flex) {")
            out.append("  const std::uint32_t count = r.uvarint();")
            out.append("  if (!r.ok()) return false;")
            out.append("  if (count > r.remaining() / 2) {")
            out.append("    r.fail(DecodeError::kTruncated);")
            out.append("    return false;")
            out.append("  }")
            out.append("  for (std::uint32_t i = 0; i < count; ++i) {")
            out.append("    const std::uint32_t tag = r.uvarint();")
            out.append("    const std::uint32_t len = r.uvarint();")
            out.append("    const Bytes data = r.take(len);")
            out.append("    if (!r.ok()) return false;")
            if tagged:
                out.append("    switch (tag) {")
                for f in tagged:
                    c = cond(f.eff_tagged, self.valid)
                    out.append(f"      case {f.tag}:")
                    out.append(f"        if ({c or 'true'}) {{")
                    out.append("          Reader t = r.sub(data);")
                    out.extend("          " + s for s in self.read_field(f, member(f), "t"))
                    out.append("          if (!t.ok() || t.remaining() != 0) {")
                    out.append("            r.fail(t.ok() ? DecodeError::kBadValue : t.error());")
                    out.append("            return false;")
                    out.append("          }")
                    out.append("          continue;")
                    out.append("        }")
                    out.append("        break;")
                out.append("      default:")
                out.append("        break;")
                out.append("    }")
            out.append("    unknown_tags.push_back(RawTaggedField{tag, data});")
            out.append("  }")
            out.append("}")
        out.append("return r.ok();")
        return out

    # ---- encode / size ------------------------------------------------------
    def write_elem(self, f, x, nullable_now, mode):
        """mode 'w': statements writing x; mode 's': statements adding size to n."""
        t = f.type
        if f.is_struct:
            if nullable_now:
                if mode == "w":
                    return [f"if (!{x}) {{", "  w.i8(-1);", "} else {", "  w.i8(1);",
                            f"  {x}->encode(w, version);", "}"]
                return [f"n += 1 + ({x} ? {x}->size(version) : 0);"]
            return [f"{x}.encode(w, version);"] if mode == "w" else [f"n += {x}.size(version);"]
        if t in SCALAR:
            return [f"w.{SCALAR[t][2]}({x});"] if mode == "w" else [f"n += {SCALAR[t][3]};"]
        base = "string" if t == "string" else "bytes"
        if nullable_now:
            return ([f"w.nullable_{base}({x}, flex);"] if mode == "w"
                    else [f"n += nullable_{base}_size({x}, flex);"])
        return [f"w.{base}({x}, flex);"] if mode == "w" else [f"n += {base}_size({x}, flex);"]

    def write_field(self, f, x, mode):
        nullable = f.eff_nullable
        if not f.is_array:
            if nullable is None:
                return self.write_elem(f, x, False, mode)
            # The member is optional; in versions where it may not be null a
            # missing value is written as the empty value.
            plain = f"({x} ? *{x} : {elem_cpp(f)}{{}})"
            if nullable == f.eff:
                return self.write_elem(f, x, True, mode)
            ncond = cond(nullable, self.valid)
            return ([f"if ({ncond}) {{"] + ["  " + s for s in self.write_elem(f, x, True, mode)]
                    + ["} else {"] + ["  " + s for s in self.write_elem(f, plain, False, mode)] + ["}"])
        out = ["{"]
        if nullable is not None:
            out.append(f"  const bool is_null = !{x}.has_value();")
            if nullable != f.eff:
                out.append(f"  const bool null_ok = {cond(nullable, self.valid)};")
            else:
                out.append("  const bool null_ok = true;")
            out.append(f"  static const {value_cpp(f)} empty;")
            out.append(f"  const auto& v = is_null ? empty : *{x};")
            out.append("  const std::int64_t count = is_null && null_ok ? -1 : static_cast<std::int64_t>(v.size());")
        else:
            out.append(f"  const auto& v = {x};")
            out.append("  const std::int64_t count = static_cast<std::int64_t>(v.size());")
        if mode == "w":
            out.append("  w.array_length(count, flex);")
        else:
            out.append("  n += array_length_size(count, flex);")
        if mode == "s" and f.type in SCALAR:
            out.append(f"  n += v.size() * {SCALAR[f.type][3]};")
        else:
            out.append("  for (const auto& e : v) {")
            out.extend("    " + s for s in self.write_elem(f, "e", False, mode))
            out.append("  }")
        out.append("}")
        return out

    def encode_body(self, fields, mode):
        out = [f"[[maybe_unused]] const bool flex = {self.flex_expr()};"]
        if mode == "s":
            out.insert(0, "std::size_t n = 0;")
        for f in fields:
            if f.tag is not None:
                continue
            c = cond(f.eff, self.valid)
            body = self.write_field(f, member(f), mode)
            if c:
                out.append(f"if ({c}) {{")
                out.extend("  " + s for s in body)
                out.append("}")
            else:
                out.extend(body)
        if self.flex is not None:
            tagged = sorted((f for f in fields if f.tag is not None), key=lambda f: f.tag)
            out.append("if (flex) {")
            out.append("  std::size_t count = unknown_tags.size();")
            for f in tagged:
                c = cond(f.eff_tagged, self.valid)
                pres = f"!{is_default_expr(f, member(f))}"
                out.append(f"  const bool has_{f.tag} = {c + ' && ' if c else ''}{pres};")
                out.append(f"  count += has_{f.tag} ? 1 : 0;")
            if mode == "w":
                out.append("  w.uvarint(static_cast<std::uint32_t>(count));")
            else:
                out.append("  n += uvarint_size(count);")
            out.append("  std::size_t u = 0;")
            for f in tagged:
                if f.tag > 0:  # unknown tags below this known one go first
                    out.append(f"  for (; u < unknown_tags.size() && unknown_tags[u].tag < {f.tag}; ++u) {{")
                    out.extend("    " + s for s in self.unknown_tag(mode))
                    out.append("  }")
                out.append(f"  if (has_{f.tag}) {{")
                out.append("    std::size_t fs = 0;")
                out.append("    {")
                out.append("      std::size_t& n = fs;")
                out.extend("      " + s for s in self.write_field(f, member(f), "s"))
                out.append("    }")
                if mode == "w":
                    out.append(f"    w.uvarint({f.tag});")
                    out.append("    w.uvarint(static_cast<std::uint32_t>(fs));")
                    out.extend("    " + s for s in self.write_field(f, member(f), "w"))
                else:
                    out.append(f"    n += uvarint_size({f.tag}) + uvarint_size(fs) + fs;")
                out.append("  }")
            out.append("  for (; u < unknown_tags.size(); ++u) {")
            out.extend("    " + s for s in self.unknown_tag(mode))
            out.append("  }")
            out.append("}")
        if mode == "s":
            out.append("return n;")
        return out

    @staticmethod
    def unknown_tag(mode):
        if mode == "w":
            return ["w.uvarint(unknown_tags[u].tag);",
                    "w.uvarint(static_cast<std::uint32_t>(unknown_tags[u].data.size()));",
                    "w.raw(unknown_tags[u].data);"]
        return ["n += uvarint_size(unknown_tags[u].tag) + uvarint_size(unknown_tags[u].data.size()) +",
                "     unknown_tags[u].data.size();"]

    def struct_defs(self, qual, fields):
        out = []
        out.append(f"bool {qual}::decode(Reader& r, [[maybe_unused]] std::int16_t version) {{")
        out.extend("  " + s for s in self.decode_body(fields))
        out.append("}")
        out.append("")
        out.append(f"void {qual}::encode([[maybe_unused]] Writer& w, [[maybe_unused]] std::int16_t version) const {{")
        out.extend("  " + s for s in self.encode_body(fields, "w"))
        out.append("}")
        out.append("")
        out.append(f"std::size_t {qual}::size([[maybe_unused]] std::int16_t version) const {{")
        out.extend("  " + s for s in self.encode_body(fields, "s"))
        out.append("}")
        out.append("")
        return out

    # ---- test filler ----------------------------------------------------------
    def fill_fn(self, qual, fields):
        out = [f"inline void fill({qual}& x, [[maybe_unused]] std::int16_t version, "
               f"[[maybe_unused]] TestFiller& f) {{"]
        for fd in fields:
            r = fd.eff_tagged if fd.tag is not None else fd.eff
            c = cond(r, self.valid) or "true"
            m = "x." + member(fd)
            out.append(f"  if ({c}) {{")
            ncond = cond(fd.eff_nullable, self.valid) or "true" if fd.eff_nullable else None
            if ncond:
                out.append(f"    if (({ncond}) && f.null()) {{")
                out.append(f"      {m}.reset();")
                out.append("    } else {")
                # emplace(T{}) for clang, as in read_elem().
                out.append(f"      auto& y = {m}.emplace(std::remove_cvref_t<decltype(*{m})>{{}});")
                tgt = "y"
                ind = "      "
            else:
                tgt = m
                ind = "    "
            if fd.is_array:
                out.append(f"{ind}{tgt}.resize(f.count());")
                out.append(f"{ind}for (auto& e : {tgt}) {{")
                out.append(f"{ind}  {self.fill_elem(fd, 'e')}")
                out.append(f"{ind}}}")
            else:
                out.append(f"{ind}{self.fill_elem(fd, tgt)}")
            if ncond:
                out.append("    }")
            out.append("  }")
        if self.flex is not None:
            out.append(f"  if ({self.flex_expr()}) f.unknown_tags(x.unknown_tags);")
        out.append("}")
        return out

    def fill_elem(self, f, t):
        if f.is_struct:
            return f"fill({t}, version, f);"
        if f.type == "string":
            return f"{t} = f.string();"
        if f.type in ("bytes", "records"):
            return f"{t} = f.bytes();"
        if f.type == "bool":
            return f"{t} = f.boolean();"
        if f.type == "uuid":
            return f"{t} = f.uuid();"
        if f.type == "float64":
            return f"{t} = f.f64();"
        return f"{t} = f.integer<{SCALAR[f.type][0]}>();"


def emit_api(path, outdir):
    api = parse_file(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    em = Emitter(api)
    guard = f"KGW_GENERATED_{stem.upper()}_H"
    h = [f"// Generated by protocol/generator/kgen.py from protocol/schema/{stem}.schema.",
         "// Do not edit: change the schema.",
         "//",
         "// decode() expects a default-constructed value and returns false on",
         "// malformed input (the Reader holds the error). Strings and bytes are views",
         "// into the decoded buffer; the caller keeps that buffer alive. Fields a",
         "// version does not have keep their defaults and are not written.",
         "#pragma once", "", "#include <cstdint>", "#include <optional>",
         "#include <string_view>", "#include <vector>", "",
         '#include "protocol/wire/reader.h"', '#include "protocol/wire/writer.h"', "",
         "namespace kgw {", ""]
    del guard
    cc = [f"// Generated by protocol/generator/kgen.py from protocol/schema/{stem}.schema.",
          f'#include "{stem}.h"', "", "#include <algorithm>", "", "namespace kgw {", ""]
    fl = [f"// Generated test helper for protocol/schema/{stem}.schema: fills every field",
          "// present in a version with a non-default value.", "#pragma once", "",
          f'#include "{stem}.h"', '#include "test_filler.h"', "",
          "namespace kgw::testing {", ""]
    for msg in (api.request, api.response):
        top = api.name + ("Request" if msg.kind == "request" else "Response")
        h.extend(em.struct_decl(top, msg.fields, msg.structs, True, msg.kind))
        h.append("")
        for sname, st in msg.structs.items():
            cc.extend(em.struct_defs(f"{top}::{sname}", st.fields))
            fl.extend(em.fill_fn(f"{top}::{sname}", st.fields))
            fl.append("")
        cc.extend(em.struct_defs(top, msg.fields))
        fl.extend(em.fill_fn(top, msg.fields))
        fl.append("")
    # Struct fill functions call each other in any order: declare them first.
    decls = []
    for msg in (api.request, api.response):
        top = api.name + ("Request" if msg.kind == "request" else "Response")
        for sname in msg.structs:
            decls.append(f"inline void fill({top}::{sname}& x, std::int16_t version, TestFiller& f);")
    fl[8:8] = decls + [""]
    h.append("}  // namespace kgw")
    cc.append("}  // namespace kgw")
    fl.append("}  // namespace kgw::testing")
    write(os.path.join(outdir, stem + ".h"), h)
    write(os.path.join(outdir, stem + ".cc"), cc)
    write(os.path.join(outdir, stem + "_fill.h"), fl)


def emit_table(outdir, paths):
    apis = sorted((parse_file(p) for p in paths), key=lambda a: a.key)
    h = ["// Generated by protocol/generator/kgen.py: the APIs our schema describes.",
         "#pragma once", "", "#include <cstdint>", "#include <span>", "", "namespace kgw {", "",
         "struct ApiInfo {",
         "  std::int16_t key;",
         "  const char* name;",
         "  std::int16_t min_version;",
         "  std::int16_t max_version;",
         "  std::int16_t first_flexible_version;  // -1: never flexible",
         "};", "",
         "// Sorted by key.",
         "std::span<const ApiInfo> all_apis();",
         "// nullptr when the schema does not describe this key.",
         "const ApiInfo* find_api(std::int16_t key);", "",
         "}  // namespace kgw"]
    cc = ["// Generated by protocol/generator/kgen.py.", '#include "api_table.h"', "",
          "#include <algorithm>", "#include <array>", "", "namespace kgw {", "",
          f"static constexpr std::array<ApiInfo, {len(apis)}> kApis = {{{{"]
    for a in apis:
        cc.append(f'    {{{a.key}, "{a.name}", {a.valid[0]}, {a.valid[1]}, '
                  f'{-1 if a.flexible is None else a.flexible}}},')
    cc += ["}};", "",
           "std::span<const ApiInfo> all_apis() { return kApis; }", "",
           "const ApiInfo* find_api(std::int16_t key) {",
           "  auto it = std::lower_bound(kApis.begin(), kApis.end(), key,",
           "                             [](const ApiInfo& a, std::int16_t k) { return a.key < k; });",
           "  return it != kApis.end() && it->key == key ? &*it : nullptr;",
           "}", "", "}  // namespace kgw"]
    stems = [os.path.splitext(os.path.basename(p))[0] for p in paths]
    m = ["// Generated by protocol/generator/kgen.py: every message type, for code that",
         "// must handle all of them (tests, dispatch tables).", "#pragma once", ""]
    m += [f'#include "{s}.h"' for s in sorted(stems)]
    m += ["", "// X(Request, Response) for every API, by key."]
    m.append("#define KGW_FOR_EACH_API(X) \\")
    m += [f"  X({a.name}Request, {a.name}Response) \\" for a in apis]
    m.append("")
    write(os.path.join(outdir, "api_table.h"), h)
    write(os.path.join(outdir, "api_table.cc"), cc)
    write(os.path.join(outdir, "all_messages.h"), m)
    fills = ["// Generated by protocol/generator/kgen.py: test fill() for every message.",
             "#pragma once", ""] + [f'#include "{s}_fill.h"' for s in sorted(stems)]
    write(os.path.join(outdir, "all_fills.h"), fills)


def write(path, lines):
    text = "\n".join(lines) + "\n"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def main(argv):
    try:
        if len(argv) == 4 and argv[1] == "api":
            emit_api(argv[2], argv[3])
        elif len(argv) >= 4 and argv[1] == "table":
            emit_table(argv[2], argv[3:])
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except SchemaError as e:
        print(f"kgen: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
