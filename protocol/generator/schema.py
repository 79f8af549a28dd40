"""Parser for our Kafka schema files (protocol/schema/*.schema).

The format is ours (see protocol/schema/README.md). This module only reads
it into a small model; kgen.py emits C++ from the model and
check_reference.py compares it with Kafka's own message definitions.
"""

import re

PRIMITIVES = {
    "bool", "int8", "int16", "int32", "int64", "uint16", "uint32",
    "float64", "string", "bytes", "records", "uuid",
}
OPEN_END = 1 << 15  # "v3+" is stored as (3, OPEN_END)


class SchemaError(Exception):
    pass


def parse_range(text, where):
    """'v3+' -> (3, OPEN_END); 'v0-2' -> (0, 2); 'v5' -> (5, 5); 'none' -> None."""
    if text == "none":
        return None
    m = re.fullmatch(r"v(\d+)(\+|-(\d+))?", text)
    if not m:
        raise SchemaError(f"{where}: bad version range {text!r} (want v3+, v0-2 or v5)")
    lo = int(m.group(1))
    if m.group(2) == "+":
        return (lo, OPEN_END)
    hi = int(m.group(3)) if m.group(3) else lo
    if hi < lo:
        raise SchemaError(f"{where}: empty version range {text!r}")
    return (lo, hi)


def intersect(a, b):
    if a is None or b is None:
        return None
    lo, hi = max(a[0], b[0]), min(a[1], b[1])
    return (lo, hi) if lo <= hi else None


def range_text(r):
    if r is None:
        return "none"
    if r[1] == OPEN_END:
        return f"{r[0]}+"
    return f"{r[0]}" if r[0] == r[1] else f"{r[0]}-{r[1]}"


class Field:
    def __init__(self, name, type_text, where):
        self.name = name
        self.where = where
        self.is_array = type_text.startswith("[]")
        self.type = type_text[2:] if self.is_array else type_text
        self.versions = None      # declared range, None = same as parent
        self.nullable = None      # range, None = never
        self.nullable_all = False  # 'nullable' without a range
        self.tag = None
        self.tagged = None        # range, None = tagged in all field versions
        self.default = None       # text, None = the type's zero value
        self.fields = []          # children, for inline struct types
        # Filled in by Api.resolve():
        self.eff = None           # effective version range
        self.eff_nullable = None
        self.eff_tagged = None
        self.struct = None        # the Struct this field's type names

    @property
    def is_struct(self):
        return self.type not in PRIMITIVES


class Struct:
    def __init__(self, name, fields, where):
        self.name = name
        self.fields = fields
        self.where = where


class Message:
    def __init__(self, kind):
        self.kind = kind  # "request" or "response"
        self.fields = []


class Api:
    def __init__(self, path):
        self.path = path
        self.name = None
        self.key = None
        self.valid = None
        self.flexible = None
        self.request = Message("request")
        self.response = Message("response")
        self.common = {}   # name -> Struct (top-level 'struct' blocks)

    # -- resolution -----------------------------------------------------
    def resolve(self):
        for msg in (self.request, self.response):
            self._resolve_fields(msg.fields, self.valid, msg.kind)
            msg.structs = {}  # every struct type used, children before parents
            _collect_structs(msg.fields, msg.structs, msg.kind)

    def _resolve_fields(self, fields, parent, ctx):
        seen_tags = set()
        for f in fields:
            f.eff = intersect(f.versions or parent, parent)
            if f.eff is None:
                raise SchemaError(f"{f.where}: field {f.name} exists in no version")
            if f.nullable_all:
                f.eff_nullable = f.eff
            elif f.nullable is not None:
                f.eff_nullable = intersect(f.nullable, f.eff)
            if f.tag is not None:
                f.eff_tagged = intersect(f.tagged or f.eff, f.eff)
                if f.tag in seen_tags:
                    raise SchemaError(f"{f.where}: tag {f.tag} used twice in {ctx}")
                seen_tags.add(f.tag)
                if self.flexible is None or f.eff_tagged[0] < self.flexible:
                    raise SchemaError(f"{f.where}: tagged field {f.name} outside flexible versions")
            if f.type == "records" and f.is_array:
                raise SchemaError(f"{f.where}: []records is not a type")
            if f.is_struct:
                if f.fields:
                    if f.type in self.common:
                        raise SchemaError(f"{f.where}: {f.type} is also a common struct")
                    st = Struct(f.type, f.fields, f.where)
                    self._resolve_fields(f.fields, f.eff, ctx)
                else:
                    st = self.common.get(f.type)
                    if st is None:
                        raise SchemaError(f"{f.where}: unknown type {f.type} (no fields and no struct)")
                    if not getattr(st, "resolved", False):
                        # Common structs stand alone: their versions are absolute.
                        st.resolved = True
                        self._resolve_fields(st.fields, self.valid, ctx)
                    f.fields = st.fields
                f.struct = st
            elif f.fields:
                raise SchemaError(f"{f.where}: primitive field {f.name} has children")


