"""What a kernel's BTF says it supports: map types, helpers, program and attach types.

The kernel's own ``enum bpf_map_type``, ``enum bpf_func_id``, ``enum bpf_prog_type`` and
``enum bpf_attach_type`` are part of its BTF (they are used by the kernel's code), so the
enumerators present are the ones the running kernel knows. BTF-based attach points are
functions and typedefs of that BTF: ``fentry/do_exit`` needs ``FUNC do_exit``, ``lsm/file_open``
needs ``FUNC bpf_lsm_file_open`` (present only with CONFIG_BPF_LSM), ``tp_btf/sched_switch``
needs ``TYPEDEF btf_trace_sched_switch`` and ``iter/task`` needs ``FUNC bpf_iter_task``.

Pure: reads a parsed :class:`~btfhub_mirror.btf.Btf`, does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from ..btf import types as t
from ..btf.core import ksym_types_compat
from ..btf.names import essential_name
from ..btf.parse import Btf
from ..btf.wire import Kind

MAP_TYPE_ENUM = "bpf_map_type"
HELPER_ENUM = "bpf_func_id"
PROG_TYPE_ENUM = "bpf_prog_type"
ATTACH_TYPE_ENUM = "bpf_attach_type"

#: Attach types implemented with BPF trampolines (kernel/bpf/trampoline.c).
TRAMPOLINE_ATTACH_TYPES = frozenset(
    {"BPF_TRACE_FENTRY", "BPF_TRACE_FEXIT", "BPF_MODIFY_RETURN", "BPF_LSM_MAC", "BPF_LSM_CGROUP"}
)
TRAMPOLINE_STRUCT = "bpf_trampoline"

#: Enumerators that count the others (``__MAX_BPF_MAP_TYPE``, ``__BPF_FUNC_MAX_ID``).
_SENTINEL_PREFIX = "__"


def ids_named(btf: Btf, name: str) -> list[int]:
    """Ids of the types called exactly ``name``, through the essential-name lookup that the
    saved per-kernel index provides (no full name index is built for a handful of names)."""
    return [i for i in btf.ids_by_essential_name(essential_name(name)) if btf.name_of(i) == name]


def enum_values(btf: Btf, name: str) -> dict[int, str] | None:
    """value -> enumerator name of the first ENUM/ENUM64 called ``name``; None when absent.

    Counting sentinels (``__MAX_...``) and ``*_UNSPEC``/``BPF_FUNC_unspec`` are left out: they
    are no feature.
    """
    for type_id in ids_named(btf, name):
        if btf.kind(type_id) not in (Kind.ENUM, Kind.ENUM64):
            continue
        enum = btf.type(type_id)
        assert isinstance(enum, (t.Enum, t.Enum64))
        return {
            v.value: v.name
            for v in enum.values
            if not v.name.startswith(_SENTINEL_PREFIX) and not v.name.lower().endswith("unspec")
        }
    return None


class KernelFeatures:
    """The BPF features one kernel BTF shows; each enum is read on first use."""

    def __init__(self, btf: Btf):
        self.btf = btf

    @cached_property
    def map_types(self) -> dict[int, str] | None:
        return enum_values(self.btf, MAP_TYPE_ENUM)

    @cached_property
    def helpers(self) -> dict[int, str] | None:
        return enum_values(self.btf, HELPER_ENUM)

    @cached_property
    def prog_types(self) -> frozenset[str] | None:
        values = enum_values(self.btf, PROG_TYPE_ENUM)
        return None if values is None else frozenset(values.values())

    @cached_property
    def attach_types(self) -> frozenset[str] | None:
        values = enum_values(self.btf, ATTACH_TYPE_ENUM)
        return None if values is None else frozenset(values.values())

    def has(self, kind: Kind, name: str) -> bool:
        """Whether the BTF holds a type of ``kind`` called ``name``."""
        return any(self.btf.kind(i) == kind for i in ids_named(self.btf, name))


# -- program types from section names (libbpf's section_defs) -----------------------------


@dataclass(frozen=True, slots=True)
class SectionRule:
    """Programs in sections named ``prefix`` or ``prefix/...`` (or starting with ``prefix``
    when ``glob``) are of ``prog_type``; ``attach_type`` is required when set; a BTF-based
    attach needs the type ``target_kind`` named ``target_format.format(<rest of the name>)``.
    """

    prefix: str
    prog_type: str
    attach_type: str | None = None
    target_kind: Kind | None = None
    target_format: str = "{}"
    glob: bool = False

    @property
    def needs_trampoline(self) -> bool:
        return self.attach_type in TRAMPOLINE_ATTACH_TYPES

    def matches(self, section: str) -> bool:
        if self.glob:
            return section.startswith(self.prefix)
        return section == self.prefix or section.startswith(self.prefix + "/")

    def target(self, section: str) -> str | None:
        """The BTF name the attach point needs (``bpf_lsm_file_open``), None if none."""
        if self.target_kind is None:
            return None
        rest = section[len(self.prefix) :].lstrip("/")
        return self.target_format.format(rest) if rest else None


def _rules() -> tuple[SectionRule, ...]:
    kp, tr = "BPF_PROG_TYPE_KPROBE", "BPF_PROG_TYPE_TRACING"
    rules = [
        # Longer prefixes first: "kprobe.multi" before "kprobe", "raw_tp.w" before "raw_tp".
        SectionRule("kprobe.multi", kp, "BPF_TRACE_KPROBE_MULTI"),
        SectionRule("kretprobe.multi", kp, "BPF_TRACE_KPROBE_MULTI"),
        SectionRule("kprobe.session", kp, "BPF_TRACE_KPROBE_SESSION"),
        SectionRule("uprobe.multi", kp, "BPF_TRACE_UPROBE_MULTI"),
        SectionRule("uretprobe.multi", kp, "BPF_TRACE_UPROBE_MULTI"),
        SectionRule("uprobe.multi.s", kp, "BPF_TRACE_UPROBE_MULTI"),
        SectionRule("uretprobe.multi.s", kp, "BPF_TRACE_UPROBE_MULTI"),
        *(
            SectionRule(p, kp)
            for p in (
                "kprobe",
                "kretprobe",
                "ksyscall",
                "kretsyscall",
                "uprobe",
                "uretprobe",
                "uprobe.s",
                "uretprobe.s",
                "usdt",
            )
        ),
        SectionRule("tracepoint", "BPF_PROG_TYPE_TRACEPOINT"),
        SectionRule("tp", "BPF_PROG_TYPE_TRACEPOINT"),
        SectionRule("raw_tracepoint.w", "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE"),
        SectionRule("raw_tp.w", "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE"),
        SectionRule("raw_tracepoint", "BPF_PROG_TYPE_RAW_TRACEPOINT"),
        SectionRule("raw_tp", "BPF_PROG_TYPE_RAW_TRACEPOINT"),
        SectionRule("tp_btf", tr, "BPF_TRACE_RAW_TP", Kind.TYPEDEF, "btf_trace_{}"),
        *(
            SectionRule(p, tr, a, Kind.FUNC)
            for p, a in (
                ("fentry", "BPF_TRACE_FENTRY"),
                ("fentry.s", "BPF_TRACE_FENTRY"),
                ("fexit", "BPF_TRACE_FEXIT"),
                ("fexit.s", "BPF_TRACE_FEXIT"),
                ("fmod_ret", "BPF_MODIFY_RETURN"),
                ("fmod_ret.s", "BPF_MODIFY_RETURN"),
            )
        ),
        SectionRule("iter", tr, "BPF_TRACE_ITER", Kind.FUNC, "bpf_iter_{}"),
        SectionRule("iter.s", tr, "BPF_TRACE_ITER", Kind.FUNC, "bpf_iter_{}"),
        SectionRule("lsm_cgroup", "BPF_PROG_TYPE_LSM", "BPF_LSM_CGROUP", Kind.FUNC, "bpf_lsm_{}"),
        SectionRule("lsm", "BPF_PROG_TYPE_LSM", "BPF_LSM_MAC", Kind.FUNC, "bpf_lsm_{}"),
        SectionRule("lsm.s", "BPF_PROG_TYPE_LSM", "BPF_LSM_MAC", Kind.FUNC, "bpf_lsm_{}"),
        SectionRule("freplace", "BPF_PROG_TYPE_EXT"),
        SectionRule("struct_ops", "BPF_PROG_TYPE_STRUCT_OPS"),
        SectionRule("struct_ops.s", "BPF_PROG_TYPE_STRUCT_OPS"),
        SectionRule("syscall", "BPF_PROG_TYPE_SYSCALL"),
        SectionRule("perf_event", "BPF_PROG_TYPE_PERF_EVENT"),
        SectionRule("xdp.frags", "BPF_PROG_TYPE_XDP"),
        SectionRule("xdp", "BPF_PROG_TYPE_XDP"),
        SectionRule("tcx", "BPF_PROG_TYPE_SCHED_CLS", "BPF_TCX_INGRESS"),
        SectionRule("netkit", "BPF_PROG_TYPE_SCHED_CLS", "BPF_NETKIT_PRIMARY"),
        SectionRule("tc", "BPF_PROG_TYPE_SCHED_CLS"),
        SectionRule("classifier", "BPF_PROG_TYPE_SCHED_CLS"),
        SectionRule("action", "BPF_PROG_TYPE_SCHED_ACT"),
        SectionRule("socket", "BPF_PROG_TYPE_SOCKET_FILTER"),
        SectionRule("sk_reuseport", "BPF_PROG_TYPE_SK_REUSEPORT"),
        SectionRule("sk_skb", "BPF_PROG_TYPE_SK_SKB"),
        SectionRule("sk_msg", "BPF_PROG_TYPE_SK_MSG"),
        SectionRule("sk_lookup", "BPF_PROG_TYPE_SK_LOOKUP"),
        SectionRule("sockops", "BPF_PROG_TYPE_SOCK_OPS"),
        SectionRule("flow_dissector", "BPF_PROG_TYPE_FLOW_DISSECTOR"),
        SectionRule("lirc_mode2", "BPF_PROG_TYPE_LIRC_MODE2"),
        SectionRule("netfilter", "BPF_PROG_TYPE_NETFILTER"),
        SectionRule("cgroup_skb", "BPF_PROG_TYPE_CGROUP_SKB"),
        SectionRule("cgroup/skb", "BPF_PROG_TYPE_CGROUP_SKB"),
        SectionRule("cgroup/dev", "BPF_PROG_TYPE_CGROUP_DEVICE"),
        SectionRule("cgroup/sysctl", "BPF_PROG_TYPE_CGROUP_SYSCTL"),
        SectionRule("cgroup/getsockopt", "BPF_PROG_TYPE_CGROUP_SOCKOPT"),
        SectionRule("cgroup/setsockopt", "BPF_PROG_TYPE_CGROUP_SOCKOPT"),
        *(
            SectionRule(f"cgroup/{p}", "BPF_PROG_TYPE_CGROUP_SOCK_ADDR", glob=True)
            for p in (
                "bind",
                "connect",
                "sendmsg",
                "recvmsg",
                "getpeername",
                "getsockname",
            )
        ),
        SectionRule("cgroup/sock", "BPF_PROG_TYPE_CGROUP_SOCK", glob=True),
        SectionRule("cgroup/post_bind", "BPF_PROG_TYPE_CGROUP_SOCK", glob=True),
        *(
            SectionRule(p, f"BPF_PROG_TYPE_{p.upper()}")
            for p in (
                "lwt_in",
                "lwt_out",
                "lwt_xmit",
                "lwt_seg6local",
            )
        ),
    ]
    # Most specific first, so "kprobe.multi/x" never falls to "kprobe".
    return tuple(sorted(rules, key=lambda r: -len(r.prefix)))


SECTION_RULES = _rules()


def section_rule(section: str) -> SectionRule | None:
    """The rule libbpf would use for a program in ``section``; None when unknown."""
    return next((rule for rule in SECTION_RULES if rule.matches(section)), None)


@dataclass(frozen=True, slots=True)
class KsymResolution:
    """How libbpf 1.1 resolves one ``__ksym`` extern against a kernel's BTF
    (``bpf_object__resolve_ksym_func_btf_id`` / ``..._var_btf_id``)."""

    found: bool
    compatible: bool = False
    kernel_id: int = 0
    kernel_type_id: int = 0  # the kernel FUNC's proto, or the VAR's type


def resolve_ksym(
    local: Btf, name: str, is_func: bool, local_type_id: int, kernel: Btf
) -> KsymResolution:
    """Find the first FUNC (or VAR) called exactly ``name`` in ``kernel`` (libbpf's
    ``btf__find_by_name_kind``) and check its type against the object's. Kernel modules'
    BTF, where libbpf looks next, is not in btfhub archives."""
    kind = Kind.FUNC if is_func else Kind.VAR
    found = next((i for i in ids_named(kernel, name) if kernel.kind(i) == kind), None)
    if found is None:
        return KsymResolution(False)
    typ = kernel.type(found)
    assert isinstance(typ, (t.Func, t.Var))
    compatible = ksym_types_compat(
        local, local_type_id, kernel, typ.type_id, skip_target_mods=not is_func
    )
    return KsymResolution(True, compatible, found, typ.type_id)
