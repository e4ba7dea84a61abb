"""Text and JSON dumps of BTF, in the exact form of ``bpftool btf dump file`` (bpftool 7.1,
``src/btf.c`` ``dump_btf_type``), so the two can be compared line for line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from . import types as t
from .parse import Btf
from .wire import INT_BOOL, INT_CHAR, INT_SIGNED, Kind

_INT_ENCODING = {0: "(none)", INT_SIGNED: "SIGNED", INT_CHAR: "CHAR", INT_BOOL: "BOOL"}
_FUNC_LINKAGE = {0: "static", 1: "global", 2: "extern"}
_VAR_LINKAGE = {0: "static", 1: "global", 2: "extern"}


def _kind_name(kind: Kind) -> str:
    return "UNKNOWN" if kind == Kind.UNKN else kind.name


def _name(name: str) -> str:
    # bpftool's btf_str(): offset 0 prints "(anon)".
    return name if name else "(anon)"


def _u16(vlen: int) -> int:
    # bpftool 7.1 holds vlen in a __u16.
    return vlen & 0xFFFF


def format_type(btf: Btf, type_id: int, typ: t.Type) -> str:
    """One type as bpftool prints it (members on following tab-indented lines)."""
    head = f"[{type_id}] {_kind_name(typ.kind)} '{_name(typ.name)}'"
    match typ:
        case t.Int():
            enc = _INT_ENCODING.get(typ.encoding, "UNKN")
            return (
                f"{head} size={typ.size} bits_offset={typ.bit_offset} nr_bits={typ.bits} "
                f"encoding={enc}"
            )
        case t.Pointer() | t.Const() | t.Volatile() | t.Restrict() | t.Typedef() | t.TypeTag():
            return f"{head} type_id={typ.type_id}"
        case t.Array():
            return (
                f"{head} type_id={typ.type_id} index_type_id={typ.index_type_id} "
                f"nr_elems={typ.nelems}"
            )
        case t.Struct() | t.Union():
            lines = [f"{head} size={typ.size} vlen={_u16(len(typ.members))}"]
            for m in typ.members:
                line = f"\t'{_name(m.name)}' type_id={m.type_id} bits_offset={m.bit_offset}"
                if m.bitfield_size:
                    line += f" bitfield_size={m.bitfield_size}"
                lines.append(line)
            return "\n".join(lines)
        case t.Enum() | t.Enum64():
            enc = "SIGNED" if typ.kind_flag else "UNSIGNED"
            lines = [f"{head} encoding={enc} size={typ.size} vlen={_u16(len(typ.values))}"]
            is64 = isinstance(typ, t.Enum64)
            suffix = ("LL" if typ.kind_flag else "ULL") if is64 else ""
            lines.extend(f"\t'{_name(v.name)}' val={v.value}{suffix}" for v in typ.values)
            return "\n".join(lines)
        case t.Fwd():
            return f"{head} fwd_kind={'union' if typ.kind_flag else 'struct'}"
        case t.Func():
            linkage = _FUNC_LINKAGE.get(typ.linkage, "(unknown)")
            return f"{head} type_id={typ.type_id} linkage={linkage}"
        case t.FuncProto():
            lines = [f"{head} ret_type_id={typ.return_type_id} vlen={_u16(len(typ.params))}"]
            lines.extend(f"\t'{_name(p.name)}' type_id={p.type_id}" for p in typ.params)
            return "\n".join(lines)
        case t.Var():
            linkage = _VAR_LINKAGE.get(typ.linkage, "(unknown)")
            return f"{head} type_id={typ.type_id}, linkage={linkage}"
        case t.Datasec():
            lines = [f"{head} size={typ.size} vlen={_u16(len(typ.vars))}"]
            for v in typ.vars:
                line = f"\ttype_id={v.type_id} offset={v.offset} size={v.size}"
                if v.type_id < btf.type_count:
                    target = btf.type(v.type_id)
                    line += f" ({_kind_name(target.kind)} '{_name(target.name)}')"
                lines.append(line)
            return "\n".join(lines)
        case t.Float():
            return f"{head} size={typ.size}"
        case t.DeclTag():
            return f"{head} type_id={typ.type_id} component_idx={typ.component_idx}"
        case t.Void():
            return head
        case _:
            t.assert_never(typ)


def dump_raw(btf: Btf) -> Iterator[str]:
    """Lines of ``bpftool btf dump file`` output (without trailing newlines)."""
    for type_id, typ in btf.types():
        yield format_type(btf, type_id, typ)


def type_to_json(btf: Btf, type_id: int, typ: t.Type) -> dict[str, Any]:
    """One type in the shape of ``bpftool -j btf dump file``'s objects."""
    out: dict[str, Any] = {"id": type_id, "kind": _kind_name(typ.kind), "name": _name(typ.name)}
    match typ:
        case t.Int():
            out |= {
                "size": typ.size,
                "bits_offset": typ.bit_offset,
                "nr_bits": typ.bits,
                "encoding": _INT_ENCODING.get(typ.encoding, "UNKN"),
            }
        case t.Pointer() | t.Const() | t.Volatile() | t.Restrict() | t.Typedef() | t.TypeTag():
            out["type_id"] = typ.type_id
        case t.Array():
            out |= {
                "type_id": typ.type_id,
                "index_type_id": typ.index_type_id,
                "nr_elems": typ.nelems,
            }
        case t.Struct() | t.Union():
            members = []
            for m in typ.members:
                entry: dict[str, Any] = {
                    "name": _name(m.name),
                    "type_id": m.type_id,
                    "bits_offset": m.bit_offset,
                }
                if m.bitfield_size:
                    entry["bitfield_size"] = m.bitfield_size
                members.append(entry)
            out |= {"size": typ.size, "vlen": _u16(len(typ.members)), "members": members}
        case t.Enum() | t.Enum64():
            out |= {
                "encoding": "SIGNED" if typ.kind_flag else "UNSIGNED",
                "size": typ.size,
                "vlen": _u16(len(typ.values)),
                "values": [{"name": _name(v.name), "val": v.value} for v in typ.values],
            }
        case t.Fwd():
            out["fwd_kind"] = "union" if typ.kind_flag else "struct"
        case t.Func():
            out |= {"type_id": typ.type_id, "linkage": _FUNC_LINKAGE.get(typ.linkage, "(unknown)")}
        case t.FuncProto():
            out |= {
                "ret_type_id": typ.return_type_id,
                "vlen": _u16(len(typ.params)),
                "params": [{"name": _name(p.name), "type_id": p.type_id} for p in typ.params],
            }
        case t.Var():
            out |= {"type_id": typ.type_id, "linkage": _VAR_LINKAGE.get(typ.linkage, "(unknown)")}
        case t.Datasec():
            out |= {
                "size": typ.size,
                "vlen": _u16(len(typ.vars)),
                "vars": [
                    {"type_id": v.type_id, "offset": v.offset, "size": v.size} for v in typ.vars
                ],
            }
        case t.Float():
            out["size"] = typ.size
        case t.DeclTag():
            out |= {"type_id": typ.type_id, "component_idx": typ.component_idx}
        case t.Void():
            pass
        case _:
            t.assert_never(typ)
    return out


def dump_json(btf: Btf) -> dict[str, Any]:
    """``{"types": [...]}`` as ``bpftool -j btf dump file`` prints it."""
    return {"types": [type_to_json(btf, type_id, typ) for type_id, typ in btf.types()]}