def _collect_structs(fields, out, ctx):
    for f in fields:
        if f.struct is None:
            continue
        _collect_structs(f.struct.fields, out, ctx)
        if out.setdefault(f.type, f.struct) is not f.struct:
            raise SchemaError(f"{f.where}: struct name {f.type} defined twice in the {ctx}")


_FIELD_RE = re.compile(r"([a-z][a-z0-9_]*)\s+(\[\]\w+|\w+)(.*)")
_NAME_RE = re.compile(r"[A-Z][A-Za-z0-9]*")


def parse_file(path):
    with open(path, encoding="utf-8") as fh:
        return parse_text(fh.read(), path)


def parse_text(text, path="<text>"):
    api = Api(path)
    # Stack of (indent, field list) from the block's root to the current
    # depth; a 'request', 'response' or 'struct' line starts a new stack.
    stack = None
    last_field = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{lineno}"
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if "\t" in raw[:indent + 1]:
            raise SchemaError(f"{where}: use spaces, not tabs")
        words = line.split()
        if indent == 0:
            last_field = None
            if words[0] == "api":
                _parse_api_line(api, words, where)
                stack = None
            elif words[0] in ("request", "response") and len(words) == 1:
                stack = [(None, getattr(api, words[0]).fields)]
            elif words[0] == "struct" and len(words) == 2 and _NAME_RE.fullmatch(words[1]):
                st = Struct(words[1], [], where)
                if words[1] in api.common:
                    raise SchemaError(f"{where}: struct {words[1]} defined twice")
                api.common[words[1]] = st
                stack = [(None, st.fields)]
            else:
                raise SchemaError(f"{where}: expected 'api', 'request', 'response' or 'struct NAME'")
            continue
        if stack is None:
            raise SchemaError(f"{where}: field outside a request, response or struct block")
        if stack[0][0] is None:
            stack[0] = (indent, stack[0][1])
        while len(stack) > 1 and indent < stack[-1][0]:
            stack.pop()
        if indent > stack[-1][0]:
            # A deeper line opens the children of the previous field.
            if last_field is None or not last_field.is_struct or last_field.fields:
                raise SchemaError(f"{where}: indented line is not under a struct-typed field")
            stack.append((indent, last_field.fields))
        elif indent != stack[-1][0]:
            raise SchemaError(f"{where}: bad indentation")
        last_field = _parse_field(line.strip(), where)
        stack[-1][1].append(last_field)
    if api.name is None:
        raise SchemaError(f"{path}: no 'api' line")
    api.resolve()
    return api


def _parse_api_line(api, words, where):
    # api NAME key=N versions=vA-B flexible=vC+|none
    if len(words) < 2 or not _NAME_RE.fullmatch(words[1]):
        raise SchemaError(f"{where}: want 'api Name key=N versions=v0-3 flexible=v2+'")
    api.name = words[1]
    for w in words[2:]:
        k, _, v = w.partition("=")
        if k == "key":
            api.key = int(v)
        elif k == "versions":
            api.valid = parse_range(v, where)
        elif k == "flexible":
            r = parse_range(v, where)
            api.flexible = None if r is None else r[0]
        else:
            raise SchemaError(f"{where}: unknown api attribute {w!r}")
    if api.key is None or api.valid is None:
        raise SchemaError(f"{where}: api line needs key= and versions=")
    if api.valid[1] == OPEN_END:
        raise SchemaError(f"{where}: an api's versions need an upper bound")


def _parse_field(text, where):
    m = _FIELD_RE.fullmatch(text)
    if not m:
        raise SchemaError(f"{where}: want 'name type [vA-B] [nullable[=vA+]] [tag=N] [tagged=vA+] [default=X]'")
    f = Field(m.group(1), m.group(2), where)
    for tok in m.group(3).split():
        if tok.startswith("v") and tok[1:2].isdigit():
            f.versions = parse_range(tok, where)
        elif tok == "nullable":
            f.nullable_all = True
        elif tok.startswith("nullable="):
            f.nullable = parse_range(tok[len("nullable="):], where)
        elif tok.startswith("tag="):
            f.tag = int(tok[4:])
        elif tok.startswith("tagged="):
            f.tagged = parse_range(tok[len("tagged="):], where)
        elif tok.startswith("default="):
            f.default = tok[len("default="):]
        else:
            raise SchemaError(f"{where}: unknown attribute {tok!r}")
    if f.tagged is not None and f.tag is None:
        raise SchemaError(f"{where}: tagged= without tag=")
    if f.type not in PRIMITIVES and not _NAME_RE.fullmatch(f.type):
        raise SchemaError(f"{where}: unknown type {f.type!r}")
    return f
